"""Start or join Ray for a job, and shut down only what this process started."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray


def job_env() -> dict[str, str]:
    """LOCUS_* variables of this process, forwarded to every worker (e.g. the fault-injection hook)."""
    return {k: v for k, v in os.environ.items() if k.startswith("LOCUS_")}


# Serve's throughput mode (gRPC between replicas, user code on the replica's own event loop) with
# HAProxy in front of ingress replicas that answer HTTP themselves, instead of the Python proxy:
# several times the requests/s on 2 cores (benchmarks/README.md). Ray reads these when a cluster
# starts, so they are set for the local clusters started here; a cluster that is joined keeps its
# own (the image in platform/ sets them). Set either to 0 beforehand for Serve's defaults.
FAST_SERVE_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1"}


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[None]:
    """Use the Ray already connected, else join `address` (or RAY_ADDRESS), else start a local cluster."""
    if ray.is_initialized():
        yield
        return
    local = address is None and "RAY_ADDRESS" not in os.environ
    if local:
        for name, value in FAST_SERVE_ENV.items():
            os.environ.setdefault(name, value)
    ray.init(address=address, num_cpus=num_cpus if local else None, log_to_driver=True,
             runtime_env={"env_vars": job_env()}, include_dashboard=False if local else None)
    try:
        yield
    finally:
        ray.shutdown()
