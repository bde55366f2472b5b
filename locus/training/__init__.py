"""Training the LOCUS network on episodes of (model, evaluation subset, target subset)."""

from locus.training.config import TrainConfig
from locus.training.loop import FitResult, Trainer

__all__ = ["FitResult", "TrainConfig", "Trainer"]
