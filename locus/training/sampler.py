"""Episode sampling: per model, a random encoder subset (size log-uniform in a range, so the
encoder works at any n) and a disjoint target subset that supplies the labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from locus.data import EvaluationSet
from locus.embedding import pad_batch


@dataclass
class Episode:
    """Padded tensors for one step: context (encoder input) and target (labels), [B, n] / [B, T]."""

    context_index: torch.Tensor
    context_scores: torch.Tensor
    context_mask: torch.Tensor
    target_index: torch.Tensor
    target_scores: torch.Tensor
    target_mask: torch.Tensor


class EpisodeSampler:
    """Draws episodes from `data` (training evaluations only) with its own seeded generator."""

    def __init__(self, data: EvaluationSet, *, batch_models: int, min_context: int, max_context: int,
                 target_size: int, seed: int) -> None:
        usable = [m for m, s in enumerate(data.scores) if len(s) >= 2]
        if not usable:
            raise ValueError("no model has the two or more training evaluations an episode needs")
        self.data, self.models = data, np.asarray(usable)
        self.batch_models = min(batch_models, len(usable))
        self.min_context, self.max_context, self.target_size = min_context, max_context, target_size
        self.rng = np.random.default_rng(seed)

    def sample(self) -> Episode:
        models = self.rng.choice(self.models, size=self.batch_models, replace=False)
        size = int(np.exp(self.rng.uniform(np.log(self.min_context), np.log(self.max_context + 1))))
        ctx_i, ctx_s, tgt_i, tgt_s = [], [], [], []
        for m in models:
            qi, sc = self.data.query_index[m], self.data.scores[m]
            perm = self.rng.permutation(len(qi))
            t = min(self.target_size, len(qi) // 2)
            n = min(size, len(qi) - t)
            ctx, tgt = perm[:n], perm[n:n + t]
            ctx_i.append(qi[ctx])
            ctx_s.append(sc[ctx])
            tgt_i.append(qi[tgt])
            tgt_s.append(sc[tgt])
        return Episode(*pad_batch(ctx_i, ctx_s), *pad_batch(tgt_i, tgt_s))
