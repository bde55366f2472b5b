"""Two-parameter logistic IRT with item parameters predicted from the query embedding (as IrtNet):
p(m correct on q) = sigmoid(a(q) * (theta_m - b(q))), a(q) > 0, one ability theta per model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from locus.baselines.base import PointwiseRouter


class _IRT(nn.Module):
    def __init__(self, num_models: int, query_dim: int, hidden: int) -> None:
        super().__init__()
        self.ability = nn.Embedding(num_models, 1)
        nn.init.zeros_(self.ability.weight)
        self.items = nn.Sequential(nn.Linear(query_dim, hidden), nn.GELU(), nn.Linear(hidden, 2))

    def forward(self, m: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        raw_a, b = self.items(phi).unbind(-1)
        return F.softplus(raw_a) * (self.ability(m).squeeze(-1) - b)


class IRTRouter(PointwiseRouter):
    def __init__(self, *, seed: int = 0, hidden: int = 128, epochs: int = 60) -> None:
        super().__init__(seed=seed, epochs=epochs)
        self.hidden = hidden

    def build(self, num_models: int, query_dim: int) -> nn.Module:
        return _IRT(num_models, query_dim, self.hidden)
