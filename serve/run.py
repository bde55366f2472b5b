"""Start the app on a local Ray cluster (or join one) and stop what was started, for `locus serve`,
the quickstart and the tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from locus.jobs.ray_session import ray_session
from locus.serve.app import build
from locus.serve.settings import ServeSettings
from ray import serve

APP_NAME = "locus"


@contextmanager
def serving(settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000,
            address: str | None = None) -> Iterator[str]:
    """Deploy the app and yield its base URL; on exit delete the app and shut Serve down."""
    with ray_session(address):
        serve.start(http_options={"host": host, "port": port})
        serve.run(build(settings.model_dump()), name=APP_NAME, route_prefix="/", blocking=False)
        try:
            yield f"http://{host}:{port}"
        finally:
            serve.shutdown()
