"""Reference routers that learn nothing about queries: single best model, random, oracle."""

from __future__ import annotations

import numpy as np

from locus.baselines.base import Router
from locus.data import EvaluationSet


class SingleBestRouter(Router):
    """Every query goes to the model with the best mean training score; p = that model's mean."""

    def fit(self, train: EvaluationSet, validation: tuple[np.ndarray, np.ndarray]) -> SingleBestRouter:
        self.means = np.array([s.mean() if len(s) else 0.0 for s in train.scores], dtype=np.float32)
        return self

    def predict(self, queries: np.ndarray) -> np.ndarray:
        return np.repeat(self.means[:, None], len(queries), axis=1)


class RandomRouter(Router):
    """Uniformly random p(correct): the floor every method must clear."""

    def fit(self, train: EvaluationSet, validation: tuple[np.ndarray, np.ndarray]) -> RandomRouter:
        self.num_models = len(train.model_ids)
        self.rng = np.random.default_rng(self.seed)
        return self

    def predict(self, queries: np.ndarray) -> np.ndarray:
        return self.rng.random((self.num_models, len(queries))).astype(np.float32)


class OracleRouter(Router):
    """Knows the true scores of the queries it is asked about: the ceiling of routing accuracy."""

    def __init__(self, *, seed: int = 0, truth: EvaluationSet | None = None) -> None:
        super().__init__(seed=seed)
        self.truth = truth

    def fit(self, train: EvaluationSet, validation: tuple[np.ndarray, np.ndarray]) -> OracleRouter:
        if self.truth is None:
            raise ValueError("the oracle needs truth=<the full EvaluationSet>")
        return self

    def predict(self, queries: np.ndarray) -> np.ndarray:
        return np.nan_to_num(self.truth.dense(queries), nan=0.0)
