"""Hyper-parameters of the LOCUS network, saved with every checkpoint."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelShape(BaseModel):
    """Shape of the set encoder (tokenizer, latent blocks, pooling) and of the predictor: what a run
    configures. The query width is the data's, so it is not here (see `ModelConfig`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dim: int = Field(128, gt=0, description="token and model-embedding width d")
    num_latents: int = Field(64, gt=0, description="learned latents r per bottleneck block")
    depth: int = Field(2, ge=1, description="latent-bottleneck blocks L")
    heads: int = Field(4, ge=1, description="attention heads")
    ff_mult: int = Field(4, ge=1, description="feed-forward width as a multiple of d")
    predictor_hidden: int = Field(64, gt=0, description="hidden width of the correctness predictor")
    mean_path: bool = Field(True, description="add a linear map of the mean token to the pooled embedding")
    dropout: float = Field(0.2, ge=0, lt=1, description="dropout on the predictor's query features and hidden layer")
    query_components: int = Field(0, ge=0, description="read query embeddings centred and projected on this many "
                                  "top principal directions of the training queries (fitted before training, "
                                  "saved with the weights; 0: the raw embeddings). 16 helps pools whose models "
                                  "differ by topic; see benchmarks/README.md")
    refine_steps: int = Field(10, ge=0, description="Adam steps that refine each embedding on the model's own "
                              "evaluations after the encoder's forward pass (0: the forward pass alone)")
    refine_lr: float = Field(0.2, gt=0, description="step size of the refinement")
    refine_prior: float = Field(0.03, ge=0, description="weight of the squared distance to the encoder's embedding "
                                "against the summed log-loss of the model's evaluations: fewer evaluations, "
                                "smaller moves")


class ModelConfig(ModelShape):
    """A network's full configuration: its shape and the width of the query embeddings it reads."""

    query_dim: int = Field(384, gt=0, description="width of the query embeddings phi(x)")

    @classmethod
    def for_queries(cls, shape: ModelShape, query_dim: int) -> ModelConfig:
        """`shape` (a ModelConfig's own query width is replaced) for query embeddings of `query_dim`."""
        return cls.model_validate(shape.model_dump(exclude={"query_dim"}) | {"query_dim": query_dim})
