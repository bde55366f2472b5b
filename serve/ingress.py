"""The FastAPI ingress: validation, limits, auth and error mapping in front of the deployments.

Bad input never reaches a 500: oversized bodies get 413, malformed or out-of-range fields 422,
unknown models 404, a missing or wrong token 401/403; every error body is JSON with `error`.

No `from __future__ import annotations` here: Serve ships the ingress class by value, and the copy
keeps only the globals its code names. String annotations ("RouteRequest", "Request") then resolve
to nothing in the replica, and FastAPI 0.137+ reads such parameters as query parameters (every POST
answered 422 "query.body: Field required"). Real annotations travel with the functions."""

import hmac

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from locus.serve.cache import VectorCache
from locus.serve.settings import ServeSettings
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.types import ASGIApp, Receive, Scope, Send

from locus.api import (
    CompareRequest,
    CompareResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    NeighboursResponse,
    PortfolioRequest,
    PortfolioResponse,
    RouteRequest,
    RouteResponse,
)
from locus.errors import LocusDataError, UnknownModelError

_limits = {"max_request_bytes": ServeSettings.model_fields["max_request_bytes"].default}  # set per replica
api = FastAPI(title="LOCUS", description="Route queries to the LLM most likely to answer them; embed, compare "
                                         "and find neighbours of models from their evaluations.")


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message, **extra})


@api.exception_handler(HTTPProblem)
async def _problem(_: Request, exc: HTTPProblem) -> JSONResponse:
    return _error(exc.status, str(exc))


@api.exception_handler(RequestValidationError)
async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return _error(422, f"{first['field']}: {first['message']}", details=details)


@api.exception_handler(UnknownModelError)
async def _unknown(_: Request, exc: UnknownModelError) -> JSONResponse:
    return _error(404, str(exc))


@api.exception_handler(LocusDataError)
async def _bad_data(_: Request, exc: LocusDataError) -> JSONResponse:
    return _error(422, str(exc))


@api.exception_handler(Exception)
async def _internal(_: Request, exc: Exception) -> JSONResponse:
    return _error(500, f"internal error ({type(exc).__name__}); the server logs have the details")


