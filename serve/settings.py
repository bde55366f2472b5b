"""Typed settings of the Serve application (from `locus serve` flags, or `args` in config.yaml)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

from locus.routing import MIN_EVALUATIONS, PRIOR_STRENGTH
from locus.store import StorageRoot


class Autoscaling(BaseModel):
    """Ray Serve autoscaling_config of one deployment."""

    model_config = ConfigDict(extra="forbid")

    min_replicas: int = Field(1, ge=0, description="2 or more: a replica's death stalls nothing (the others "
                                                   "answer while Serve replaces it)")
    max_replicas: int = Field(2, ge=1)
    target_ongoing_requests: float = Field(8, gt=0)
    upscale_delay_s: float = Field(5, ge=0)
    downscale_delay_s: float = Field(30, ge=0)


def ceiling(scaling: Autoscaling, max_replicas: int) -> Autoscaling:
    """`scaling` with at most `max_replicas` replicas (its minimum lowered to fit)."""
    return scaling.model_copy(update={"max_replicas": max_replicas,
                                      "min_replicas": min(scaling.min_replicas, max_replicas)})


class ServeSettings(BaseModel):
    """What the app serves, who may write, and how much one request may ask."""

    model_config = ConfigDict(extra="forbid")

    root: StorageRoot = Field(description="storage root holding the registry")
    version: str = Field("latest", description="registry version; 'latest' follows new registrations")
    write_token: str | None = Field(default_factory=lambda: os.environ.get("LOCUS_WRITE_TOKEN"),
                                    description="bearer token for registering models (unset: registration off)")
    read_token: str | None = Field(default_factory=lambda: os.environ.get("LOCUS_READ_TOKEN"),
                                   description="bearer token for reads (unset: reads are open)")
    max_request_bytes: int = Field(1 << 20, gt=0)
    max_query_chars: int = Field(8000, gt=0)
    max_batch: int = Field(256, gt=0, description="queries per /v1/route request")
    max_evaluations: int = Field(20000, gt=0, description="evaluations per /v1/embeddings request")
    max_anonymous_texts: int = Field(1000, ge=0, description="query texts per /v1/embeddings request without the "
                                                             "write token (each text costs an encoder pass)")
    request_timeout_s: float = Field(20.0, gt=0, description="time budget of each call a request makes to a "
                                                             "deployment: past it the answer is 504 with Retry-After")
    min_evaluations: int = Field(MIN_EVALUATIONS, ge=0, description="models embedded from fewer evaluations are not "
                                                                    "routed to unless a request asks")
    prior_strength: float = Field(PRIOR_STRENGTH, ge=0, description="evaluations' worth of weight on the pool's "
                                                                    "average in each model's routing score")
    reference_queries: int = Field(1000, gt=0, description="store queries used to predict disagreement")
    refresh_seconds: float = Field(1.0, ge=0, description="how often replicas look for registry changes")
    encoder_batch_size: int = Field(32, gt=0, description="@serve.batch size of the query encoder")
    encoder_batch_wait_s: float = Field(0.005, ge=0)
    encoder_cache_size: int = Field(10000, ge=0, description="recent query texts whose vectors each ingress "
                                                                 "replica keeps")
    encoder_max_tokens: int | None = Field(128, gt=0, description="word pieces of a query the encoder reads (None: "
                                                                  "the encoder's own limit)")
    encoder_int8: bool = Field(True, description="int8 dynamic quantization of the encoder's Linear layers")
    encoder_threads: int = Field(1, gt=0, description="torch threads of each encoder replica (small batches "
                                                      "gain little from more: scale replicas instead)")
    max_ongoing_requests: int = Field(64, gt=0, description="in flight per replica; at least the encoder's batch "
                                                                 "size, or @serve.batch never fills")
    encoder: Autoscaling = Field(default_factory=Autoscaling)
    locus: Autoscaling = Field(default_factory=lambda: Autoscaling(min_replicas=2))
    ingress: Autoscaling = Field(default_factory=lambda: Autoscaling(min_replicas=2))
