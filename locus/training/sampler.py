"""Episode sampling: per model, a random encoder subset (size log-uniform in a range, so the
encoder works at any n) and a disjoint target subset that supplies the labels; with two views,
a second encoder subset of the same model for the consistency term.

A step's batch is a token budget: the context size is drawn first, then as many models as fit
`batch_tokens` evaluations. Models are drawn without replacement from a running permutation of
the pool, so an epoch sees every model. The context sizes come from a generator that every
worker seeds alike, so every worker takes the same number of steps (DistributedDataParallel
needs that); the models and subsets come from the worker's own generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from locus.data import EvaluationSet
from locus.embedding import pad_batch
from locus.training.config import TrainConfig


@dataclass
class Episode:
    """Padded tensors for one step: context (encoder input) and target (labels), [V * B, n] / [B, T]
    (V views: view v of model b is row v * B + b)."""

    context_index: torch.Tensor
    context_scores: torch.Tensor
    context_mask: torch.Tensor
    target_index: torch.Tensor
    target_scores: torch.Tensor
    target_mask: torch.Tensor

    @property
    def models(self) -> int:
        return self.target_index.shape[0]


class EpisodeSampler:
    """Draws episodes from `data` (training evaluations only) with its own seeded generator.

    `typical` is the pool's median number of training evaluations per model and `most_models`
    the smallest worker's usable model count: both are the same on every worker, so the number
    of models per step follows from the drawn context size alone."""

    def __init__(self, data: EvaluationSet, config: TrainConfig, *, seed: int, typical: int,
                 most_models: int) -> None:
        usable = [m for m, s in enumerate(data.scores) if len(s) >= 2]
        if not usable:
            raise ValueError("no model has the two or more training evaluations an episode needs")
        self.data, self.models, self.config = data, np.asarray(usable), config
        self.typical, self.most_models = max(2, typical), max(1, min(most_models, config.max_batch_models))
        self.rng = np.random.default_rng(seed)
        self.queue = np.empty(0, dtype=np.int64)

    def draw_size(self, rng: np.random.Generator) -> int:
        """A context size, log-uniform in [min_context, max_context] (from the shared generator)."""
        lo, hi = self.config.min_context, self.config.max_context
        return int(np.exp(rng.uniform(np.log(lo), np.log(hi + 1))))

    def batch_for(self, size: int) -> int:
        """Models in a step whose context size is `size`: as many as `batch_tokens` holds."""
        t = min(self.config.target_size, self.typical // 2)
        n = min(size, self.typical - t)
        per_model = self.config.views * n + t
        return int(np.clip(self.config.batch_tokens // per_model, min(2, self.most_models), self.most_models))

    def next_models(self, count: int) -> np.ndarray:
        """`count` distinct models, continuing the running permutation of the pool."""
        taken: list[np.ndarray] = []
        while count > 0:
            if not len(self.queue):
                fresh = self.rng.permutation(self.models)
                if taken:  # a model already in this step goes to the back of the new round
                    seen = np.isin(fresh, np.concatenate(taken))
                    fresh = np.concatenate([fresh[~seen], fresh[seen]])
                self.queue = fresh
            part, self.queue = self.queue[:count], self.queue[count:]
            taken.append(part)
            count -= len(part)
        return np.concatenate(taken)

    def sample(self, size: int, count: int) -> Episode:
        views = self.config.views
        ctx_i: list[list[np.ndarray]] = [[] for _ in range(views)]
        ctx_s: list[list[np.ndarray]] = [[] for _ in range(views)]
        tgt_i, tgt_s = [], []
        for m in self.next_models(count):
            qi, sc = self.data.query_index[m], self.data.scores[m]
            perm = self.rng.permutation(len(qi))
            t = min(self.config.target_size, len(qi) // 2)
            tgt, rest = perm[:t], perm[t:]
            n = min(size, len(rest))
            for v in range(views):
                # views are disjoint where the model has the evaluations, else two random subsets
                ctx = rest[v * n:(v + 1) * n] if len(rest) >= views * n else self.rng.permutation(rest)[:n]
                ctx_i[v].append(qi[ctx])
                ctx_s[v].append(sc[ctx])
            tgt_i.append(qi[tgt])
            tgt_s.append(sc[tgt])
        return Episode(*pad_batch([i for view in ctx_i for i in view], [s for view in ctx_s for s in view]),
                       *pad_batch(tgt_i, tgt_s))
