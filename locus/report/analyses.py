"""The numbers behind the report, each from a held-out view of a version (no retraining)."""

from __future__ import annotations

import json

import numpy as np

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
