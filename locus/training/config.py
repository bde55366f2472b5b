"""Typed training configuration: episodes, optimiser, early stopping, seeds (`TrainConfig`), and a
run's data and network shape around it (`TrainRun`). Importable without torch."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from locus.data import SplitMethod
from locus.encoders import DEFAULT_ENCODER
from locus.model import ModelShape

Monitor = Literal["val_loss", "correctness_acc", "routing_acc", "auc"]


class TrainConfig(BaseModel):
    """How `locus fit` trains; saved with every checkpoint."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="seed of initialisation and episode sampling")
    split_seed: int = Field(0, description="seed of the train/validation/test query split")
    split: SplitMethod = Field("hash", description="hash: a query's part follows from its id and the seed, so "
                               "adding queries moves none; permutation: the published LOCUS split of the sorted ids")
    budget: int | None = Field(None, gt=0, description="training evaluations per model (None: all train ones)")
    batch_tokens: int = Field(32768, gt=0, description="evaluations (context and target) per optimiser step and "
                              "worker, summed over its models: many models per step when contexts are small")
    max_batch_models: int = Field(256, gt=1, description="most models in one step")
    min_context: int = Field(32, gt=0, description="smallest encoder subset per episode")
    max_context: int = Field(1024, gt=0, description="largest encoder subset per episode")
    target_size: int = Field(256, gt=0, description="labelled target evaluations per model per episode")
    epoch_episodes: int = Field(2048, gt=0, description="model-episodes per epoch at least; an epoch also draws "
                                "every model of the pool once")
    min_exposure: float = Field(24.0, ge=0, description="episodes per model, on average over the pool, before "
                                "early stopping may end the run")
    max_epochs: int = Field(40, gt=0, description="upper bound on epochs; the learning-rate schedule spans them")
    patience: int = Field(4, ge=1, description="epochs without improvement before stopping")
    monitor: Monitor = Field("val_loss", description="validation metric for early stopping and the best checkpoint")
    lr: float = Field(1e-3, gt=0, description="AdamW peak learning rate, after warm-up")
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine decay ends at lr times this")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    warmup_steps: int = Field(100, ge=0, description="steps of linear learning-rate warm-up")
    grad_clip: float = Field(1.0, gt=0, description="gradient-norm clip")
    ema_decay: float | None = Field(0.995, gt=0, lt=1, description="validate and keep an exponential moving "
                                    "average of the weights with this decay per step (None: the raw weights)")
    consistency: float = Field(0.1, ge=0, description="weight of the consistency term: two context subsets of "
                               "each model embed closer to each other than to the batch's other models (0: off)")
    consistency_temperature: float = Field(0.5, gt=0, description="temperature of the consistency term, relative "
                                           "to the batch's mean squared distance between embeddings")
    max_minutes: float | None = Field(None, gt=0, description="wall-time budget: the learning-rate schedule fits "
                                      "in it and training stops when it is spent (checked every step)")

    @model_validator(mode="after")
    def _context_range(self) -> TrainConfig:
        if self.min_context > self.max_context:
            raise ValueError(f"min_context={self.min_context} exceeds max_context={self.max_context}")
        return self

    @property
    def views(self) -> int:
        """Context subsets drawn per model and episode: two when the consistency term compares them."""
        return 2 if self.consistency > 0 else 1

    @property
    def higher_is_better(self) -> bool:
        return self.monitor != "val_loss"


class TrainRun(BaseModel):
    """What a run trains on and how: data, network shape and optimisation (saved with the version)."""

    model_config = ConfigDict(extra="forbid")

    encoder: str = Field(DEFAULT_ENCODER, description="query encoder whose vectors the network reads")
    scorer: str | None = Field(None, description="use only evaluations of this scorer (default: per benchmark, "
                                                 "the scorer with the most evaluations)")
    exclude: list[str] = Field(default_factory=list, description="models left out of training, to be embedded "
                                                                 "afterwards from their evaluations (no retraining)")
    train: TrainConfig = Field(default_factory=TrainConfig)
    model: ModelShape = Field(default_factory=ModelShape)
