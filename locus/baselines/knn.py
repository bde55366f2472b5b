"""kNN router: p(m correct on q) = mean score of m on the k training queries most similar to q
(cosine similarity of query embeddings) among those m was evaluated on."""

from __future__ import annotations

import numpy as np

from locus.baselines.base import Router
from locus.data import EvaluationSet


class KNNRouter(Router):
    def __init__(self, *, seed: int = 0, k: int = 20) -> None:
        super().__init__(seed=seed)
        self.k = k

    def fit(self, train: EvaluationSet, validation: tuple[np.ndarray, np.ndarray]) -> KNNRouter:
        self.train = train
        norms = np.linalg.norm(train.phi, axis=1, keepdims=True)
        self.unit = train.phi / np.maximum(norms, 1e-12)
        return self

    def predict(self, queries: np.ndarray) -> np.ndarray:
        out = np.empty((len(self.train.model_ids), len(queries)), dtype=np.float32)
        for m, (index, scores) in enumerate(zip(self.train.query_index, self.train.scores, strict=True)):
            sims = self.unit[queries] @ self.unit[index].T  # [Q, n_m]
            k = min(self.k, len(index))
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            out[m] = scores[top].mean(axis=1)
        return out
