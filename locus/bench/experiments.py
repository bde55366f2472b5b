"""The paper's experiments on our data, each writing JSON and a PNG plot:
sample efficiency, query overlap, embedding stability and latent count."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from locus.bench.plots import line_panels
from locus.bench.quality import run_method
from locus.data import QuerySplit, load_evaluation_set, split_queries
from locus.embedding import embed_models, predict_matrix
from locus.heldout import checkpoint_data
from locus.metrics import correctness_accuracy, distance_matrix, quality_report, routing_accuracy
from locus.model import ModelShape
from locus.store import Store
from locus.training import TrainConfig
from locus.training.loop import Trainer

Log = Callable[[str], None]


def _write(out_dir: Path, name: str, results: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(results, indent=2))
    return path


def evaluations_to_match(budgets: list[int], values: list[float], target: float) -> float | None:
    """Evaluations a method needs to reach `target`, interpolating log-linearly between budgets."""
    for i, value in enumerate(values):
        if value >= target:
            if i == 0:
                return float(budgets[0])
            lo, hi = np.log(budgets[i - 1]), np.log(budgets[i])
            frac = (target - values[i - 1]) / (value - values[i - 1])
            return float(np.exp(lo + frac * (hi - lo)))
    return None


def sample_efficiency(store: Store, out_dir: Path, *, encoder: str, budgets: list[int], seed: int = 0,
                      methods: tuple[str, ...] = ("locus", "mf", "irt"), config: TrainConfig | None = None,
                      log: Log = print) -> dict:
    """Routing and correctness accuracy vs evaluations per model, and how many more evaluations
    each baseline needs to match LOCUS's correctness accuracy."""
    config = config or TrainConfig()
    data = load_evaluation_set(store, encoder)
    split = split_queries(data.query_ids, seed, method="permutation")
    most = min(len(i) for i in data.restrict(split.train).query_index)
    budgets = [b for b in budgets if b <= most] or [most]
    test = data.dense(split.test)
    results: dict = {"budgets": budgets, "methods": {}}
    for method in methods:
        rows = []
        for budget in budgets:
            probs, trainer = run_method(method, data, split, budget, seed, config, log)
            route = trainer.route_scores(probs) if trainer else probs
            rows.append({"routing_acc": routing_accuracy(route, test),
                         "correctness_acc": correctness_accuracy(probs, test)})
            log(f"{method:<6} budget {budget:>5}: {rows[-1]}")
        results["methods"][method] = rows
    if "locus" in methods:
        results["factor_to_match_locus"] = {}
        for method in (m for m in methods if m != "locus"):
            curve = [r["correctness_acc"] for r in results["methods"][method]]
            factors = {}
            for budget, row in zip(budgets, results["methods"]["locus"], strict=True):
                needed = evaluations_to_match(budgets, curve, row["correctness_acc"])
                factors[str(budget)] = None if needed is None else needed / budget
            results["factor_to_match_locus"][method] = factors
    _write(out_dir, "sample_efficiency", results)
    line_panels(out_dir / "sample_efficiency.png", budgets,
                {metric: {m: [r[metric] for r in rows] for m, rows in results["methods"].items()}
                 for metric in ("routing_acc", "correctness_acc")},
                xlabel="evaluations per model", title="sample efficiency", logx=True)
    return results


def query_overlap(store: Store, out_dir: Path, *, version: str = "latest", size: int = 256,
                  fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0), seed: int = 0, log: Log = print) -> dict:
    """Embed every model from `size` training evaluations of which a fraction comes from one shared
    reference query set and the rest from elsewhere; test correctness should not depend on it."""
    checkpoint, data, split = checkpoint_data(store, version)
    train = data.restrict(split.train)
    rng = np.random.default_rng(seed)
    reference = set(rng.choice(split.train, size=size, replace=False).tolist())
    test = data.dense(split.test)
    rows = []
    for fraction in fractions:
        index, scores = [], []
        for qi, sc in zip(train.query_index, train.scores, strict=True):
            in_ref = np.fromiter((q in reference for q in qi), dtype=bool, count=len(qi))
            ref, other = rng.permutation(np.flatnonzero(in_ref)), rng.permutation(np.flatnonzero(~in_ref))
            n_ref = min(int(round(fraction * size)), len(ref))
            pick = np.concatenate([ref[:n_ref], other[:size - n_ref]])
            index.append(qi[pick])
            scores.append(sc[pick])
        z = embed_models(checkpoint.model, data.phi, index, scores)
        report = quality_report(predict_matrix(checkpoint.model, z, data.phi[split.test]), test)
        rows.append({"overlap": fraction, "correctness_acc": report["correctness_acc"],
                     "routing_acc": report["routing_acc"]})
        log(f"overlap {fraction:.2f}: {rows[-1]}")
    values = [r["correctness_acc"] for r in rows]
    results = {"version": checkpoint.version, "size": size, "rows": rows,
               "correctness_spread": float(max(values) - min(values))}
    _write(out_dir, "query_overlap", results)
    line_panels(out_dir / "query_overlap.png", list(fractions),
                {"correctness_acc": {"LOCUS": values}, "routing_acc": {"LOCUS": [r["routing_acc"] for r in rows]}},
                xlabel="fraction of evaluations from the reference query set", title="query overlap")
    return results


