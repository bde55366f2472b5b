"""The two model-holding deployments, plain classes that `app.build` wraps with `serve.deployment`:
the query encoder (sentence-transformers, @serve.batch) and LOCUS (a `PoolService`, vectorised
over every model, refreshed from the registry)."""

from __future__ import annotations

import asyncio

import numpy as np
from locus.serve.metrics import metrics
from locus.serve.settings import ServeSettings
from ray import serve

from locus.api import (
    CompareRequest,
    CompareResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ModelInfo,
    ModelPage,
    NeighboursResponse,
    PortfolioRequest,
    PortfolioResponse,
    RouteRequest,
    RouteResponse,
    ServiceInfo,
)
from locus.service import PoolService
from locus.store import Store


class QueryEncoder:
    """Encodes query texts; concurrent requests are batched into one forward pass. Routing uses the
    fast encoder (truncated, int8 by default); texts that become stored queries of a registered
    model use the exact one, as training did."""

    def __init__(self, encoder: str, settings: dict) -> None:
        import torch

        from locus.encoders import load_serving_encoder

        config = ServeSettings.model_validate(settings)
        torch.set_num_threads(config.encoder_threads)
        self.model = load_serving_encoder(encoder, max_tokens=config.encoder_max_tokens, int8=config.encoder_int8)
        self.encoder = encoder
        self.encode_batch.set_max_batch_size(config.encoder_batch_size)
        self.encode_batch.set_batch_wait_timeout_s(config.encoder_batch_wait_s)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        metrics().batch.observe(len(texts))
        return list(np.asarray(self.model.encode(texts, convert_to_numpy=True), dtype=np.float32))

    async def __call__(self, texts: list[str]) -> np.ndarray:
        return np.stack(await asyncio.gather(*(self.encode_batch(t) for t in texts)))

    def exact(self, texts: list[str]) -> np.ndarray:
        """Vectors from the full encoder, identical to `locus encode`'s (for texts that get stored)."""
        from locus.encoders import encode_texts

        return encode_texts(texts, self.encoder)


class LocusModel:
    """A registry version's pool; sees new registrations without a restart."""

    def __init__(self, settings: dict) -> None:
        config = ServeSettings.model_validate(settings)
        self.service = PoolService(Store(config.root), version=config.version,
                                   reference_queries=config.reference_queries, refresh_seconds=config.refresh_seconds,
                                   min_evaluations=config.min_evaluations, prior_strength=config.prior_strength)

    def info(self) -> ServiceInfo:
        return self.service.info()

    async def route(self, request: RouteRequest, phi: np.ndarray) -> RouteResponse:
        """async though it never awaits: the hot path runs on the replica's event loop (well under a
        millisecond) instead of paying a hop to Serve's thread pool, as the other methods do."""
        return self.service.route(request, phi)

    def models(self) -> list[ModelInfo]:
        return self.service.models()

    def model(self, model_id: str) -> ModelPage:
        return self.service.model(model_id)

    def neighbours(self, model_id: str, k: int) -> NeighboursResponse:
        return self.service.neighbours(model_id, k)

    def compare(self, request: CompareRequest) -> CompareResponse:
        return self.service.compare(request)

    def portfolio(self, request: PortfolioRequest) -> PortfolioResponse:
        return self.service.portfolio(request)

    def embed(self, request: EmbeddingRequest, text_phi: np.ndarray | None) -> EmbeddingResponse:
        return self.service.embed(request, text_phi)

    def feedback(self, model_id: str, text: str, vector: np.ndarray, score: float) -> EmbeddingResponse:
        return self.service.feedback(model_id, text, vector, score)
