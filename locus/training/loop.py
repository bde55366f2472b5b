"""The one training loop (used by `locus fit`; the Ray Train job wraps the same Trainer).

Validation embeds every model from its training evaluations only and scores predictions on
validation queries with `locus.metrics`; the best epoch by `monitor` is kept.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from locus.data import EvaluationSet, QuerySplit
from locus.embedding import embed_models, predict_matrix
from locus.metrics import quality_report
from locus.model import Locus, ModelConfig
from locus.training.config import TrainConfig
from locus.training.sampler import Episode, EpisodeSampler


@dataclass
class FitResult:
    """Best weights, the epoch they come from, and per-epoch history."""

    model: Locus
    best_epoch: int
    best_metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


class Trainer:
    """Owns the model, optimiser, sampler and the train/validation views of the data."""

    def __init__(self, data: EvaluationSet, split: QuerySplit, model_config: ModelConfig,
                 config: TrainConfig) -> None:
        torch.manual_seed(config.seed)
        self.config = config
        self.split = split
        train = data.restrict(split.train)
        self.train_data = train.subsample(config.budget, config.seed) if config.budget else train
        self.validation_scores = data.dense(split.validation)
        self.phi = torch.as_tensor(data.phi, dtype=torch.float32)
        self.model = Locus(model_config)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        warmup = max(1, config.warmup_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / warmup))
        self.sampler = EpisodeSampler(self.train_data, batch_models=config.batch_models,
                                      min_context=config.min_context, max_context=config.max_context,
                                      target_size=config.target_size, seed=config.seed)

    def loss(self, episode: Episode) -> torch.Tensor:
        """BCE of the predictions for the target evaluations given the context embedding."""
        model = self.model
        projected = model.project_queries(self.phi[episode.context_index])
        z = model.embed_projected(projected, episode.context_scores, episode.context_mask)
        logits = model.logits(z, self.phi[episode.target_index])
        losses = F.binary_cross_entropy_with_logits(logits, episode.target_scores, reduction="none")
        return (losses * episode.target_mask).sum() / episode.target_mask.sum()

    def step(self) -> float:
        self.model.train()
        loss = self.loss(self.sampler.sample())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        return loss.item()

    def embed_train(self) -> np.ndarray:
        """Embeddings of every model from its training evaluations."""
        return embed_models(self.model, self.phi, self.train_data.query_index, self.train_data.scores)

    def evaluate(self, queries: np.ndarray, scores: np.ndarray) -> dict[str, float]:
        """Quality of predictions on `queries` (positions) against the dense `scores` matrix."""
        probs = predict_matrix(self.model, self.embed_train(), self.phi[queries].numpy())
        report = quality_report(probs, scores)
        report["val_loss"] = report["log_loss"]
        return report

    def improved(self, value: float, best: float | None) -> bool:
        if best is None or math.isnan(best):
            return True
        return value > best if self.config.higher_is_better else value < best

    def fit(self, on_epoch: Callable[[dict[str, float]], None] | None = None) -> FitResult:
        """Train with early stopping on the monitored validation metric; returns the best weights."""
        cfg = self.config
        start = time.perf_counter()
        best_value: float | None = None
        best_state, best_epoch, best_metrics = copy.deepcopy(self.model.state_dict()), 0, {}
        history: list[dict[str, float]] = []
        stale = 0
        for epoch in range(1, cfg.max_epochs + 1):
            losses = [self.step() for _ in range(cfg.steps_per_epoch)]
            metrics = {"epoch": epoch, "train_loss": float(np.mean(losses)),
                       **self.evaluate(self.split.validation, self.validation_scores),
                       "seconds": time.perf_counter() - start}
            history.append(metrics)
            if self.improved(metrics[cfg.monitor], best_value):
                best_value, best_epoch, best_metrics = metrics[cfg.monitor], epoch, metrics
                best_state = copy.deepcopy(self.model.state_dict())
                stale = 0
            else:
                stale += 1
            if on_epoch is not None:
                on_epoch(metrics)
            out_of_time = cfg.max_minutes is not None and metrics["seconds"] > 60 * cfg.max_minutes
            if stale >= cfg.patience or out_of_time:
                break
        self.model.load_state_dict(best_state)
        return FitResult(self.model, best_epoch, best_metrics, history, time.perf_counter() - start)