def mutual_nearest(first: np.ndarray, second: np.ndarray) -> float:
    """Share of models whose two representations (row k of `first` and of `second`) are closer to
    each other than either is to any other model's, in either set."""
    z = np.concatenate([first, second])
    m = len(first)
    dist = distance_matrix(z)
    own = dist[np.arange(m), np.arange(m) + m]
    np.fill_diagonal(dist, np.inf)
    dist[np.arange(m), np.arange(m) + m] = dist[np.arange(m) + m, np.arange(m)] = np.inf
    nearest_other = np.minimum(dist[:m].min(axis=1), dist[m:].min(axis=1))
    return float(np.mean(own < nearest_other))


def _references(phi: np.ndarray, reference: np.ndarray, index: list[np.ndarray],
                scores: list[np.ndarray], k: int = 20) -> dict[str, np.ndarray]:
    """Representations that need no training, for scale: the success rate alone, and the kNN
    profile (the mean score of the model's k evaluations nearest to each reference query)."""
    unit = phi / np.maximum(np.linalg.norm(phi, axis=1, keepdims=True), 1e-12)
    profiles = []
    for qi, sc in zip(index, scores, strict=True):
        sims = unit[reference] @ unit[qi].T
        top = np.argpartition(-sims, min(k, len(qi)) - 1, axis=1)[:, :k]
        profiles.append(sc[top].mean(axis=1))
    return {"success rate": np.array([[s.mean()] for s in scores]), "kNN profile": np.array(profiles)}


def stability(store: Store, out_dir: Path, *, version: str = "latest", sizes: tuple[int, ...] = (32, 64, 128, 256,
              512, 1024), seed: int = 0, log: Log = print) -> dict:
    """Embed each model twice from disjoint evaluation sets of one size; count the models whose two
    embeddings are closer to each other than either is to any other model's embedding. The same
    count for the success rate and a kNN profile on 256 validation queries says how far the pool's
    models can be told apart from that many evaluations at all."""
    checkpoint, data, split = checkpoint_data(store, version)
    train = data.restrict(split.train)
    rng = np.random.default_rng(seed)
    reference = rng.choice(split.validation, size=min(256, len(split.validation)), replace=False)
    rows = []
    for size in sizes:
        halves: list[tuple[list, list]] = [([], []), ([], [])]
        for qi, sc in zip(train.query_index, train.scores, strict=True):
            perm = rng.permutation(len(qi))
            for half, part in zip(halves, (perm[:size], perm[size:2 * size]), strict=True):
                half[0].append(qi[part])
                half[1].append(sc[part])
        z = [embed_models(checkpoint.model, data.phi, i, s) for i, s in halves]
        own = np.linalg.norm(z[0] - z[1], axis=1)
        refs = [_references(data.phi, reference, i, s) for i, s in halves]
        rows.append({"size": size, "fraction_stable": mutual_nearest(*z), "mean_self_distance": float(own.mean()),
                     "references": {name: mutual_nearest(refs[0][name], refs[1][name]) for name in refs[0]}})
        log(f"size {size:>5}: {rows[-1]}")
    results = {"version": checkpoint.version, "models": len(train.model_ids), "rows": rows}
    _write(out_dir, "stability", results)
    curves = {"LOCUS": [r["fraction_stable"] for r in rows]}
    curves |= {name: [r["references"][name] for r in rows] for name in rows[0]["references"]}
    line_panels(out_dir / "stability.png", list(sizes), {"fraction of models mutually nearest": curves},
                xlabel="evaluations per embedding (two disjoint sets)", title="embedding stability", logx=True)
    return results


def latent_count(store: Store, out_dir: Path, *, encoder: str, counts: tuple[int, ...] = (16, 32, 64, 128),
                 seed: int = 0, config: TrainConfig | None = None, log: Log = print) -> dict:
    """Routing accuracy and embedding time of the whole pool for each number of latents r."""
    config = (config or TrainConfig()).model_copy(update={"seed": seed, "split_seed": seed, "split": "permutation"})
    data = load_evaluation_set(store, encoder)
    split: QuerySplit = split_queries(data.query_ids, seed, method="permutation")
    test = data.dense(split.test)
    rows = []
    for r in counts:
        trainer = Trainer(data, split, ModelShape(num_latents=r), config)
        trainer.fit()
        start = time.perf_counter()
        z = trainer.embed_train()
        embed_s = time.perf_counter() - start
        probs = predict_matrix(trainer.model, z, data.phi[split.test])
        report = quality_report(probs, test, route=trainer.route_scores(probs))
        rows.append({"num_latents": r, "routing_acc": report["routing_acc"],
                     "correctness_acc": report["correctness_acc"], "embed_seconds": embed_s,
                     "train_evaluations": trainer.train_data.num_evaluations})
        log(f"r={r:>4}: {rows[-1]}")
    results = {"rows": rows}
    _write(out_dir, "latent_count", results)
    line_panels(out_dir / "latent_count.png", list(counts),
                {"routing_acc": {"LOCUS": [r["routing_acc"] for r in rows]},
                 "embedding seconds (whole pool)": {"LOCUS": [r["embed_seconds"] for r in rows]}},
                xlabel="latents r", title="latent count", logx=True)
    return results


