"""Build the gateway's applications from its settings: `build_gateway` (the OpenAI-compatible front
with LOCUS's encoder and pool behind it) and `build_models` (the Ray Serve LLM app that hosts the
`serve_llm` backends). `serve deploy serve/gateway.yaml` imports both; `locus gateway` calls them."""

from __future__ import annotations

from locus.serve.app import front, pool_deployments
from locus.serve.drift_watch import DriftWatch
from locus.serve.gateway import Gateway
from locus.serve.gateway_backends import routable, with_table_backends
from locus.serve.gateway_settings import Backend, GatewaySettings
from ray import serve
from ray.serve import Application

INGRESS_CPUS = 0.1  # the Serve LLM app's own OpenAI router: it only relays
DRIFT_CPUS = 0.1  # the drift watch mostly waits for backends
CPU_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1"}  # GiB of KV cache: vLLM's CPU build otherwise reserves 92% of memory


def build_gateway(args: dict) -> Application:
    """Application builder: `args` are GatewaySettings fields (backends also from the models table,
    which each replica reads again every refresh_seconds). Refused before anything starts when the
    gateway would have no backend, or none the pool has embedded."""
    settings = GatewaySettings.model_validate(args)
    routable(with_table_backends(settings))
    watch = None
    if settings.drift.every_s is not None:  # one replica: each round checks every routed model once
        watch = serve.deployment(DriftWatch, name="DriftWatch", num_replicas=1,
                                 ray_actor_options={"num_cpus": DRIFT_CPUS}).bind(settings.model_dump())
    return front(Gateway, settings).bind(*pool_deployments(settings.serve_settings()), settings.model_dump(), watch)


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
