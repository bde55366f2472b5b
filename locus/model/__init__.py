"""The LOCUS set encoder and correctness predictor."""

from locus.model.config import ModelConfig
from locus.model.locus import Locus

__all__ = ["Locus", "ModelConfig"]
