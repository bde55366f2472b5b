"""The FastAPI ingress: validation, limits, auth and error mapping in front of the deployments.

Bad input never reaches a 500: a body over the byte limit gets 413 (counting the bytes read,
chunked or not), a body that is not text 400, malformed or out-of-range fields and over-long lists
422, unknown models or queries 404, a pool that cannot answer 409, a missing or wrong token
401/403, a request over its time budget 504 and a full server 503 (both with Retry-After). Every
status is in the OpenAPI document, and every error body is `ErrorBody` JSON (`error`, and
`details` for 422).

No `from __future__ import annotations` here: Serve ships the ingress class by value, and the copy
keeps only the globals its code names. String annotations ("RouteRequest", "Request") then resolve
to nothing in the replica, and FastAPI 0.137+ reads such parameters as query parameters (every POST
answered 422 "query.body: Field required"). Real annotations travel with the functions. The copy
is made when the class is decorated, so the helpers its methods call are defined above it."""

import asyncio
import hmac
import logging
import time

import grpc
import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from locus.serve.cache import VectorCache
from locus.serve.metrics import metrics
from locus.serve.settings import ServeSettings
from ray import serve
from ray.exceptions import ActorUnavailableError, NodeDiedError, ObjectLostError, RayActorError
from ray.serve.exceptions import BackPressureError
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from locus.api import (
    CompareRequest,
    CompareResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    ErrorBody,
    Health,
    ModelPage,
    ModelsResponse,
    NeighboursResponse,
    PortfolioRequest,
    PortfolioResponse,
    RouteRequest,
    RouteResponse,
)
from locus.errors import ConflictError, LocusDataError, NotFoundError

log = logging.getLogger("ray.serve")  # into the replica's log, where Serve's own lines go

# Set per replica from its settings (Serve ships the ingress class by value, with copies of the
# globals it names; the middleware and the OpenAPI builder, shipped by reference, read these)
_limits = {name: ServeSettings.model_fields[name].default
           for name in ("max_request_bytes", "max_query_chars", "max_batch", "max_evaluations")}
RETRY_AFTER_S = 1
EXACT_CHUNK = 256  # texts per call of the exact encoder: spreads a large registration over the replicas
api = FastAPI(title="LOCUS", description="Route queries to the LLM most likely to answer them; embed, compare "
                                         "and find neighbours of models from their evaluations.")


class HTTPProblem(Exception):
    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


def _error(status: int, message: str, *, headers: dict | None = None, **extra) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message, **extra}, headers=headers)


@api.exception_handler(HTTPProblem)
async def _problem(_: Request, exc: HTTPProblem) -> JSONResponse:
    headers = None if exc.retry_after is None else {"Retry-After": str(exc.retry_after)}
    return _error(exc.status, str(exc), headers=headers)


@api.exception_handler(StarletteHTTPException)
async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    """Starlette's own answers (no such path 404, wrong method 405) in the API's error shape."""
    return _error(exc.status_code, str(exc.detail), headers=exc.headers)


@api.exception_handler(RequestValidationError)
async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
    first = details[0] if details else {"field": "body", "message": "invalid request"}
    return _error(422, f"{first['field']}: {first['message']}", details=details)


@api.exception_handler(LocusDataError)
async def _bad_data(_: Request, exc: LocusDataError) -> JSONResponse:
    status = 404 if isinstance(exc, NotFoundError) else 409 if isinstance(exc, ConflictError) else 422
    return _error(status, str(exc))


@api.exception_handler(BackPressureError)
async def _busy(_: Request, exc: BackPressureError) -> JSONResponse:
    return _error(503, "the server is at capacity; retry shortly", headers={"Retry-After": str(RETRY_AFTER_S)})


@api.exception_handler(Exception)
async def _internal(_: Request, exc: Exception) -> JSONResponse:
    log.error("internal error answering a request", exc_info=exc)
    return _error(500, f"internal error ({type(exc).__name__}); the server logs have the details")


def _too_large(size: str, limit: int) -> JSONResponse:
    return _error(413, f"request body of {size} bytes exceeds the limit of {limit} bytes")


