"""Calibrated routing: how far to trust the per-query differences the predictor sees between models.

With one dominant model (on MMLU-Pro the best of 29 answers 70%), many predicted per-query
differences are noise, and routing on them loses to sending everything to the strongest model.
The router ranks models by  lam * logit p(m, q) + (1 - lam) * ability(m),  where ability is the
mean logit over a fixed set of reference queries. lam is chosen on the validation queries when a
version is trained: 1 trusts the predictor fully, 0 routes every query to the model predicted best.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from locus.metrics import routing_accuracy

GRID = tuple(float(x) for x in np.round(np.linspace(0.0, 1.0, 11), 2))
REFERENCE_SIZE = 512


def logit(probs: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    p = np.clip(np.asarray(probs, dtype=np.float64), eps, 1 - eps)
    return np.log(p / (1 - p))


def ability(reference_probs: np.ndarray) -> np.ndarray:
    """Each model's mean logit over the reference queries: [models, reference] -> [models]."""
    return logit(reference_probs).mean(axis=1)


@dataclass(frozen=True)
class RouteCalibration:
    """The shrinkage lam and the query ids its ability term averages over (saved with a version)."""

    shrinkage: float = 1.0
    reference: tuple[str, ...] = ()

    def scores(self, probs: np.ndarray, model_ability: np.ndarray | None) -> np.ndarray:
        """Routing scores [models, queries] from p(correct) [models, queries] and ability [models]."""
        if self.shrinkage >= 1.0 or model_ability is None:
            return logit(probs)
        return self.shrinkage * logit(probs) + (1.0 - self.shrinkage) * np.asarray(model_ability)[:, None]


def fit_calibration(probs: np.ndarray, scores: np.ndarray, query_ids: Sequence[str]) -> RouteCalibration:
    """Choose lam by routing accuracy on validation queries (probs, scores: [models, queries]).

    Ties go to the larger lam, so the predictor is trusted unless validation says otherwise. The
    first REFERENCE_SIZE of the queries become the reference set for the ability term."""
    if probs.shape != scores.shape or probs.shape[1] != len(query_ids):
        raise ValueError(f"probs {probs.shape}, scores {scores.shape} and {len(query_ids)} query ids disagree")
    model_ability = ability(probs[:, :REFERENCE_SIZE])
    accuracy = np.array([routing_accuracy(RouteCalibration(lam).scores(probs, model_ability), scores)
                         for lam in GRID])
    best = int(np.flatnonzero(accuracy >= accuracy.max() - 1e-9).max())
    return RouteCalibration(GRID[best], tuple(query_ids[:REFERENCE_SIZE]))
