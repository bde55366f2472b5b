"""Typed settings of the routed gateway (`locus gateway --config gateway.yaml`, or `args` of
serve/gateway.yaml): the LOCUS pool it routes with (every `ServeSettings` field), the alias that
routes, what text of a request is routed, the default routing policy, and the backend of each model.

A backend is an OpenAI-compatible server outside the app (`base_url`, a vLLM server or a hosted
API, its key read from an environment variable) or a model hosted in the same Ray cluster by
Ray Serve LLM (`serve_llm`), which `locus.serve.gateway_app` deploys next to the gateway."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from locus.serve.settings import Autoscaling, ServeSettings
from pydantic import BaseModel, ConfigDict, Field, model_validator

from locus.api import OnboardingStrategy
from locus.config_files import read_settings
from locus.drift import PROBES


class RoutingPolicy(BaseModel):
    """How `locus/auto` picks a model; the config sets the defaults, a request's `locus` field overrides them."""

    model_config = ConfigDict(extra="forbid", strict=True)

    candidates: list[str] | None = Field(None, min_length=1, description="route only among these models "
                                                                         "(default: every backend in the pool)")
    min_p: float | None = Field(None, ge=0, le=1, allow_inf_nan=False,
                                description="the cheapest model whose calibrated p(correct) reaches this")
    cost_weight: float = Field(0.0, ge=0, allow_inf_nan=False, description="utility = p - weight * cost per 1k tokens")
    max_latency_ms: float | None = Field(None, gt=0, allow_inf_nan=False,
                                         description="skip models whose recent time to first token (to the whole "
                                                     "answer, when not streamed) is over this")
    min_evaluations: int | None = Field(None, ge=0, description="route only to models embedded from at least this "
                                                                "many evaluations (default: the pool's)")

    def merged(self, override: RoutingPolicy | None) -> RoutingPolicy:
        """This policy with the fields `override` sets replacing its own."""
        return self if override is None else self.model_copy(update=override.model_dump(exclude_unset=True))


class ServeLLM(BaseModel):
    """A model hosted by Ray Serve LLM (vLLM) in the gateway's cluster."""

    model_config = ConfigDict(extra="forbid")

    model_source: str = Field(description="local folder or hub id of the weights")
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="vLLM engine arguments")
    accelerator: Literal["cpu", "gpu"] = "gpu"
    cpus: float = Field(1.0, gt=0, description="CPUs of the engine's placement bundle")
    env_vars: dict[str, str] = Field(default_factory=dict, description="environment of the engine's replicas")
    autoscaling: Autoscaling = Field(default_factory=lambda: Autoscaling(min_replicas=1, max_replicas=1))


class Backend(BaseModel):
    """Where one model answers: exactly one of `base_url` or `serve_llm`."""

    model_config = ConfigDict(extra="forbid")

    model_id: str = Field(min_length=1, description="the model's id in the LOCUS pool, and the name clients use")
    served_name: str | None = Field(None, description="the name the backend knows the model by (default: model_id)")
    base_url: str | None = Field(None, pattern=r"^https?://", description="OpenAI-compatible API root, e.g. "
                                                                        "http://10.0.0.5:8000/v1")
    api_key_env: str | None = Field(None, description="environment variable holding the backend's API key")
    serve_llm: ServeLLM | None = None
    timeout_s: float = Field(60.0, gt=0, description="budget for the first token of a stream, or the whole answer "
                                                    "of a request not streamed (and each later read); past it the "
                                                    "next model answers")

    @model_validator(mode="after")
    def _one_kind(self) -> Backend:
        if (self.base_url is None) == (self.serve_llm is None):
            raise ValueError(f"backend {self.model_id!r}: give exactly one of base_url or serve_llm")
        return self

    @property
    def name(self) -> str:
        return self.served_name or self.model_id


