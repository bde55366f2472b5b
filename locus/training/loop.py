"""The one training loop, used by `locus fit` in one process and by each Ray Train worker.

Each worker holds a shard of the models (one process: all of them), draws its own episodes,
and lets DistributedDataParallel average the gradients. Validation embeds every model from its
training evaluations only and scores predictions on validation queries with `locus.metrics`,
gathered over the shards so every worker sees the same numbers; the best epoch by `monitor`
is kept. Random draws are seeded per (seed, rank, epoch), so a run resumed from its
`state_dict` after epoch k continues exactly as if it had not stopped.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from locus.calibration import RouteCalibration, ability, fit_calibration
from locus.data import EvaluationSet, QuerySplit
from locus.embedding import embed_models, predict_matrix
from locus.metrics import quality_report, single_best_accuracy
from locus.model import ModelConfig, ModelShape
from locus.model.locus import Locus
from locus.training.collective import Collective, SingleProcess
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
    routing: RouteCalibration = field(default_factory=RouteCalibration)


def ema_update(decay: float) -> Callable[[list[torch.Tensor], list[torch.Tensor], torch.Tensor], None]:
    """Moving average whose decay grows as n / (n + 2) up to `decay`: early on it spans about the
    last half of the steps, so a short run is not dragged back towards its initial weights."""
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged: torch.Tensor) -> None:
        n = float(num_averaged)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, n / (n + 2)))
    return update


def _epoch_seed(*key: int) -> int:
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


class Trainer:
    """Owns the model, optimiser, sampler, the train/validation views of the data and the
    early-stopping state (all of it restorable through `state_dict`)."""

    def __init__(self, data: EvaluationSet, split: QuerySplit, shape: ModelShape, config: TrainConfig,
                 *, collective: Collective | None = None, device: torch.device | str = "cpu",
                 prepare_model: Callable[[nn.Module], nn.Module] | None = None) -> None:
        torch.manual_seed(config.seed)
        self.config, self.split, self.data = config, split, data
        self.collective = collective or SingleProcess()
        self.device = torch.device(device)
        train = data.restrict(split.train)
        self.train_data = train.subsample(config.budget, config.seed) if config.budget else train
        self.model_ids = self.collective.gather_list(data.model_ids)
        self.validation_scores = self.gather_dense(split.validation)
        self.phi = torch.as_tensor(data.phi, dtype=torch.float32, device=self.device)
        self.model = Locus(ModelConfig.for_queries(shape, data.phi.shape[1])).to(self.device)
        # the query coordinates come from the training queries alone, before any wrapping copies the model
        self.model.queries.fit(self.phi[torch.as_tensor(split.train, device=self.device)])
        # Ray Train's prepare_model wraps it in DistributedDataParallel; one process trains it as is
        self.network = prepare_model(self.model) if prepare_model else self.model
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        # the average of the weights along the last steps generalises better than the last step's
        self.ema = (AveragedModel(self.model, multi_avg_fn=ema_update(config.ema_decay), use_buffers=True)
                    if config.ema_decay else None)
        # the amount of training follows the pool: an epoch draws every model once (at least
        # epoch_episodes episodes), shared out over the workers, who each take the same steps
        counts = self.collective.gather_list([len(s) for s in self.train_data.scores])
        usable = self.collective.gather_list([sum(len(s) >= 2 for s in self.train_data.scores)])
        self.pool_size = len(counts)
        self.epoch_quota = math.ceil(max(config.epoch_episodes, self.pool_size) / self.collective.world_size)
        self.sampler = EpisodeSampler(self.train_data, config, seed=config.seed, typical=int(np.median(counts)),
                                      most_models=min(usable))
        self.steps, self.episodes = 0, 0  # optimiser steps and model-episodes (all workers) so far
        self.epoch, self.elapsed, self.stale = 0, 0.0, 0
        self.best_value: float | None = None
        self.best_epoch, self.best_metrics = 0, {}
        self.best_state = copy.deepcopy(self.evaluated.state_dict())
        self.history: list[dict[str, float]] = []
        self.routing = RouteCalibration()

    # -- one step ------------------------------------------------------------------------
    def losses(self, episode: Episode) -> dict[str, torch.Tensor]:
        """The training loss's parts: "bce", the BCE of the predictions for the target evaluations
        from every view's embedding, and "consistency" (already weighted), an InfoNCE loss that picks
        each model's other view out of the batch by squared distance (scaled by the batch's mean, so it
        does not depend on the embeddings' scale). It is 0 with one view or one model."""
        ep = {k: v.to(self.device) for k, v in vars(episode).items()}
        logits, z = self.network(self.phi[ep["context_index"]], ep["context_scores"], ep["context_mask"],
                                 self.phi[ep["target_index"]])
        views = z.shape[0] // episode.models
        target, mask = ep["target_scores"].repeat(views, 1), ep["target_mask"].repeat(views, 1)
        bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        parts = {"bce": (bce * mask).sum() / mask.sum(), "consistency": logits.new_zeros(())}
        if views == 2 and episode.models > 1:
            a, b = z.chunk(2)
            d2 = torch.cdist(a, b).square()
            sim = -d2 / (self.config.consistency_temperature * d2.mean().detach().clamp_min(1e-6))
            labels = torch.arange(episode.models, device=self.device)
            parts["consistency"] = self.config.consistency * 0.5 * (F.cross_entropy(sim, labels)
                                                                    + F.cross_entropy(sim.T, labels))
        return parts

    def learning_rate(self, elapsed: float) -> float:
        """Linear warm-up, then cosine decay to lr * min_lr_ratio over the planned training: the
        larger of the share of max_epochs' episodes done and the share of the wall-time budget spent."""
        cfg = self.config
        done = self.episodes / (cfg.max_epochs * self.epoch_quota * self.collective.world_size)
        if cfg.max_minutes is not None:
            done = max(done, elapsed / (60 * cfg.max_minutes))
        warm = min(1.0, (self.steps + 1) / max(1, cfg.warmup_steps))
        cosine = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, done)))
        return cfg.lr * warm * cosine

    def step(self, episode: Episode, elapsed: float) -> dict[str, float]:
        """One optimiser step; returns the loss and its parts (`losses`) as floats."""
        self.network.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate(elapsed)
        parts = self.losses(episode)
        loss = sum(parts.values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        self.steps += 1
        self.episodes += episode.models * self.collective.world_size
        return {"loss": loss.item(), **{k: v.item() for k, v in parts.items()}}

    @property
    def evaluated(self) -> Locus:
        """The weights that are validated and kept: the moving average if there is one."""
        return self.ema.module if self.ema is not None else self.model

    # -- evaluation ----------------------------------------------------------------------
    def gather_dense(self, queries: np.ndarray) -> np.ndarray:
        """Score matrix [all models, queries] (NaN where not evaluated), gathered over the shards."""
        return self.collective.gather_rows(self.data.dense(queries))

    def embed_train(self) -> np.ndarray:
        """Embeddings of this worker's models from their training evaluations."""
        return embed_models(self.evaluated, self.phi, self.train_data.query_index, self.train_data.scores)

    def predict(self, queries: np.ndarray) -> np.ndarray:
        """p(correct) of every model (all shards) on the query positions -> [all models, queries]."""
        local = predict_matrix(self.evaluated, self.embed_train(), self.phi[queries])
        return self.collective.gather_rows(local)

    def evaluate(self, queries: np.ndarray, scores: np.ndarray, *, calibrated: bool = False) -> dict[str, float]:
        """Quality of predictions on `queries` (positions) against the dense `scores` of all models;
        `calibrated` routes with the fitted routing calibration rather than on p alone."""
        probs = self.predict(queries)
        report = quality_report(probs, scores, route=self.route_scores(probs) if calibrated else None)
        report["val_loss"] = report["log_loss"]
        return report

    def calibrate_routing(self) -> RouteCalibration:
        """Fit the routing shrinkage on the validation queries with the current weights."""
        ids = [self.data.query_ids[q] for q in self.split.validation]
        return fit_calibration(self.predict(self.split.validation), self.validation_scores, ids)

    def route_scores(self, probs: np.ndarray) -> np.ndarray:
        """Calibrated routing scores for predictions [all models, queries] of this trainer's weights."""
        position = {q: i for i, q in enumerate(self.data.query_ids)}
        reference = np.array([position[q] for q in self.routing.reference], dtype=np.int64)
        return self.routing.scores(probs, ability(self.predict(reference)) if len(reference) else None)

    def test_report(self) -> dict[str, float]:
        """Test-split quality, with the single best model (by mean training score) for reference."""
        test_scores = self.gather_dense(self.split.test)
        report = self.evaluate(self.split.test, test_scores, calibrated=True)
        train = self.data.restrict(self.split.train)
        means = np.array([s.mean() if len(s) else np.nan for s in train.scores], dtype=np.float64)
        report["single_best"] = single_best_accuracy(self.collective.gather_rows(means)[:, None], test_scores)
        return report

    # -- early stopping and resumable state -------------------------------------------------
    def improved(self, value: float, best: float | None) -> bool:
        if best is None or math.isnan(best):
            return True
        return value > best if self.config.higher_is_better else value < best

    @property
    def exposure(self) -> float:
        """Episodes per model of the pool so far."""
        return self.episodes / max(1, self.pool_size)

    @property
    def out_of_time(self) -> bool:
        return self.config.max_minutes is not None and self.elapsed >= 60 * self.config.max_minutes

    @property
    def finished(self) -> bool:
        """Out of epochs or time, or no better for `patience` epochs once the pool has been seen
        `min_exposure` times per model."""
        cfg = self.config
        stalled = self.stale >= cfg.patience and self.exposure >= cfg.min_exposure
        return self.epoch >= cfg.max_epochs or stalled or self.out_of_time

    def run_epoch(self) -> dict[str, float]:
        """Train one epoch (or what is left of the time budget), validate, and update the best-so-far
        state; returns the epoch's metrics."""
        self.epoch += 1
        start = time.perf_counter()
        seed = _epoch_seed(self.config.seed, self.collective.rank, self.epoch)
        self.sampler.rng = np.random.default_rng(seed)
        sizes = np.random.default_rng(_epoch_seed(self.config.seed, self.epoch))  # alike on every worker
        torch.manual_seed(seed)  # dropout
        losses, done = [], 0
        while done < self.epoch_quota:
            # every worker sees the slowest one's clock, so all stop at the same step
            elapsed = self.collective.max_value(self.elapsed + time.perf_counter() - start)
            if self.config.max_minutes is not None and elapsed >= 60 * self.config.max_minutes and losses:
                break
            size = self.sampler.draw_size(sizes)
            count = self.sampler.batch_for(size)
            losses.append(self.step(self.sampler.sample(size, count), elapsed))
            done += count
        metrics = {"epoch": self.epoch, "train_loss": float(np.mean([x["loss"] for x in losses])),
                   "train_bce": float(np.mean([x["bce"] for x in losses])),
                   "train_consistency": float(np.mean([x["consistency"] for x in losses])),
                   **self.evaluate(self.split.validation, self.validation_scores)}
        self.elapsed = self.collective.max_value(self.elapsed + time.perf_counter() - start)
        metrics |= {"seconds": self.elapsed, "steps": self.steps, "episodes": self.episodes,
                    "exposure": self.exposure, "lr": self.learning_rate(self.elapsed), "eta_seconds": self.eta()}
        self.history.append(metrics)
        if self.improved(metrics[self.config.monitor], self.best_value):
            self.best_value, self.best_epoch, self.best_metrics = metrics[self.config.monitor], self.epoch, metrics
            self.best_state = copy.deepcopy(self.evaluated.state_dict())
            self.stale = 0
        else:
            self.stale += 1
        return metrics

    def eta(self) -> float:
        """Seconds left at most: the remaining epochs at the mean epoch time so far, within the budget."""
        left = (self.config.max_epochs - self.epoch) * self.elapsed / max(1, self.epoch)
        if self.config.max_minutes is not None:
            left = min(left, max(0.0, 60 * self.config.max_minutes - self.elapsed))
        return left

    def fit(self, on_epoch: Callable[[dict[str, float]], None] | None = None) -> FitResult:
        """Train (from epoch 1, or from a restored state) until early stopping; returns the best weights."""
        while not self.finished:
            metrics = self.run_epoch()
            if on_epoch is not None:
                on_epoch(metrics)
        self.model.load_state_dict(self.best_state)
        if self.ema is not None:
            self.ema.module.load_state_dict(self.best_state)
        self.routing = self.calibrate_routing()
        return FitResult(self.model, self.best_epoch, self.best_metrics, list(self.history), self.elapsed,
                         self.routing)

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue after the current epoch: weights, optimiser, schedule, best,
        and every worker's place in its own permutation of its shard (so every worker calls it)."""
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizer": self.optimizer.state_dict(), "steps": self.steps, "episodes": self.episodes,
                "queues": self.collective.gather_list([self.sampler.queue]), "epoch": self.epoch,
                "elapsed": self.elapsed,
                "stale": self.stale, "best_value": self.best_value, "best_epoch": self.best_epoch,
                "best_metrics": self.best_metrics, "best_state": self.best_state, "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        # a worker continues its own shard's permutation; with another number of workers the shards
        # differ, and each starts a fresh one
        queues = state["queues"]
        same = len(queues) == self.collective.world_size
        self.sampler.queue = queues[self.collective.rank] if same else np.empty(0, dtype=np.int64)
        for key in ("steps", "episodes", "epoch", "elapsed", "stale", "best_value", "best_epoch", "best_metrics",
                    "best_state", "history"):
            setattr(self, key, state[key])
