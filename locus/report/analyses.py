"""The numbers behind the report, each from a held-out view of a version (no retraining)."""

from __future__ import annotations

import json
import time

import numpy as np

from locus.baselines import BASELINES
from locus.data import EvaluationSet
from locus.embedding import embed_models, predict_matrix
from locus.heldout import HeldOut
from locus.metrics import correctness_accuracy, oracle_accuracy, routing_accuracy, single_best_accuracy
from locus.portfolio import METHODS, measured_routing, select


def accuracy_vs_evaluations(held: HeldOut, sizes: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024),
                            seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """Test correctness and routing accuracy when every model is embedded from n random training
    evaluations (mean and std over seeds); the last point uses them all."""
    train = held.data.restrict(held.split.train)
    most = max(len(i) for i in train.query_index)
    sizes = [s for s in sizes if s < most] + [most]
    test_phi = held.data.phi[held.split.test]
    rows = {"correctness_acc": np.zeros((len(seeds), len(sizes))), "routing_acc": np.zeros((len(seeds), len(sizes)))}
    for si, seed in enumerate(seeds):
        for ni, n in enumerate(sizes):
            subset = train.subsample(n, seed)
            z = embed_models(held.checkpoint.model, held.data.phi, subset.query_index, subset.scores)
            probs = predict_matrix(held.checkpoint.model, z, test_phi)
            rows["correctness_acc"][si, ni] = correctness_accuracy(probs, held.scores)
            rows["routing_acc"][si, ni] = routing_accuracy(probs, held.scores)
    return {"sizes": sizes, **{k: {"mean": v.mean(axis=0).tolist(), "std": v.std(axis=0).tolist()}
                               for k, v in rows.items()}}


def portfolio_curve(held: HeldOut, ks: list[int] | None = None, draws: int = 20) -> dict:
    """Measured test routing accuracy of each method's portfolio of k models, and of random ones."""
    n = len(held.model_ids)
    ks = ks or sorted({k for k in (1, 2, 3, 4, 5, 6, 8, 10, 15, 20) if k <= n} | {n})
    probs_qm = held.probs.T
    curve: dict = {"k": ks, **{m: [] for m in METHODS}, "random_mean": [], "random_std": []}
    for k in ks:
        for method in METHODS:
            chosen = select(method, held.z, probs_qm, k=k)
            curve[method].append(routing_accuracy(held.probs[chosen], held.scores[chosen]))
        measured = measured_routing(held.probs, held.scores, list(range(k)), random_draws=draws)
        curve["random_mean"].append(measured["random_mean"])
        curve["random_std"].append(measured["random_std"])
    return curve


def _group(metadata: str | None, benchmark: str | None) -> str:
    """A query's benchmark, refined by its category when the benchmark has one (MMLU-Pro)."""
    try:
        category = json.loads(metadata).get("category") if metadata else None
    except (ValueError, AttributeError):
        category = None
    return f"{benchmark or 'unknown'}/{category}" if category else (benchmark or "unknown")


def routing_by_benchmark(held: HeldOut, queries) -> list[dict]:
    """Test routing accuracy per benchmark (or category): LOCUS, the single best model overall, oracle."""
    table = queries.to_pydict()
    groups = {q: _group(m, b) for q, m, b in zip(table["query_id"], table["metadata"], table["benchmark"],
                                                 strict=True)}
    test_ids = [held.data.query_ids[q] for q in held.split.test]
    train_scores = held.data.dense(held.split.train)
    labels = np.array([groups.get(q, "unknown") for q in test_ids])
    rows = []
    for group in sorted(set(labels)) + ["all"]:
        cols = np.ones(len(labels), dtype=bool) if group == "all" else labels == group
        scores, route = held.scores[:, cols], held.route[:, cols]
        rows.append({"group": group, "queries": int(cols.sum()), "locus": routing_accuracy(route, scores),
                     "single_best": single_best_accuracy(train_scores, scores), "oracle": oracle_accuracy(scores)})
    return rows


def _with_budget(train: EvaluationSet, models: list[int], n: int, seed: int) -> EvaluationSet:
    """`train` with only `n` random evaluations left for `models` (the others keep all theirs)."""
    small = train.select_models(models).subsample(n, seed)
    index, scores = list(train.query_index), list(train.scores)
    for m, qi, s in zip(models, small.query_index, small.scores, strict=True):
        index[m], scores[m] = qi, s
    return EvaluationSet(train.encoder, train.model_ids, train.query_ids, train.phi, index, scores)


