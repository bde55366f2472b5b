"""Build the gateway's applications from its settings: `build_gateway` (the OpenAI-compatible front
with LOCUS's encoder and pool behind it) and `build_models` (the Ray Serve LLM app that hosts the
`serve_llm` backends). `serve deploy serve/gateway.yaml` imports both; `locus gateway` calls them."""

from __future__ import annotations

import logging

from locus.serve.app import front, pool_deployments
from locus.serve.gateway import Gateway
from locus.serve.gateway_settings import Backend, GatewaySettings
from ray.serve import Application

from locus.checkpoint import resolve_version
from locus.errors import LocusDataError
from locus.store import Store

log = logging.getLogger(__name__)
INGRESS_CPUS = 0.1  # the Serve LLM app's own OpenAI router: it only relays
CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}  # GiB of KV cache: vLLM's CPU build otherwise reserves 92% of memory


def with_table_backends(settings: GatewaySettings) -> GatewaySettings:
    """The settings with a backend for each model the models table says is served at an http(s)
    URL (`served_at`, an OpenAI-compatible API root) and the config does not name."""
    named = {b.model_id for b in settings.backends}
    rows = Store(settings.root).read_models().select(["model_id", "served_at"]).to_pylist()
    found = [Backend(model_id=r["model_id"], base_url=r["served_at"]) for r in rows
             if r["model_id"] not in named and (r["served_at"] or "").startswith(("http://", "https://"))]
    if not settings.backends and not found:
        raise LocusDataError(f"no backends: name them in the config, or set served_at (an OpenAI-compatible API "
                             f"root) in the models table of {settings.root}")
    return settings.model_copy(update={"backends": [*settings.backends, *found]}) if found else settings


def routable(settings: GatewaySettings) -> list[str]:
    """The backends' models embedded in the settings' version: the ones `locus/auto` routes among
    (the others only pass through)."""
    store = Store(settings.root)
    embedded = set(store.read_model_embeddings(resolve_version(store, settings.version)).column("model_id")
                   .to_pylist())
    found = [b.model_id for b in settings.backends if b.model_id in embedded]
    if not found:
        raise LocusDataError(f"backends: none of {[b.model_id for b in settings.backends]} is embedded in version "
                             f"{settings.version} of {settings.root}; register them (POST /v1/embeddings or "
                             f"`locus embed`) first")
    missing = [b.model_id for b in settings.backends if b.model_id not in embedded]
    if missing:
        log.warning("not embedded in the pool, served by name only: %s", ", ".join(missing))
    return found


def build_gateway(args: dict) -> Application:
    """Application builder: `args` are GatewaySettings fields (backends also from the models table)."""
    settings = with_table_backends(GatewaySettings.model_validate(args))
    return front(Gateway, settings).bind(*pool_deployments(settings.serve_settings()), settings.model_dump(),
                                         routable(settings))


def llm_config(backend: Backend):
    """Ray Serve LLM's config of a `serve_llm` backend."""
    from ray.serve.llm import LLMConfig

    hosted = backend.serve_llm
    env = (CPU_ENV if hosted.accelerator == "cpu" else {}) | hosted.env_vars
    return LLMConfig(model_loading_config={"model_id": backend.name, "model_source": hosted.model_source},
                     runtime_env={"env_vars": env} if env else None,
                     engine_kwargs=hosted.engine_kwargs, accelerator_config={"kind": hosted.accelerator},
                     placement_group_config={"bundles": [{"CPU": hosted.cpus}]} if hosted.accelerator == "cpu"
                     else None,
                     deployment_config={"autoscaling_config": hosted.autoscaling.model_dump(
                         include={"min_replicas", "max_replicas", "target_ongoing_requests"})})


def build_models(args: dict) -> Application | None:
    """Application builder of the `serve_llm` backends (None when there are none)."""
    from ray.serve.llm import build_openai_app

    settings = GatewaySettings.model_validate(args)
    hosted = [llm_config(b) for b in settings.backends if b.serve_llm is not None]
    if not hosted:
        return None
    return build_openai_app({"llm_configs": hosted,
                             "ingress_deployment_config": {"ray_actor_options": {"num_cpus": INGRESS_CPUS}}})
