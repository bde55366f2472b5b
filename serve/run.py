"""Start the apps on a local Ray cluster (or join one) and stop what was started, for `locus serve`,
`locus gateway`, the quickstart and the tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray
from locus.jobs.ray_session import ray_session
from locus.serve.app import build, fitted
from locus.serve.gateway_settings import GatewaySettings
from locus.serve.guard import claim_port, guard, release
from locus.serve.settings import ServeSettings
from ray import serve

APP_NAME = "locus"
GATEWAY_APP = "locus-gateway"
MODELS_APP = "locus-models"


@contextmanager
def _serve_started(host: str, port: int, address: str | None, num_cpus: int | None,
                   dashboard: bool = False) -> Iterator[float | None]:
    """Serve started on `host:port`; yields the CPUs of a local cluster started here (None when
    joining one), with the dashboard (the Jobs API) when `dashboard`. On exit Serve shuts down. A
    local cluster claims its port first and is guarded (locus.serve.guard): nothing it started
    outlives it."""
    local = address is None and "RAY_ADDRESS" not in os.environ and not ray.is_initialized()
    if local:
        claim_port(host, port)
    with ray_session(address, num_cpus=num_cpus, dashboard=dashboard):
        node = ray.get_runtime_context().get_node_id()
        watchdog = guard(port, node) if local else None
        try:
            serve.start(http_options={"host": host, "port": port})
            # a cluster of this machine's size: no autoscaler adds nodes for replicas that do not fit
            yield ray.cluster_resources().get("CPU", 0) if local else None
        finally:
            serve.shutdown()
            if watchdog is not None:
                release(port, node, watchdog)


@contextmanager
def serving(settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000,
            address: str | None = None, num_cpus: int | None = None) -> Iterator[str]:
    """Deploy the API app and yield its base URL; on exit delete it and shut Serve down."""
    with _serve_started(host, port, address, num_cpus) as cpus:
        settings = settings if cpus is None else fitted(settings, cpus)
        serve.run(build(settings.model_dump()), name=APP_NAME, route_prefix="/", blocking=False)
        yield f"http://{host}:{port}"


@contextmanager
def gateway_serving(settings: GatewaySettings, *, host: str = "127.0.0.1", port: int = 8000,
                    address: str | None = None, num_cpus: int | None = None) -> Iterator[str]:
    """Deploy the gateway (and the Ray Serve LLM app of its serve_llm backends, first, so that the
    gateway starts with its models up) and yield its base URL. A local cluster has the Jobs API when
    the gateway onboards models (it has a write token)."""
    from locus.serve.gateway_app import build_gateway, build_models

    with _serve_started(host, port, address, num_cpus, dashboard=settings.write_token is not None) as cpus:
        settings = settings.model_copy(update={"port": port})
        settings = settings if cpus is None else fitted(settings, cpus)
        payload = settings.model_dump()
        models = build_models(payload)
        if models is not None:
            serve.run(models, name=MODELS_APP, route_prefix=settings.models_route_prefix, blocking=False)
        serve.run(build_gateway(payload), name=GATEWAY_APP, route_prefix="/", blocking=False)
        yield f"http://{host}:{port}"
