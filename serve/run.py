"""Start the app on a local Ray cluster (or join one) and stop what was started, for `locus serve`,
the quickstart and the tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray
from ray import serve

from jobs.ray_session import ray_session
from serve.app import build
from serve.settings import ServeSettings

APP_NAME = "locus"

# Serve's throughput mode (gRPC between replicas, user code on the replica's own event loop) with
# HAProxy in front of ingress replicas that answer HTTP themselves, instead of the Python proxy:
# 2.9x the requests/s on 2 cores (benchmarks/README.md). Ray reads these when the cluster starts,
# so they apply to the local cluster started here; a cluster that is joined keeps its own
# (platform/ sets them). Set either to 0 beforehand to opt out.
FAST_SERVE_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"}


@contextmanager
def serving(settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000,
            address: str | None = None) -> Iterator[str]:
    """Deploy the app and yield its base URL; on exit delete the app and shut Serve down."""
    if address is None and "RAY_ADDRESS" not in os.environ and not ray.is_initialized():
        for name, value in FAST_SERVE_ENV.items():
            os.environ.setdefault(name, value)
    with ray_session(address):
        serve.start(http_options={"host": host, "port": port})
        serve.run(build(settings.model_dump()), name=APP_NAME, route_prefix="/", blocking=False)
        try:
            yield f"http://{host}:{port}"
        finally:
            serve.shutdown()
