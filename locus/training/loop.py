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
        # Ray Train's prepare_model wraps it in DistributedDataParallel; one process trains it as is
        self.network = prepare_model(self.model) if prepare_model else self.model
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        warmup = max(1, config.warmup_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(1.0, (s + 1) / warmup))
        # the average of the weights along the last steps generalises better than the last step's
        self.ema = (AveragedModel(self.model, multi_avg_fn=ema_update(config.ema_decay), use_buffers=True)
                    if config.ema_decay else None)
        share = math.ceil(config.batch_models / self.collective.world_size)  # the global batch, split over workers
        self.sampler = EpisodeSampler(self.train_data, batch_models=share, min_context=config.min_context,
                                      max_context=config.max_context, target_size=config.target_size,
                                      seed=config.seed)
        self.epoch, self.elapsed, self.stale = 0, 0.0, 0
        self.best_value: float | None = None
        self.best_epoch, self.best_metrics = 0, {}
        self.best_state = copy.deepcopy(self.evaluated.state_dict())
        self.history: list[dict[str, float]] = []
        self.routing = RouteCalibration()

    # -- one step ------------------------------------------------------------------------
    def loss(self, episode: Episode) -> torch.Tensor:
        """BCE of the predictions for the target evaluations given the context embedding."""
        ep = {k: v.to(self.device) for k, v in vars(episode).items()}
        logits = self.network(self.phi[ep["context_index"]], ep["context_scores"], ep["context_mask"],
                              self.phi[ep["target_index"]])
        losses = F.binary_cross_entropy_with_logits(logits, ep["target_scores"], reduction="none")
        return (losses * ep["target_mask"]).sum() / ep["target_mask"].sum()

    def step(self) -> float:
        self.network.train()
        loss = self.loss(self.sampler.sample())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update_parameters(self.model)
        return loss.item()

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
    def finished(self) -> bool:
        cfg = self.config
        out_of_time = cfg.max_minutes is not None and self.elapsed > 60 * cfg.max_minutes
        return self.epoch >= cfg.max_epochs or self.stale >= cfg.patience or out_of_time

    def run_epoch(self) -> dict[str, float]:
        """Train one epoch, validate, and update the best-so-far state; returns the epoch's metrics."""
        self.epoch += 1
        start = time.perf_counter()
        seed = _epoch_seed(self.config.seed, self.collective.rank, self.epoch)
        self.sampler.rng = np.random.default_rng(seed)
        torch.manual_seed(seed)  # dropout
        losses = [self.step() for _ in range(self.config.steps_per_epoch)]
        metrics = {"epoch": self.epoch, "train_loss": float(np.mean(losses)),
                   **self.evaluate(self.split.validation, self.validation_scores)}
        self.elapsed += time.perf_counter() - start
        metrics["seconds"] = self.elapsed
        self.history.append(metrics)
        if self.improved(metrics[self.config.monitor], self.best_value):
            self.best_value, self.best_epoch, self.best_metrics = metrics[self.config.monitor], self.epoch, metrics
            self.best_state = copy.deepcopy(self.evaluated.state_dict())
            self.stale = 0
        else:
            self.stale += 1
        return metrics

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
        """Everything needed to continue after the current epoch: weights, optimiser, schedule, best."""
        return {"model": self.model.state_dict(), "ema": self.ema.state_dict() if self.ema is not None else None,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "epoch": self.epoch, "elapsed": self.elapsed,
                "stale": self.stale, "best_value": self.best_value, "best_epoch": self.best_epoch,
                "best_metrics": self.best_metrics, "best_state": self.best_state, "history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        for key in ("epoch", "elapsed", "stale", "best_value", "best_epoch", "best_metrics", "best_state", "history"):
            setattr(self, key, state[key])
