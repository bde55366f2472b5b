"""The interface every router shares, and the pointwise training loop of the learned baselines."""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from locus.data import EvaluationSet
from locus.metrics import log_loss


class Router(ABC):
    """Predicts p(correct) for every model on any query from training evaluations."""

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    @abstractmethod
    def fit(self, train: EvaluationSet, validation: tuple[np.ndarray, np.ndarray]) -> Router:
        """Learn from `train`; `validation` = (query positions, dense scores) for early stopping."""

    @abstractmethod
    def predict(self, queries: np.ndarray) -> np.ndarray:
        """p(correct) [models, len(queries)] for query positions into train.query_ids."""


class PointwiseRouter(Router):
    """A router whose network scores (model index, query embedding) pairs, trained by fit_pointwise."""

    def __init__(self, *, seed: int = 0, epochs: int = 60) -> None:
        super().__init__(seed=seed)
        self.epochs = epochs

    @abstractmethod
    def build(self, num_models: int, query_dim: int) -> nn.Module:
        """The untrained network: net(model index, query embedding) -> logits."""

    def fit(self, train: EvaluationSet, validation: tuple[np.ndarray, np.ndarray]) -> PointwiseRouter:
        torch.manual_seed(self.seed)
        self.train = train
        net = self.build(len(train.model_ids), train.phi.shape[1])
        self.net = fit_pointwise(net, train, validation, seed=self.seed, epochs=self.epochs)
        return self

    def predict(self, queries: np.ndarray) -> np.ndarray:
        return predict_pointwise(self.net, len(self.train.model_ids), self.train.phi[queries])


def observed_pairs(data: EvaluationSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flatten ragged evaluations to (model index, query position, score) arrays."""
    models = np.concatenate([np.full(len(i), m) for m, i in enumerate(data.query_index)])
    return models, np.concatenate(data.query_index), np.concatenate(data.scores)


def fit_pointwise(net: nn.Module, train: EvaluationSet, validation: tuple[np.ndarray, np.ndarray], *,
                  seed: int, epochs: int = 60, batch_size: int = 1024, max_steps_per_epoch: int = 500,
                  lr: float = 1e-3, weight_decay: float = 1e-4, patience: int = 5) -> nn.Module:
    """Minimise BCE of net(model index, query embedding) over observed pairs, keeping the epoch
    with the lowest validation loss. `net(m, phi) -> logits`. Batches grow past `batch_size` when
    an epoch would take more than `max_steps_per_epoch` steps (millions of evaluations)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    phi = torch.as_tensor(train.phi)
    m, q, y = (torch.as_tensor(a) for a in observed_pairs(train))
    batch_size = max(batch_size, -(-len(y) // max_steps_per_epoch))
    val_q, val_scores = validation
    seen = ~np.isnan(val_scores)
    val_m, val_col = (torch.as_tensor(a) for a in np.nonzero(seen))
    val_phi, val_y = phi[torch.as_tensor(val_q)][val_col], torch.as_tensor(val_scores[seen])
    optimizer = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
    best, best_state, stale = float("inf"), copy.deepcopy(net.state_dict()), 0
    for _ in range(epochs):
        net.train()
        for batch in torch.as_tensor(rng.permutation(len(y))).split(batch_size):
            loss = F.binary_cross_entropy_with_logits(net(m[batch], phi[q[batch]]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            val_loss = log_loss(torch.sigmoid(net(val_m, val_phi)).numpy(), val_y.numpy())
        if val_loss < best - 1e-5:
            best, best_state, stale = val_loss, copy.deepcopy(net.state_dict()), 0
        else:
            stale += 1
            if stale >= patience:
                break
    net.load_state_dict(best_state)
    return net.eval()


@torch.no_grad()
def predict_pointwise(net: nn.Module, num_models: int, phi: np.ndarray) -> np.ndarray:
    """p(correct) of every model on every query of phi [Q, dim] -> [models, Q]."""
    phi_t = torch.as_tensor(phi)
    rows = [torch.sigmoid(net(torch.full((len(phi_t),), m), phi_t)) for m in range(num_models)]
    return torch.stack(rows).numpy()