def onboarding_without_retraining(held: HeldOut, sizes: tuple[int, ...] = (16, 64, 256),
                                  seeds: tuple[int, ...] = (0, 1, 2)) -> dict | None:
    """Models the version never trained on, embedded from n of their evaluations without retraining,
    against matrix factorisation retrained on the pool with those n evaluations included. Test
    correctness accuracy on the new models and the wall time each needed (mean over seeds).
    None when the version trained on every model in the store."""
    trained = set(held.checkpoint.meta.snapshot.models)
    new = [i for i, m in enumerate(held.model_ids) if m not in trained]
    if not new:
        return None
    data, split, model = held.data, held.split, held.checkpoint.model
    train, test_phi, test_scores = data.restrict(split.train), data.phi[split.test], held.scores[new]
    validation = data.dense(split.validation)
    validation[new] = np.nan  # MF early-stops on the pool's validation cells, never on the new models'
    rows = []
    for n in sizes:
        measured = {"locus_acc": [], "locus_s": [], "mf_acc": [], "mf_s": []}
        for seed in seeds:
            budgeted = _with_budget(train, new, n, seed)
            start = time.perf_counter()
            z = embed_models(model, data.phi, [budgeted.query_index[m] for m in new],
                             [budgeted.scores[m] for m in new])
            probs = predict_matrix(model, z, test_phi)
            measured["locus_s"].append(time.perf_counter() - start)
            measured["locus_acc"].append(correctness_accuracy(probs, test_scores))
            start = time.perf_counter()
            router = BASELINES["mf"](seed=seed).fit(budgeted, (split.validation, validation))
            mf_probs = router.predict(split.test)[new]
            measured["mf_s"].append(time.perf_counter() - start)
            measured["mf_acc"].append(correctness_accuracy(mf_probs, test_scores))
        rows.append({"evaluations": n, **{k: float(np.mean(v)) for k, v in measured.items()}})
    return {"models": [held.model_ids[m] for m in new], "seeds": len(seeds), "rows": rows}


def portfolio_picks(held: HeldOut, ks: tuple[int, ...] = (3, 5), method: str = "coverage") -> list[dict]:
    """Portfolios of k models chosen with no new evaluations, and the share of the whole pool's test
    routing accuracy that routing within them keeps (both routed with the version's calibration)."""
    pool, pool_oracle = routing_accuracy(held.route, held.scores), oracle_accuracy(held.scores)
    rows = []
    for k in (k for k in ks if k < len(held.model_ids)):
        chosen = select(method, held.z, held.probs.T, k=k)
        kept = routing_accuracy(held.route[chosen], held.scores[chosen])
        covered = oracle_accuracy(held.scores[chosen])
        rows.append({"k": k, "method": method, "models": [held.model_ids[c] for c in chosen],
                     "routing_acc": kept, "share_of_pool": kept / pool if pool else float("nan"),
                     "oracle": covered, "share_of_oracle": covered / pool_oracle if pool_oracle else float("nan")})
    return rows


def routing_headroom(held: HeldOut) -> dict:
    """Why routing does (or does not) beat sending everything to the single best model: how often the
    best model is already right, how much an oracle could add, and what LOCUS does with the rest."""
    train_scores = held.data.dense(held.split.train)
    best = int(np.nanargmax(np.nanmean(train_scores, axis=1)))
    scores = held.scores
    best_right = np.nan_to_num(scores[best], nan=0.0) >= 0.5
    anyone_right = (np.nan_to_num(scores, nan=0.0) >= 0.5).any(axis=0)
    chosen = np.argmax(np.where(np.isnan(scores), -np.inf, held.route), axis=0)
    chosen_right = np.nan_to_num(scores[chosen, np.arange(scores.shape[1])], nan=0.0) >= 0.5
    away = chosen != best
    return {"best_model": held.model_ids[best], "best_right": float(best_right.mean()),
            "oracle": float(anyone_right.mean()), "headroom": float(anyone_right.mean() - best_right.mean()),
            "routed_to_best": float(1 - away.mean()), "routed_away": int(away.sum()),
            "routed_away_right": int((away & chosen_right).sum()),
            "routed_away_best_right": int((away & best_right).sum()),
            "shrinkage": held.checkpoint.routing.shrinkage}
