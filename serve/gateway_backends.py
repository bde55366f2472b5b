"""Which models the gateway serves: the backends its config names, plus each model whose models-table
row says where it answers (`served_at`, an OpenAI-compatible API root, under `served_name`); and
which of them `locus/auto` routes among (those embedded in the pool's version). Read when the
gateway is built and again by each replica every `refresh_seconds`, so that a model registered or
onboarded later is routed to without a restart."""

from __future__ import annotations

import logging

from locus.serve.gateway_settings import Backend, GatewaySettings

from locus.checkpoint import resolve_version
from locus.errors import LocusDataError
from locus.store import Store

log = logging.getLogger(__name__)


def table_backends(settings: GatewaySettings, store: Store | None = None) -> list[Backend]:
    """A backend for each model the models table says is served at an http(s) URL and the config
    does not name."""
    named = {b.model_id for b in settings.backends}
    rows = (store or Store(settings.root)).read_models().select(["model_id", "served_at", "served_name"]).to_pylist()
    return [Backend(model_id=r["model_id"], base_url=r["served_at"], served_name=r["served_name"]) for r in rows
            if r["model_id"] not in named and (r["served_at"] or "").startswith(("http://", "https://"))]


def embedded(settings: GatewaySettings, backends: list[Backend], store: Store | None = None) -> list[str]:
    """The models of `backends` embedded in the settings' version, in the backends' order."""
    store = store or Store(settings.root)
    ids = set(store.read_model_embeddings(resolve_version(store, settings.version)).column("model_id").to_pylist())
    return [b.model_id for b in backends if b.model_id in ids]


def with_table_backends(settings: GatewaySettings) -> GatewaySettings:
    """The settings with the models table's backends added; refused when there are none at all."""
    found = table_backends(settings)
    if not settings.backends and not found:
        raise LocusDataError(f"no backends: name them in the config, or set served_at (an OpenAI-compatible API "
                             f"root) in the models table of {settings.root}")
    return settings.model_copy(update={"backends": [*settings.backends, *found]}) if found else settings


def routable(settings: GatewaySettings) -> list[str]:
    """The backends' models that `locus/auto` routes among (the others only pass through); refused
    when the pool has none of them."""
    found = embedded(settings, settings.backends)
    if not found:
        raise LocusDataError(f"backends: none of {[b.model_id for b in settings.backends]} is embedded in version "
                             f"{settings.version} of {settings.root}; register them (POST /v1/embeddings or "
                             f"`locus embed`) first")
    missing = [b.model_id for b in settings.backends if b.model_id not in found]
    if missing:
        log.warning("not embedded in the pool, served by name only: %s", ", ".join(missing))
    return found


def registry_version(store: Store) -> tuple[int | None, int | None]:
    """The commits of the tables `current` reads: when they have not moved, neither has its answer."""
    return store.table("models").version(), store.table("model_embeddings").version()


def current(settings: GatewaySettings, store: Store | None = None) -> tuple[list[Backend], list[str]]:
    """Every backend now (the config's, then the models table's) and the routable ones among them."""
    store = store or Store(settings.root)
    backends = [*settings.backends, *table_backends(settings, store)]
    return backends, embedded(settings, backends, store)
