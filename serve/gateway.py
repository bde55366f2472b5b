"""The routed gateway: one OpenAI-compatible endpoint in front of many models. A request whose
`model` is the routing alias (`locus/auto`) goes to the model LOCUS predicts most likely to answer
its text, within the request's policy; a concrete model name passes through to that model's backend.

When the chosen backend is down, overloaded (429), failing (5xx) or slow past its timeout, the
request goes to the route's fallbacks in order (the nearest neighbour in embedding space first),
and the failed backend is skipped for `retry_down_s`. A stream falls back only before its first
chunk. Each answer says in headers (and a `locus` field of a JSON body) which model answered, its
p(correct), the runner-up, the proxy used and the time routing took.

Errors are OpenAI's shape: {"error": {"message", "type", "param", "code"}}.

No `from __future__ import annotations` (see locus.serve.ingress: Serve ships the class by value)."""

import asyncio
import logging
import time
from typing import Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from locus.serve.backends import BackendDown, BackendRefused, OpenAIBackend, stream_usage, usage_of
from locus.serve.cache import VectorCache
from locus.serve.gateway_backends import current, registry_version
from locus.serve.gateway_settings import Backend, GatewaySettings, RoutingPolicy
from locus.serve.ingress import _bearer, _called, _token_matches
from locus.serve.metrics import metrics
from locus.serve.onboarding_jobs import jobs_client
from locus.serve.onboarding_jobs import status as onboarding_status
from locus.serve.onboarding_jobs import submit as submit_onboarding
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.exceptions import HTTPException as StarletteHTTPException

from locus.api import (
    DriftCheckRequest,
    FeedbackRequest,
    FeedbackResponse,
    OnboardingStatus,
    OnboardRequest,
    RouteRequest,
    RouteResponse,
)
from locus.errors import ConflictError, LocusDataError
from locus.feedback import ResponseLog, new_response_id
from locus.registration import adhoc_query_id
from locus.store import Store

gateway_api = FastAPI(title="LOCUS gateway", description="OpenAI-compatible chat and text completions, each "
                                                         "routed to the model most likely to answer it.")
LATENCY_MEMORY = 0.8  # weight of the past in each backend's running time-to-first-token
log = logging.getLogger(__name__)


class OpenAIError(Exception):
    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.param, self.code, self.kind = status, param, code, kind

    def response(self) -> JSONResponse:
        return JSONResponse(status_code=self.status, content={"error": {
            "message": str(self), "type": self.kind, "param": self.param, "code": self.code}})


@gateway_api.exception_handler(OpenAIError)
async def _openai_error(_: Request, exc: OpenAIError) -> JSONResponse:
    return exc.response()


@gateway_api.exception_handler(StarletteHTTPException)
async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
    return OpenAIError(exc.status_code, str(exc.detail)).response()


