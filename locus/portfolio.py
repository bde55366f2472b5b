"""Portfolio selection with zero extra evaluations: pick k models (or models within a budget)
from their embeddings and predicted p(correct), so that routing among them loses little.

- k-center: farthest-first in embedding space, from the model with the best predicted accuracy.
- k-medoids: alternate assigning models to their nearest medoid and re-centring, from k-center.
- coverage: greedy on the predicted routing accuracy mean_q max_{m in S} p_m(q), by gain per unit
  of cost (parameters or cost per 1k tokens) when a budget is given.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from locus.errors import ConflictError, LocusDataError
from locus.metrics import distance_matrix

METHODS = ("k-center", "k-medoids", "coverage")


def k_center(z: np.ndarray, probs: np.ndarray, k: int) -> list[int]:
    chosen = [int(np.argmax(probs.mean(axis=0)))]
    nearest = np.linalg.norm(z - z[chosen[0]], axis=1)
    while len(chosen) < k:
        nxt = int(np.argmax(nearest))
        chosen.append(nxt)
        nearest = np.minimum(nearest, np.linalg.norm(z - z[nxt], axis=1))
    return chosen


def k_medoids(z: np.ndarray, probs: np.ndarray, k: int, iterations: int = 20) -> list[int]:
    distances = distance_matrix(z)
    medoids = k_center(z, probs, k)
    for _ in range(iterations):
        assignment = np.argmin(distances[:, medoids], axis=1)
        updated = []
        for c in range(k):
            members = np.flatnonzero(assignment == c)
            updated.append(int(members[np.argmin(distances[np.ix_(members, members)].sum(axis=1))]))
        if sorted(updated) == sorted(medoids):
            break
        medoids = updated
    return medoids


def coverage(probs: np.ndarray, k: int | None, cost: np.ndarray | None = None,
             budget: float | None = None) -> list[int]:
    """Greedy on mean_q max_{m in S} p_m(q); with a budget, by gain per cost while it fits (a NaN cost
    never fits)."""
    chosen: list[int] = []
    best = np.zeros(probs.shape[0])
    spent = 0.0
    while k is None or len(chosen) < k:
        gains = np.maximum(probs, best[:, None]).mean(axis=0) - best.mean()
        gains[chosen] = -np.inf
        if budget is not None:
            fits = spent + cost <= budget
            gains = np.where(fits, gains / np.maximum(cost, 1e-9), -np.inf)
        pick = int(np.argmax(gains))
        if not np.isfinite(gains[pick]):
            break
        chosen.append(pick)
        spent += 0.0 if cost is None else float(cost[pick])
        best = np.maximum(best, probs[:, pick])
    return chosen


def select(method: str, z: np.ndarray, probs: np.ndarray, *, k: int | None = None,
           cost: np.ndarray | None = None, budget: float | None = None) -> list[int]:
    """Positions of the chosen models. probs: predicted p(correct) [queries, models]."""
    if method not in METHODS:
        raise LocusDataError(f"--method: unknown portfolio method {method!r}; choose from {', '.join(METHODS)}")
    if (k is None) == (budget is None):
        raise LocusDataError("give exactly one of k (portfolio size) or budget (total cost)")
    if k is not None and not 1 <= k <= len(z):
        raise ConflictError(f"k={k} must be between 1 and the {len(z)} embedded models")
    if budget is not None:
        if method != "coverage":
            raise LocusDataError("a budget needs --method coverage (k-center and k-medoids pick k models)")
        if cost is None or np.isnan(cost).all():
            raise ConflictError("a budget needs models with a cost (params_b or cost_per_1k_tokens) in the models "
                                "table; none has one")
        return coverage(probs, None, cost, budget)  # a model with no cost never fits a budget
    picker: dict[str, Callable[[], list[int]]] = {"k-center": lambda: k_center(z, probs, k),
                                                  "k-medoids": lambda: k_medoids(z, probs, k),
                                                  "coverage": lambda: coverage(probs, k)}
    return picker[method]()


def measured_routing(probs: np.ndarray, scores: np.ndarray, chosen: list[int], *, random_draws: int = 20,
                     seed: int = 0) -> dict[str, float]:
    """Measured routing accuracy when each query goes to the chosen model with the highest predicted
    p(correct), against random portfolios of the same size (mean and spread).

    probs, scores: [models, queries] (scores NaN where not evaluated)."""
    from locus.metrics import routing_accuracy

    rng = np.random.default_rng(seed)
    draws = [routing_accuracy(probs[picked], scores[picked])
             for picked in (rng.choice(len(probs), size=len(chosen), replace=False) for _ in range(random_draws))]
    return {"routing_acc": routing_accuracy(probs[chosen], scores[chosen]),
            "random_mean": float(np.mean(draws)), "random_std": float(np.std(draws))}
