"""Start the app on a local Ray cluster (or join one) and stop what was started, for `locus serve`,
the quickstart and the tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray
from locus.jobs.ray_session import ray_session
from locus.serve.app import build, fitted
from locus.serve.guard import claim_port, guard, release
from locus.serve.settings import ServeSettings
from ray import serve

APP_NAME = "locus"


@contextmanager
def serving(settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000,
            address: str | None = None, num_cpus: int | None = None) -> Iterator[str]:
    """Deploy the app and yield its base URL; on exit delete the app and shut Serve down. A local
    cluster started here (with `num_cpus` logical CPUs, default this machine's) claims its port
    first and is guarded (locus.serve.guard): nothing it started outlives it."""
    local = address is None and "RAY_ADDRESS" not in os.environ and not ray.is_initialized()
    if local:
        claim_port(host, port)
    with ray_session(address, num_cpus=num_cpus):
        node = ray.get_runtime_context().get_node_id()
        watchdog = guard(port, node) if local else None
        if local:  # a cluster of this machine's size: no autoscaler adds nodes for replicas that do not fit
            settings = fitted(settings, ray.cluster_resources().get("CPU", 0))
        try:
            serve.start(http_options={"host": host, "port": port})
            serve.run(build(settings.model_dump()), name=APP_NAME, route_prefix="/", blocking=False)
            yield f"http://{host}:{port}"
        finally:
            serve.shutdown()
            if watchdog is not None:
                release(port, node, watchdog)
