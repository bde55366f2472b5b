"""The LOCUS set encoder and correctness predictor: the network in `locus.model.locus` (torch),
its typed configuration here (importable without torch)."""

from locus.model.config import ModelConfig, ModelShape

__all__ = ["ModelConfig", "ModelShape"]
