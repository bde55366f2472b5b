"""Hyper-parameters of the LOCUS network, saved with every checkpoint."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    """Shape of the set encoder (tokenizer, latent blocks, pooling) and of the predictor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    query_dim: int = Field(384, gt=0, description="width of the query embeddings phi(x)")
    dim: int = Field(128, gt=0, description="token and model-embedding width d")
    num_latents: int = Field(64, gt=0, description="learned latents r per bottleneck block")
    depth: int = Field(2, ge=1, description="latent-bottleneck blocks L")
    heads: int = Field(4, ge=1, description="attention heads")
    ff_mult: int = Field(4, ge=1, description="feed-forward width as a multiple of d")
    predictor_hidden: int = Field(64, gt=0, description="hidden width of the correctness predictor")
    mean_path: bool = Field(True, description="add a linear map of the mean token to the pooled embedding")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout on the predictor's query features and hidden layer")
