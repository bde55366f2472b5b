"""Build the Serve application from settings: `serve deploy serve/config.yaml` imports
`locus.serve.app:build`, and `locus serve` calls the same function."""

from __future__ import annotations

from locus.serve.deployments import LocusModel, QueryEncoder
from locus.serve.ingress import Ingress
from locus.serve.settings import Autoscaling, ServeSettings
from ray import serve
from ray.serve import Application

from locus.checkpoint import load_checkpoint
from locus.store import Store

CPUS = {"encoder": 0.5, "locus": 0.25, "ingress": 0.1}  # per replica: the encoder does the heavy lifting


def _deployment(cls: type, name: str, autoscaling: Autoscaling, settings: ServeSettings):
    # Serve's default of 5 requests in flight per replica would cap every encoder batch at 5
    # and make the router back off under load
    # a replica that stops answering is replaced within seconds (Serve's default checks every 10 s)
    return serve.deployment(cls, name=cls.__name__, ray_actor_options={"num_cpus": CPUS[name]},
                            autoscaling_config=autoscaling.model_dump(),
                            max_ongoing_requests=max(settings.max_ongoing_requests, settings.encoder_batch_size),
                            health_check_period_s=2.0, health_check_timeout_s=10.0)


def fitted(settings: ServeSettings, cpus: float) -> ServeSettings:
    """The settings with minimum replicas that fit a cluster of `cpus` (a fixed local one): the
    ingress and LOCUS drop to one replica each when two would not fit beside the encoder."""
    names = tuple(CPUS)
    if sum(CPUS[n] * getattr(settings, n).min_replicas for n in names) <= cpus:
        return settings
    return settings.model_copy(update={n: getattr(settings, n).model_copy(update={"min_replicas": 1})
                                       for n in ("locus", "ingress") if getattr(settings, n).min_replicas > 1})


def pool_deployments(settings: ServeSettings) -> tuple[Application, Application]:
    """The query encoder and LOCUS deployments of a version, bound: what every front (the API's
    ingress, the gateway) calls."""
    encoder = load_checkpoint(Store(settings.root), settings.version).encoder  # fails early and clearly
    payload = settings.model_dump()
    return (_deployment(QueryEncoder, "encoder", settings.encoder, settings).bind(encoder, payload),
            _deployment(LocusModel, "locus", settings.locus, settings).bind(payload))


def front(cls: type, settings: ServeSettings):
    """An HTTP front deployment (one ingress replica's share of CPU, the ingress autoscaling)."""
    return _deployment(cls, "ingress", settings.ingress, settings)


def build(args: dict) -> Application:
    """Application builder: `args` are ServeSettings fields (root, version, tokens, limits, autoscaling)."""
    settings = ServeSettings.model_validate(args)
    return front(Ingress, settings).bind(*pool_deployments(settings), settings.model_dump())