class _BodyLimit:
    """413 for a declared body over the limit, before anything reads it. Plain ASGI: Starlette's
    BaseHTTPMiddleware would wrap every response in a stream, a tenth of the ingress's CPU."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            limit = _limits["max_request_bytes"]
            length = dict(scope["headers"]).get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > limit):
                message = f"request body of {length.decode(errors='replace')} bytes exceeds the limit of {limit} bytes"
                await _error(413, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)


api.add_middleware(_BodyLimit)


@serve.ingress(api)
class Ingress:
    """The HTTP front: checks, limits and auth, then a typed call of the LOCUS deployment (`app.build`
    makes it a deployment)."""

    def __init__(self, encoder: DeploymentHandle, locus: DeploymentHandle, settings: dict) -> None:
        # handles made here, not the driver's that built the app, so that they follow this cluster's
        # Serve settings (gRPC between replicas in throughput mode, see serve/run.py)
        self.encoder, self.locus = (serve.get_deployment_handle(h.deployment_name, h.app_name)
                                    for h in (encoder, locus))
        self.settings = ServeSettings.model_validate(settings)
        self.cache = VectorCache(self.settings.encoder_cache_size)
        # Serve ships this class by value, with copies of module globals: set the module's own limit,
        # which the middleware (shipped by reference) reads
        from locus.serve import ingress as module

        module._limits["max_request_bytes"] = self.settings.max_request_bytes

    def _authorize(self, request: Request, *, write: bool) -> None:
        token = self.settings.write_token if write else self.settings.read_token
        if token is None:
            if write:
                raise HTTPProblem(403, "registration is disabled: start the server with a write token "
                                       "(LOCUS_WRITE_TOKEN)")
            return
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise HTTPProblem(401, "missing bearer token: send 'Authorization: Bearer <token>'")
        given = header[7:].strip()
        accepted = [token] if write else [token, self.settings.write_token]
        if not any(t and hmac.compare_digest(given, t) for t in accepted):
            raise HTTPProblem(403, "the bearer token is not valid for this endpoint")

    async def _answer(self, response):
        """The result of a deployment call; bad input found by a replica arrives wrapped, and is
        answered with its own message."""
        try:
            return await response
        except Exception as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, LocusDataError):
                raise cause from None
            raise

    def _check_texts(self, texts: list[str], field: str) -> None:
        limit = self.settings.max_query_chars
        for i, t in enumerate(texts):
            if len(t) > limit:
                raise HTTPProblem(422, f"{field}[{i}]: {len(t)} characters exceed the limit of {limit}")

    @api.get("/healthz")
    async def healthz(self) -> dict:
        return {"status": "ok", **(await self._answer(self.locus.info.remote())).model_dump()}

    @api.post("/v1/route", response_model=RouteResponse)
    async def route(self, body: RouteRequest, request: Request) -> RouteResponse:
        """The model most likely to answer each query correctly, ranked candidates, and the proxy used
        when the best model is unavailable."""
        self._authorize(request, write=False)
        texts = body.texts
        if len(texts) > self.settings.max_batch:
            raise HTTPProblem(422, f"queries: {len(texts)} exceed the batch limit of {self.settings.max_batch}")
        self._check_texts(texts, "queries")
        return await self._answer(self.locus.route.remote(body, await self._encode(texts)))

    async def _encode(self, texts: list[str]) -> np.ndarray:
        """Routing vectors of `texts`: recent ones from this replica's cache, the rest from the encoder."""
        vectors, missing = self.cache.lookup(texts)
        if missing:
            fresh = await self.encoder.remote(missing)
            self.cache.put(missing, fresh)
            vectors |= dict(zip(missing, fresh, strict=True))
        return np.stack([vectors[t] for t in texts])

    @api.post("/v1/embeddings", response_model=EmbeddingResponse)
    async def embeddings(self, body: EmbeddingRequest, request: Request) -> EmbeddingResponse:
        """Embed a model from its evaluations; with model_id (and the write token) register or refine it."""
        self._authorize(request, write=body.model_id is not None)
        if len(body.evaluations) > self.settings.max_evaluations:
            raise HTTPProblem(413, f"evaluations: {len(body.evaluations)} exceed the limit of "
                                   f"{self.settings.max_evaluations} per request")
        texts = [e.query for e in body.evaluations]
        given = [t for t in texts if t is not None]
        self._check_texts(given, "evaluations.query")
        text_phi = await self.encoder.exact.remote(given) if given else None
        return await self._answer(self.locus.embed.remote(body, text_phi))

    @api.get("/v1/models")
    async def models(self, request: Request) -> dict:
        self._authorize(request, write=False)
        return {"models": await self._answer(self.locus.models.remote())}

    @api.get("/v1/models/{model_id}")
    async def model(self, model_id: str, request: Request) -> dict:
        self._authorize(request, write=False)
        return await self._answer(self.locus.model.remote(model_id))

    @api.get("/v1/models/{model_id}/neighbors", response_model=NeighboursResponse)
    async def neighbours(self, model_id: str, request: Request,
                         k: int = Query(5, ge=1, le=100)) -> NeighboursResponse:
        self._authorize(request, write=False)
        return await self._answer(self.locus.neighbours.remote(model_id, k))

    @api.post("/v1/compare", response_model=CompareResponse)
    async def compare(self, body: CompareRequest, request: Request) -> CompareResponse:
        """Embedding distances and predicted disagreement (chance exactly one of a pair is right)."""
        self._authorize(request, write=False)
        return await self._answer(self.locus.compare.remote(body))

    @api.post("/v1/portfolio", response_model=PortfolioResponse)
    async def portfolio(self, body: PortfolioRequest, request: Request) -> PortfolioResponse:
        """k models (or models within a cost budget) that cover the pool, chosen with no new evaluations."""
        self._authorize(request, write=False)
        return await self._answer(self.locus.portfolio.remote(body))
