"""Matrix factorisation as in EmbedLLM: a learned vector per model, a projected query embedding,
and a linear classifier on their elementwise product."""

from __future__ import annotations

import torch
from torch import nn

from locus.baselines.base import PointwiseRouter


class _MF(nn.Module):
    def __init__(self, num_models: int, query_dim: int, dim: int) -> None:
        super().__init__()
        self.models = nn.Embedding(num_models, dim)
        self.queries = nn.Linear(query_dim, dim)
        self.classifier = nn.Linear(dim, 1)

    def forward(self, m: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.models(m) * self.queries(phi)).squeeze(-1)


class MatrixFactorisationRouter(PointwiseRouter):
    def __init__(self, *, seed: int = 0, dim: int = 128, epochs: int = 60) -> None:
        super().__init__(seed=seed, epochs=epochs)
        self.dim = dim

    def build(self, num_models: int, query_dim: int) -> nn.Module:
        return _MF(num_models, query_dim, self.dim)
