"""Training the LOCUS network on episodes of (model, evaluation subset, target subset): the loop in
`locus.training.loop` (torch), a run from a store in `locus.training.run`, the typed configuration
here (importable without torch)."""

from locus.training.config import TrainConfig, TrainRun

__all__ = ["TrainConfig", "TrainRun"]