@gateway_api.exception_handler(Exception)
async def _internal_error(_: Request, exc: Exception) -> JSONResponse:
    return OpenAIError(500, f"internal error ({type(exc).__name__}); the gateway logs have the details",
                       kind="server_error").response()


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class Completion(BaseModel):
    """The fields the gateway reads; every other field goes to the backend unchanged."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    stream: bool = False
    locus: RoutingPolicy | None = Field(None, description="this request's routing policy (the config's defaults "
                                                          "for fields left out)")


class ChatCompletion(Completion):
    messages: list[Message] = Field(min_length=1)


class TextCompletion(Completion):
    prompt: str | list[str]


def _parsed(kind: type[BaseModel], body: Any) -> BaseModel:
    if not isinstance(body, dict):
        raise OpenAIError(400, "the request body must be a JSON object")
    try:
        return kind.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise OpenAIError(400, f"{field}: {first['msg']}", param=field) from None


def routed_text(messages: list[Message], mode: str) -> str:
    """The text of a chat that is routed: its last user turn, every turn, or the system prompt and
    the last user turn."""
    users = [m.text for m in messages if m.role == "user"]
    last = users[-1] if users else messages[-1].text
    if mode == "conversation":
        return "\n\n".join(m.text for m in messages if m.text)
    if mode == "system_and_last_user":
        system = [m.text for m in messages if m.role in ("system", "developer")]
        return "\n\n".join([*system, last]) if system else last
    return last


def _headers(answer: dict) -> dict[str, str]:
    out = {"x-locus-model": answer["model"], "x-locus-fallbacks": str(len(answer["fallbacks"]))}
    if "response_id" in answer:
        out["x-locus-response-id"] = answer["response_id"]
    for key, header in (("p_correct", "x-locus-p-correct"), ("runner_up", "x-locus-runner-up"),
                        ("proxy_for", "x-locus-proxy-for"), ("route_ms", "x-locus-route-ms")):
        if answer.get(key) is not None:
            out[header] = f"{answer[key]:.4f}" if isinstance(answer[key], float) else str(answer[key])
    if answer["fallbacks"]:
        out["x-locus-failed"] = ",".join(answer["fallbacks"])
    return out


@serve.ingress(gateway_api)
class Gateway:
    """The gateway's HTTP front (`gateway_app.build_gateway` makes it a deployment)."""

    def __init__(self, encoder: DeploymentHandle, locus: DeploymentHandle, settings: dict,
                 drift: DeploymentHandle | None = None) -> None:
        """`drift`: the drift watch (locus.serve.drift_watch), when the settings schedule checks."""
        self.encoder, self.locus = (serve.get_deployment_handle(h.deployment_name, h.app_name)
                                    for h in (encoder, locus))
        self.drift = None if drift is None else serve.get_deployment_handle(drift.deployment_name, drift.app_name)
        self.settings = GatewaySettings.model_validate(settings)
        self.backends: dict[str, OpenAIBackend] = {}
        self.routable: list[str] = []  # the backends' models the pool has embedded (the others only pass through)
        self._adopt(*current(self.settings))
        self._following: asyncio.Task | None = None
        self._jobs = None  # the Jobs API client, made at the first onboarding
        self.cache = VectorCache(self.settings.encoder_cache_size)
        self.down_until: dict[str, float] = {}
        self.first_token_s: dict[str, float] = {}
        self.created = int(time.time())
        self.answers = ResponseLog(Store(self.settings.root)) if self.settings.feedback else None
        self._flushing: asyncio.Task | None = None

    def __del__(self) -> None:
        """On a graceful shutdown, write the answers not written yet."""
        answers = getattr(self, "answers", None)  # None too when the constructor failed
        if answers is not None:
            try:
                answers.flush()
            except Exception:  # a replica going away cannot do more than say so
                log.exception("answers not written on shutdown: feedback on them will not be found")

    # -- following the registry --------------------------------------------------------------------
    def _adopt(self, backends: list[Backend], routable: list[str]) -> None:
        """Serve `backends` from now on, keeping the client of each one whose address is unchanged."""
        kept = {}
        for b in backends:
            old, url = self.backends.get(b.model_id), self.settings.base_url(b)
            same = old is not None and (old.base_url, old.served_name) == (url, b.name)
            kept[b.model_id] = old if same else OpenAIBackend(model_id=b.model_id, base_url=url, served_name=b.name,
                                                             api_key_env=b.api_key_env, timeout_s=b.timeout_s)
        added = sorted(set(kept) - set(self.backends))
        if added and self.backends:
            log.info("new backends from the models table: %s", ", ".join(added))
        self.backends, self.routable = kept, routable

    def _follow(self) -> None:
        """Start this replica's look at the registry every refresh_seconds (from its first request on)."""
        if self._following is None or self._following.done():
            self._following = asyncio.get_running_loop().create_task(self._following_loop())

    async def _following_loop(self) -> None:
        store, seen = Store(self.settings.root), None
        while True:
            await asyncio.sleep(self.settings.refresh_seconds)
            try:
                now = await asyncio.to_thread(registry_version, store)
                if now != seen:
                    self._adopt(*await asyncio.to_thread(current, self.settings, store))
                    seen = now
            except Exception:  # the backends stay as they were
                log.exception("reading the models table failed; retrying in %g s", self.settings.refresh_seconds)

    # -- the endpoints -----------------------------------------------------------------------------
    @gateway_api.get("/v1/models")
    async def models(self, request: Request) -> dict:
        self._authorize(request)
        ids = [self.settings.alias, *self.backends]
        return {"object": "list", "data": [{"id": m, "object": "model", "created": self.created, "owned_by": "locus"}
                                           for m in ids]}

    @gateway_api.post("/v1/chat/completions")
    async def chat(self, request: Request) -> Response:
        self._authorize(request)
        body = _parsed(ChatCompletion, await self._json(request))
        size = sum(len(m.text) for m in body.messages)
        text = routed_text(body.messages, self.settings.routed_text)
        return await self._serve("/chat/completions", body, size, text, "messages")

    @gateway_api.post("/v1/completions")
    async def completions(self, request: Request) -> Response:
        self._authorize(request)
        body = _parsed(TextCompletion, await self._json(request))
        prompts = [body.prompt] if isinstance(body.prompt, str) else body.prompt
        if body.model == self.settings.alias and len(prompts) != 1:
            raise OpenAIError(400, f"prompt: {self.settings.alias} routes one prompt per request, got {len(prompts)}",
                              param="prompt")
        return await self._serve("/completions", body, sum(len(p) for p in prompts), prompts[0] if prompts else "",
                                 "prompt")

    @gateway_api.post("/v1/feedback")
    async def feedback(self, request: Request) -> JSONResponse:
        """How good an earlier answer was (by its id): stored as an evaluation of the model that
        answered, on the routed text as a query, and that model embedded again (write token)."""
        self._authorize_write(request, "feedback")
        body: FeedbackRequest = _parsed(FeedbackRequest, await self._json(request))
        if self.answers is None:
            raise OpenAIError(404, "feedback is off in this gateway's settings (feedback: false)", code="feedback_off")
        answered = await asyncio.to_thread(self.answers.find, body.response_id)
        if answered is None:
            raise OpenAIError(404, f"response_id: {body.response_id!r} is not an answer of this gateway (an answer "
                                   f"is findable everywhere within feedback_flush_s="
                                   f"{self.settings.feedback_flush_s:g} s; retry shortly if it is that recent)",
                              param="response_id", code="response_not_found")
        try:
            vector = await asyncio.wait_for(_called(self.encoder.exact, ([answered.text],)),
                                            self.settings.request_timeout_s)
            refined = await asyncio.wait_for(
                _called(self.locus.feedback, (answered.model_id, answered.text, vector[0], body.score)),
                self.settings.request_timeout_s)
        except TimeoutError:
            raise OpenAIError(504, f"storing the feedback took longer than {self.settings.request_timeout_s:g} s; "
                                   f"send it again (it is stored once)", kind="server_error") from None
        except LocusDataError as exc:
            raise OpenAIError(400, str(exc)) from None
        metrics().gateway_feedback.inc(tags={"model_id": answered.model_id})
        return JSONResponse(FeedbackResponse(response_id=answered.response_id, model_id=answered.model_id,
                                             query_id=adhoc_query_id(answered.text), version=refined.version,
                                             n_evaluations=refined.n_evaluations).model_dump())

    @gateway_api.post("/v1/models", status_code=202)
    async def onboard(self, request: Request) -> JSONResponse:
        """Onboard a model (write token): a Ray job evaluates it on the queries the onboarding strategy
        picks (vLLM on this cluster), embeds and registers it, and every gateway replica routes to it
        within refresh_seconds of that. Answers 202 at once; GET /v1/onboarding/{id} follows the job."""
        self._authorize_write(request, "onboarding")
        body: OnboardRequest = _parsed(OnboardRequest, await self._json(request))
        try:
            job_id = await asyncio.to_thread(lambda: submit_onboarding(self._jobs_client(), self.settings, body))
            status = await asyncio.to_thread(onboarding_status, self._jobs, job_id, self.routable)
        except ConflictError as exc:
            raise OpenAIError(409, str(exc), param="model_id", code="onboarding_in_progress") from None
        return JSONResponse(status.model_dump(), status_code=202, headers={"location": f"/v1/onboarding/{job_id}"})

    @gateway_api.get("/v1/onboarding/{job_id}")
    async def onboarding(self, job_id: str, request: Request) -> JSONResponse:
        """Where an onboarding stands: the job's status and last log lines, and whether this replica
        routes to the model yet."""
        self._authorize(request)
        status: OnboardingStatus | None = await asyncio.to_thread(
            lambda: onboarding_status(self._jobs_client(), job_id, self.routable))
        if status is None:
            raise OpenAIError(404, f"{job_id!r} is not an onboarding job of this cluster", code="job_not_found")
        return JSONResponse(status.model_dump())

    @gateway_api.get("/v1/drift")
    async def drift_reports(self, request: Request) -> JSONResponse:
        """The last drift check of each routed model (drift.every_s schedules them)."""
        self._authorize(request)
        reports = await _called(self._drift_watch().latest, ())
        return JSONResponse({"object": "list", "data": list(reports.values())})

    @gateway_api.post("/v1/drift")
    async def drift_check(self, request: Request) -> JSONResponse:
        """Check now whether the routed models (or the body's `models`) still answer as evaluated
        (write token): each is asked drift.probes queries again through its backend."""
        self._authorize_write(request, "a drift check")
        body: DriftCheckRequest = _parsed(DriftCheckRequest, await self._json(request))
        unknown = [m for m in body.models or () if m not in self.routable]
        if unknown:
            raise OpenAIError(400, f"models: {unknown[0]!r} is not a model this gateway routes to", param="models")
        reports = await _called(self._drift_watch().check, (body.models,))
        return JSONResponse({"object": "list", "data": list(reports.values())})

    def _drift_watch(self) -> DeploymentHandle:
        if self.drift is None:
            raise OpenAIError(404, "drift checks are off in this gateway's settings (set drift.every_s)",
                              code="drift_off")
        return self.drift

    def _jobs_client(self):
        if self._jobs is None:
            try:
                self._jobs = jobs_client(self.settings)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise OpenAIError(503, f"onboarding needs the Ray Jobs API (the dashboard), and it is not reachable: "
                                       f"{exc}", kind="server_error", code="jobs_unavailable") from None
        return self._jobs

    # -- routing and forwarding --------------------------------------------------------------------
    def _authorize_write(self, request: Request, what: str) -> None:
        self._follow()
        token = self.settings.write_token
        if token is None:
            raise OpenAIError(403, f"{what} needs the write token, and this gateway has none (set "
                                   "LOCUS_WRITE_TOKEN or write_token)", code="writes_disabled",
                              kind="permission_error")
        given = _bearer(request)
        if given is None:
            raise OpenAIError(401, f"missing API key: {what} needs 'Authorization: Bearer <write token>'",
                              code="invalid_api_key", kind="authentication_error")
        if not _token_matches(given, token):
            raise OpenAIError(403, "the API key is not the write token", code="invalid_api_key",
                              kind="permission_error")

    def _authorize(self, request: Request) -> None:
        self._follow()
        token = self.settings.read_token
        if token is None:
            return
        given = _bearer(request)
        if given is None:
            raise OpenAIError(401, "missing API key: send 'Authorization: Bearer <key>'", code="invalid_api_key",
                              kind="authentication_error")
        if not _token_matches(given, token):
            raise OpenAIError(401, "the API key is not valid here", code="invalid_api_key", kind="authentication_error")

    @staticmethod
    async def _json(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            raise OpenAIError(400, "the request body is not valid JSON") from None

    async def _serve(self, path: str, body: Completion, size: int, text: str, field: str) -> Response:
        if size > self.settings.max_prompt_chars:
            raise OpenAIError(400, f"{field}: {size} characters exceed the gateway's limit of "
                                   f"{self.settings.max_prompt_chars}", param=field, code="context_length_exceeded")
        payload = body.model_dump(exclude={"locus"}, exclude_unset=True)
        if body.model == self.settings.alias:
            answer, order = await self._route(text, self.settings.policy.merged(body.locus))
        elif body.model in self.backends:
            answer, order = {"model": body.model, "fallbacks": []}, [body.model]
        else:
            raise OpenAIError(404, f"model: {body.model!r} is neither {self.settings.alias!r} nor a model of this "
                                   f"gateway (GET /v1/models lists them)", param="model", code="model_not_found")
        return await self._forward(path, payload, body.stream, answer, order, text)

    async def _route(self, text: str, policy: RoutingPolicy) -> tuple[dict, list[str]]:
        """The routing answer (model, p_correct, runner_up, proxy_for) and the models to try, in order."""
        started = time.perf_counter()
        candidates = policy.candidates or self.routable
        unknown = [m for m in candidates if m not in self.routable]
        if unknown:
            raise OpenAIError(400, f"locus.candidates: {unknown[0]!r} is not a routable model of this gateway",
                              param="locus.candidates")
        if policy.max_latency_ms is not None:
            fast = [m for m in candidates if self.first_token_s.get(m, 0.0) * 1000 <= policy.max_latency_ms]
            candidates = fast or candidates
        now = time.monotonic()
        down = [m for m in candidates if self.down_until.get(m, 0.0) > now]
        if len(down) == len(candidates):  # every one failed lately: try them all again rather than refuse
            down = []
        query = RouteRequest(query=text or " ", candidates=candidates, unavailable=down, cost_weight=policy.cost_weight,
                             min_p=policy.min_p, k=2, min_evaluations=policy.min_evaluations)
        try:
            routed: RouteResponse = await asyncio.wait_for(self._routed(query, text or " "),
                                                           self.settings.request_timeout_s)
        except TimeoutError:
            raise OpenAIError(504, f"choosing a model took longer than {self.settings.request_timeout_s:g} s; retry "
                                   f"shortly", kind="server_error", code="routing_timeout") from None
        except ConflictError as exc:
            raise OpenAIError(503, f"no model can take this request: {exc}", kind="server_error") from None
        except LocusDataError as exc:
            raise OpenAIError(400, str(exc), param="locus") from None
        result = routed.results[0]
        runner_up = next((r.model_id for r in result.ranked if r.model_id != result.choice), None)
        elapsed = time.perf_counter() - started
        metrics().gateway_route_latency.observe(elapsed)
        answer = {"model": result.choice, "p_correct": result.p_correct, "runner_up": runner_up,
                  "proxy_for": result.proxy_for, "route_ms": elapsed * 1000, "fallbacks": []}
        return answer, [result.choice, *result.fallbacks]

    async def _routed(self, query: RouteRequest, text: str) -> RouteResponse:
        return await _called(self.locus.route, (query, await self._encode(text)))

    async def _encode(self, text: str) -> np.ndarray:
        found, missing = self.cache.lookup([text])
        if missing:
            vectors = await _called(self.encoder, (missing,))
            self.cache.put(missing, vectors)
            return vectors
        return np.stack([found[text]])

    async def _forward(self, path: str, payload: dict, stream: bool, answer: dict, order: list[str],
                       text: str) -> Response:
        """The first answer among the models of `order`; the ones that failed are named in answer["fallbacks"].
        The answer is recorded (model and routed `text`) under a new response id, for feedback."""
        watch = metrics()
        for model in order:
            backend, started = self.backends[model], time.perf_counter()
            try:
                reply = await (backend.stream(path, payload) if stream else backend.complete(path, payload))
            except BackendDown as exc:
                self.down_until[model] = time.monotonic() + (exc.retry_after or self.settings.retry_down_s)
                answer["fallbacks"].append(model)
                watch.gateway_requests.inc(tags={"model_id": model, "outcome": "failed"})
                continue
            except BackendRefused as exc:
                watch.gateway_requests.inc(tags={"model_id": model, "outcome": "refused"})
                return Response(exc.body, status_code=exc.status, media_type=exc.content_type)
            self._observe(model, time.perf_counter() - started)
            if answer["fallbacks"]:
                watch.gateway_fallbacks.inc(tags={"failed": answer["fallbacks"][0], "answered": model})
            if answer["model"] != model:
                answer = answer | {"proxy_for": answer.get("proxy_for") or answer["model"], "model": model}
            watch.gateway_requests.inc(tags={"model_id": model, "outcome": "answered"})
            answer["response_id"] = self._record(model, text)
            return self._streamed(reply, answer) if stream else self._completed(reply, answer)
        raise OpenAIError(503, f"every model tried failed ({', '.join(answer['fallbacks'])}); retry shortly",
                          kind="server_error", code="backends_unavailable")

    def _record(self, model: str, text: str) -> str:
        """A new response id for this answer, kept with its model and text for feedback (when that is
        on); the answers are written to the store every feedback_flush_s by a task of this replica's
        event loop."""
        if self.answers is None:
            return new_response_id()
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self._flush_answers())
        return self.answers.record(model, text)

    async def _flush_answers(self) -> None:
        while True:
            await asyncio.sleep(self.settings.feedback_flush_s)
            try:
                await asyncio.to_thread(self.answers.flush)
            except Exception:  # kept pending: the next flush writes them
                log.exception("writing the gateway's answers failed; retrying in %g s", self.settings.feedback_flush_s)

    def _observe(self, model: str, first_token_s: float) -> None:
        past = self.first_token_s.get(model)
        self.first_token_s[model] = first_token_s if past is None else (
            LATENCY_MEMORY * past + (1 - LATENCY_MEMORY) * first_token_s)

    def _count_tokens(self, model: str, usage) -> None:
        if usage is not None:
            tokens = metrics().gateway_tokens
            tokens.inc(usage.prompt_tokens, tags={"model_id": model, "direction": "in"})
            tokens.inc(usage.completion_tokens, tags={"model_id": model, "direction": "out"})

    def _completed(self, reply: dict, answer: dict) -> JSONResponse:
        self._count_tokens(answer["model"], usage_of(reply))
        reply = reply | {"model": answer["model"], "locus": answer}
        reply["id"] = answer["response_id"]
        return JSONResponse(reply, headers=_headers(answer))

    def _streamed(self, chunks, answer: dict) -> StreamingResponse:
        async def relay():
            async for chunk in chunks:
                self._count_tokens(answer["model"], stream_usage(chunk))
                yield chunk

        return StreamingResponse(relay(), media_type="text/event-stream", headers=_headers(answer))
