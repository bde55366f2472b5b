"""Matrix factorisation as in EmbedLLM: a learned vector per model, a projected query embedding,
and a linear classifier on their elementwise product."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from locus.baselines.base import Router, fit_pointwise, predict_pointwise
from locus.data import EvaluationSet


class _MF(nn.Module):
    def __init__(self, num_models: int, query_dim: int, dim: int) -> None:
        super().__init__()
        self.models = nn.Embedding(num_models, dim)
        self.queries = nn.Linear(query_dim, dim)
        self.classifier = nn.Linear(dim, 1)

    def forward(self, m: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.models(m) * self.queries(phi)).squeeze(-1)


class MatrixFactorisationRouter(Router):
    def __init__(self, *, seed: int = 0, dim: int = 128, epochs: int = 60) -> None:
        super().__init__(seed=seed)
        self.dim, self.epochs = dim, epochs

    def fit(self, train: EvaluationSet, validation: tuple[np.ndarray, np.ndarray]) -> MatrixFactorisationRouter:
        torch.manual_seed(self.seed)
        self.train = train
        self.net = fit_pointwise(_MF(len(train.model_ids), train.phi.shape[1], self.dim), train, validation,
                                 seed=self.seed, epochs=self.epochs)
        return self

    def predict(self, queries: np.ndarray) -> np.ndarray:
        return predict_pointwise(self.net, len(self.train.model_ids), self.train.phi[queries])