class Onboarding(BaseModel):
    """How `POST /v1/models` onboards a model: a Ray job on this cluster runs `locus onboard --run`."""

    model_config = ConfigDict(extra="forbid")

    config: str | None = Field(None, description="evaluation config (YAML) as the cluster's head sees it: "
                                                 "benchmarks, prompts, scorers, sampling and resources (default: "
                                                 "each benchmark of the store, choice scorer)")
    budget: int = Field(128, ge=1, description="queries a model is evaluated on, unless its request says")
    strategy: OnboardingStrategy = Field("stratified", description="how they are picked, unless the request says")
    jobs_address: str | None = Field(None, pattern=r"^https?://",
                                     description="the Ray Jobs API to submit to (default: this cluster's dashboard)")


class DriftChecks(BaseModel):
    """The gateway's scheduled drift check (`locus.drift`, as `locus drift` runs it): every `every_s`
    each model the gateway routes to is asked `probes` queries it was evaluated on again, through its
    backend; the last reports are at GET /v1/drift and in the locus_drift_* metrics."""

    model_config = ConfigDict(extra="forbid")

    every_s: float | None = Field(None, gt=0, description="seconds between rounds (default: no checks); "
                                                          "POST /v1/drift also checks at once")
    config: str | None = Field(None, description="the evaluation config (YAML) that evaluated the models: its first "
                                                 "benchmark's prompt and scorer, and its sampling (default: the "
                                                 "choice scorer)")
    probes: int = Field(PROBES, ge=2, description="queries each model is asked again per round")
    stored_scorer: str | None = Field(None, description="the scorer of the stored evaluations, where not the config's")


class GatewaySettings(ServeSettings):
    alias: str = Field("locus/auto", min_length=1, description="the `model` value that asks LOCUS to route")
    routed_text: Literal["last_user", "conversation", "system_and_last_user"] = Field(
        "last_user", description="what of a chat is routed: the last user turn, every turn, or the system prompt "
                                 "and the last user turn")
    policy: RoutingPolicy = Field(default_factory=RoutingPolicy)
    backends: list[Backend] = Field(default_factory=list, description="where each model answers; models whose "
                                                                      "models-table row has an http(s) served_at "
                                                                      "are added")
    models_route_prefix: str = Field("/serve-llm", pattern=r"^/[\w-]+$",
                                     description="where the Ray Serve LLM app of serve_llm backends is mounted")
    port: int = Field(8000, gt=0, lt=65536, description="the Serve HTTP port (serve_llm backends are reached on it)")
    retry_down_s: float = Field(10.0, ge=0, description="a backend that failed is skipped for this long")
    max_prompt_chars: int = Field(200_000, gt=0, description="longest conversation or prompt accepted")
    feedback: bool = Field(True, description="keep each answer's model and routed text (the store's responses "
                                             "table) so that POST /v1/feedback can refine that model; off: "
                                             "nothing is kept and feedback answers 404")
    feedback_flush_s: float = Field(1.0, gt=0, description="how often each gateway replica writes the answers it "
                                                           "gave to the store (feedback on an answer younger than "
                                                           "this may reach another replica before it is written)")
    onboarding: Onboarding = Field(default_factory=Onboarding, description="POST /v1/models (needs write_token)")
    drift: DriftChecks = Field(default_factory=DriftChecks, description="scheduled drift checks of the routed models")

    @model_validator(mode="after")
    def _distinct(self) -> GatewaySettings:
        ids = [b.model_id for b in self.backends]
        repeated = sorted({m for m in ids if ids.count(m) > 1})
        if repeated:
            raise ValueError(f"backends: model_id {repeated[0]!r} appears more than once")
        if self.alias in ids:
            raise ValueError(f"alias {self.alias!r} is also a backend's model_id")
        return self

    def serve_settings(self) -> ServeSettings:
        """The fields the LOCUS deployments (query encoder, pool) read."""
        return ServeSettings.model_validate(self.model_dump(include=set(ServeSettings.model_fields)))

    def base_url(self, backend: Backend) -> str:
        """Where `backend` answers: its own URL, or the Serve LLM app on this cluster's proxy."""
        return backend.base_url or f"http://127.0.0.1:{self.port}{self.models_route_prefix}/v1"


def load_gateway_settings(path: Path, **overrides: Any) -> GatewaySettings:
    """A gateway YAML file's settings, with the `overrides` that are not None on top."""
    return GatewaySettings.model_validate(read_settings(path) | {k: v for k, v in overrides.items() if v is not None})
