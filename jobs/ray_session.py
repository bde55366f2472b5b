"""Start or join Ray for a job, and shut down only what this process started."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray


def job_env() -> dict[str, str]:
    """LOCUS_* variables of this process, forwarded to every worker (e.g. the fault-injection hook)."""
    return {k: v for k, v in os.environ.items() if k.startswith("LOCUS_")}


# Serve's throughput mode (gRPC between replicas, user code on the replica's own event loop) with
# HAProxy in front of ingress replicas that answer HTTP themselves, instead of the Python proxy:
# several times the requests/s on 2 cores (benchmarks/README.md). Ray reads these when a cluster
# starts, so they are set for the local clusters started here; a cluster that is joined keeps its
# own (the image in platform/ sets them). Set either to 0 beforehand for Serve's defaults.
# HAProxy also sends a request again, to another ingress replica, when the one it went to died with
# it (an empty response): every LOCUS endpoint may be repeated (reads, and registrations, which upsert).
FAST_SERVE_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "1",
                  "RAY_SERVE_HAPROXY_RETRY_ON": "conn-failure empty-response"}
SERVE_PORTS = {"RAY_SERVE_HAPROXY_STATS_PORT": 8404, "RAY_SERVE_HAPROXY_METRICS_PORT": 9101,
               "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": 8500, "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": 9500}
_CHOSEN: set[str] = set()


def _port_or_free(port: int) -> int:
    """`port` if nothing listens there, else one the system picks (two local servers on one machine
    would otherwise both claim HAProxy's stats and metrics ports and the fallback proxy's, and the
    second one's proxy never becomes healthy)."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            s.bind(("0.0.0.0", 0))
        return s.getsockname()[1]


def set_serve_env() -> None:
    """Serve's settings for a cluster started from this process (its nodes read them at start):
    FAST_SERVE_ENV unless set, and HAProxy's and the fallback proxy's ports, free ones where the
    defaults are taken."""
    for name, value in FAST_SERVE_ENV.items():
        os.environ.setdefault(name, value)
    for name, port in SERVE_PORTS.items():
        if name not in os.environ or name in _CHOSEN:  # a value the user set stays
            os.environ[name] = str(_port_or_free(port))
            _CHOSEN.add(name)


def ray_log_file(root: str, command: str) -> Path:
    """Where a command's Ray logs go when it runs quietly: <root>/logs/<command>-<time>.log for a
    local root, else the temp folder (a log is for the person at this machine)."""
    import tempfile
    import time

    folder = Path(root) / "logs" if "://" not in root else Path(tempfile.gettempdir()) / "locus-logs"
    return folder / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}.log"


RAY_LOGGERS = ("ray", "ray.data", "ray.train", "ray.serve", "ray.tune", "ray.util")


def _ray_logs_to(path: Path) -> None:
    """Ray's own driver-side logging (Data's progress reports, Train's and Serve's messages) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in RAY_LOGGERS:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if not isinstance(h, logging.FileHandler)]:
            logger.removeHandler(old)
        if not any(getattr(h, "baseFilename", None) == str(path) for h in logger.handlers):
            logger.addHandler(handler)
        logger.propagate = False


@contextmanager
def _stderr_to(path: Path) -> Iterator[None]:
    """File descriptor 2 of this process into `path` (Ray's C++ core and its Python warnings write
    there directly, past any logger); restored on the way out, so tracebacks still show."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("a") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None,
                log_file: Path | None = None, dashboard: bool = False) -> Iterator[None]:
    """Use the Ray already connected, else join `address` (or RAY_ADDRESS), else start a local cluster
    (with the dashboard, and so the Jobs API, on a free port from 8265 on when `dashboard`).

    With `log_file`, Ray stays quiet here: workers' and actors' output is not forwarded (it stays in
    Ray's session logs), Ray's driver-side logging and this process's stderr go to that file, and
    Ray Data draws no progress bars of its own (callers show one bar per stage)."""
    if ray.is_initialized():
        yield
        return
    if log_file is None:
        with _connected(address, num_cpus, forward_output=True, dashboard=dashboard):
            yield
        return
    from ray.data import DataContext

    _ray_logs_to(log_file)
    context = DataContext.get_current()
    context.enable_progress_bars = context.print_on_execution_start = context.enable_auto_log_stats = False
    with _stderr_to(log_file), _connected(address, num_cpus, forward_output=False, dashboard=dashboard):
        _ray_logs_to(log_file)  # ray.init set up its loggers again
        yield


@contextmanager
def _connected(address: str | None, num_cpus: int | None, *, forward_output: bool, dashboard: bool) -> Iterator[None]:
    local = address is None and "RAY_ADDRESS" not in os.environ
    if local:
        set_serve_env()
    ray.init(address=address, num_cpus=num_cpus if local else None, log_to_driver=forward_output,
             runtime_env={"env_vars": job_env()}, include_dashboard=dashboard if local else None,
             **({"dashboard_port": _port_or_free(8265)} if local and dashboard else {}))
    try:
        yield
    finally:
        ray.shutdown()