class _HTTPMiddleware:
    """Plain ASGI middleware that sees HTTP requests only: Starlette's BaseHTTPMiddleware would wrap
    every response in a stream, a tenth of the ingress's CPU."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class _BodyLimit(_HTTPMiddleware):
    """413 for a body over the limit: a declared length before anything is read, and otherwise
    (chunked, or a lying Content-Length) as soon as the bytes read pass it; the app then gets the
    body from memory."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = _limits["max_request_bytes"]
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _too_large(length.decode(errors="replace"), limit)(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(f"more than {limit}", limit)(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            return body.pop() if body else await receive()

        await self.app(scope, replay, send)


class _Counted(_HTTPMiddleware):
    """Counts every answer by endpoint (the route's path template) and status."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = ["none"]

        async def sent(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route = scope.get("route")
            metrics().requests.inc(tags={"endpoint": getattr(route, "path", "unmatched"), "status": status[0]})


api.add_middleware(_BodyLimit)
api.add_middleware(_Counted)  # outermost: counts the 413s too


def _errors(*statuses: int) -> dict:
    """OpenAPI responses of the error statuses an endpoint answers, all with the one error body."""
    why = {400: "the body is not JSON text", 401: "no bearer token", 403: "the token is not valid here",
           404: "no such model or query",
           409: "nothing left to route to (every candidate unavailable or held back)",
           413: "body over the byte limit", 422: "invalid field or a list over its limit (details name each field)",
           503: "at capacity (Retry-After says when to retry)",
           504: "over the request's time budget (Retry-After says when to retry)"}
    retry = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    return {s: {"model": ErrorBody, "description": why[s], **({"headers": retry} if s in (503, 504) else {})}
            for s in statuses}


READ_ERRORS = (401, 403, 503, 504)
BODY_ERRORS = (400, 413, 422)


def _openapi() -> dict:
    """The OpenAPI document with this replica's limits in the request schemas, so that it is the
    whole contract: a request valid by the document is never refused for its shape."""
    if api.openapi_schema is None:
        api.openapi_schema = get_openapi(title=api.title, version="1", description=api.description,
                                         routes=api.routes)
    schemas = api.openapi_schema["components"]["schemas"]
    route, evaluation = schemas["RouteRequest"]["properties"], schemas["Evaluation"]["properties"]
    route["query"]["maxLength"] = route["queries"]["items"]["maxLength"] = _limits["max_query_chars"]
    evaluation["query"]["maxLength"] = _limits["max_query_chars"]
    route["queries"]["maxItems"] = _limits["max_batch"]
    schemas["EmbeddingRequest"]["properties"]["evaluations"]["maxItems"] = _limits["max_evaluations"]
    return api.openapi_schema


api.openapi = _openapi


# how gRPC reports a peer that went away mid-call (socket closed, stream reset, stream removed)
LOST_CONNECTION = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})


def _replica_lost(exc: BaseException | None) -> bool:
    """The replica, or the node it ran on, went away while it had the call: ActorUnavailableError,
    ActorDiedError, NodeDiedError or a lost result (ObjectLostError), raised as such or as the cause
    of the error raised, or in throughput mode a gRPC call cut off (UNAVAILABLE, UNKNOWN, INTERNAL:
    every LOCUS call may be repeated, so a bug reported that way costs retries, then a 503)."""
    for _ in range(4):  # the error and its causes
        if exc is None:
            return False
        if isinstance(exc, ActorUnavailableError | RayActorError | NodeDiedError | ObjectLostError):
            return True
        if isinstance(exc, grpc.aio.AioRpcError) and exc.code() in LOST_CONNECTION:
            return True
        exc = getattr(exc, "cause", None) or exc.__cause__
    return False


async def _called(target, args: tuple, attempts: int = 3):
    """The result of `target.remote(*args)`, sent again (to another replica) when the replica that had
    it died: every LOCUS call may be repeated (reads, and registrations, which upsert). Bad input
    found by a replica arrives wrapped, and is raised as itself."""
    for attempt in range(attempts):
        response = target.remote(*args)
        try:
            return await response
        except asyncio.CancelledError:
            response.cancel()
            raise
        except Exception as exc:
            if isinstance(getattr(exc, "cause", None), LocusDataError):
                raise exc.cause from None
            if not _replica_lost(exc):
                raise
            if attempt == attempts - 1:
                raise HTTPProblem(503, f"the replica answering this died {attempts} times; retry shortly",
                                  retry_after=RETRY_AFTER_S) from None
            await asyncio.sleep(0.05 * 2 ** attempt)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _token_matches(given: str, expected: str | None) -> bool:
    """Compared as bytes: headers arrive as latin-1 text, tokens may be any text."""
    return expected is not None and hmac.compare_digest(given.encode("latin-1"), expected.encode())


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
        from locus.serve import ingress as module

        module._limits.update({name: getattr(self.settings, name) for name in module._limits})

    def _holds(self, request: Request, *, write: bool) -> bool:
        """Whether the request's bearer token grants writes (the write token) or reads (either)."""
        given = _bearer(request)
        accepted = [self.settings.write_token] if write else [self.settings.read_token, self.settings.write_token]
        return given is not None and any(_token_matches(given, t) for t in accepted)

    def _authorize(self, request: Request, *, write: bool) -> None:
        """401/403 unless the request carries the token this access needs (no read token set: reads
        are open)."""
        token = self.settings.write_token if write else self.settings.read_token
        if token is None:
            if write:
                raise HTTPProblem(403, "registration is disabled: start the server with a write token "
                                       "(LOCUS_WRITE_TOKEN)")
            return
        if _bearer(request) is None:
            raise HTTPProblem(401, "missing bearer token: send 'Authorization: Bearer <token>'")
        if not self._holds(request, write=write):
            raise HTTPProblem(403, "the bearer token is not valid for this endpoint")

    async def _answer(self, target, *args):
        """`target.remote(*args)` (a deployment or one of its methods) within the request's time
        budget: 504 past it, 503 if replicas kept dying under it."""
        budget = self.settings.request_timeout_s
        try:
            return await asyncio.wait_for(_called(target, args), budget)
        except TimeoutError:
            raise HTTPProblem(504, f"the request took longer than its budget of {budget:g} s; retry later or "
                                   f"send less", retry_after=RETRY_AFTER_S) from None

    def _check_texts(self, texts: list[str], field: str) -> None:
        limit = self.settings.max_query_chars
        for i, t in enumerate(texts):
            if len(t) > limit:
                raise HTTPProblem(422, f"{field}[{i}]: {len(t)} characters exceed the limit of {limit}")

    @api.get("/healthz", response_model=Health, response_model_exclude_none=True, responses=_errors(503, 504))
    async def healthz(self, request: Request) -> Health:
        """"ok" while the app serves; with the version and model count when reads are open or the
        request carries a token for them."""
        if self.settings.read_token is not None and not self._holds(request, write=False):
            return Health()
        return Health(**(await self._answer(self.locus.info)).model_dump())

    @api.post("/v1/route", response_model=RouteResponse, responses=_errors(*READ_ERRORS, *BODY_ERRORS, 404, 409))
    async def route(self, body: RouteRequest, request: Request) -> RouteResponse:
        """The model most likely to answer each query correctly, ranked candidates, and the proxy used
        when the best model is unavailable. Models embedded from fewer than `min_evaluations`
        evaluations are held back (listed in `held_back`)."""
        started = time.perf_counter()
        self._authorize(request, write=False)
        texts = body.texts
        if len(texts) > self.settings.max_batch:
            raise HTTPProblem(422, f"queries: {len(texts)} exceed the batch limit of {self.settings.max_batch}")
        self._check_texts(texts, "queries")
        routed: RouteResponse = await self._answer(self.locus.route, body, await self._encode(texts))
        watch = metrics()
        for result in routed.results:
            watch.routed.inc(tags={"model_id": result.choice})
            if result.proxy_for is not None:
                watch.proxied.inc(tags={"unavailable": result.proxy_for})
        watch.route_latency.observe(time.perf_counter() - started)
        return routed

    async def _encode(self, texts: list[str]) -> np.ndarray:
        """Routing vectors of `texts`: recent ones from this replica's cache, the rest from the encoder."""
        vectors, missing = self.cache.lookup(texts)
        for outcome, count in (("hit", len(texts) - len(missing)), ("miss", len(missing))):
            if count:
                metrics().cache.inc(count, tags={"outcome": outcome})
        if missing:
            fresh = await self._answer(self.encoder, missing)
            self.cache.put(missing, fresh)
            vectors |= dict(zip(missing, fresh, strict=True))
        return np.stack([vectors[t] for t in texts])

    async def _exact(self, texts: list[str]) -> np.ndarray:
        """Vectors of texts that become stored queries, in chunks spread over the encoder replicas
        (one message per chunk stays far below gRPC's size limit)."""
        chunks = [texts[i:i + EXACT_CHUNK] for i in range(0, len(texts), EXACT_CHUNK)]
        return np.concatenate(await asyncio.gather(*(self._answer(self.encoder.exact, c) for c in chunks)))

    @api.post("/v1/embeddings", response_model=EmbeddingResponse,
              responses=_errors(*READ_ERRORS, *BODY_ERRORS, 404))
    async def embeddings(self, body: EmbeddingRequest, request: Request) -> EmbeddingResponse:
        """Embed a model from its evaluations; with model_id (and the write token) register or refine
        it. Without the write token, at most `max_anonymous_texts` evaluations may name their query
        by text (each text costs an encoder pass); query ids are cheap."""
        write = body.model_id is not None
        self._authorize(request, write=write)
        if len(body.evaluations) > self.settings.max_evaluations:
            raise HTTPProblem(422, f"evaluations: {len(body.evaluations)} exceed the limit of "
                                   f"{self.settings.max_evaluations} per request")
        given = [e.query for e in body.evaluations if e.query is not None]
        if not write and len(given) > self.settings.max_anonymous_texts and not self._holds(request, write=True):
            raise HTTPProblem(403, f"evaluations: {len(given)} query texts exceed the limit of "
                                   f"{self.settings.max_anonymous_texts} without the write token; send query_id "
                                   f"for stored queries, or the write token")
        self._check_texts(given, "evaluations.query")
        text_phi = await self._exact(given) if given else None
        embedded: EmbeddingResponse = await self._answer(self.locus.embed, body, text_phi)
        if embedded.registered:
            metrics().registrations.inc()
        return embedded

    @api.get("/v1/models", response_model=ModelsResponse, responses=_errors(*READ_ERRORS))
    async def models(self, request: Request) -> ModelsResponse:
        self._authorize(request, write=False)
        return ModelsResponse(models=await self._answer(self.locus.models))

    @api.get("/v1/models/{model_id}", response_model=ModelPage, responses=_errors(*READ_ERRORS, 404, 422))
    async def model(self, model_id: str, request: Request) -> ModelPage:
        self._authorize(request, write=False)
        return await self._answer(self.locus.model, model_id)

    @api.get("/v1/models/{model_id}/neighbors", response_model=NeighboursResponse,
             responses=_errors(*READ_ERRORS, 404, 422))
    async def neighbours(self, model_id: str, request: Request,
                         k: int = Query(5, ge=1, le=100)) -> NeighboursResponse:
        self._authorize(request, write=False)
        return await self._answer(self.locus.neighbours, model_id, k)

    @api.post("/v1/compare", response_model=CompareResponse, responses=_errors(*READ_ERRORS, *BODY_ERRORS, 404))
    async def compare(self, body: CompareRequest, request: Request) -> CompareResponse:
        """Embedding distances and predicted disagreement (chance exactly one of a pair is right)."""
        self._authorize(request, write=False)
        return await self._answer(self.locus.compare, body)

    @api.post("/v1/portfolio", response_model=PortfolioResponse, responses=_errors(*READ_ERRORS, *BODY_ERRORS, 409))
    async def portfolio(self, body: PortfolioRequest, request: Request) -> PortfolioResponse:
        """k models (or models within a cost budget) that cover the pool, chosen with no new evaluations."""
        self._authorize(request, write=False)
        return await self._answer(self.locus.portfolio, body)
