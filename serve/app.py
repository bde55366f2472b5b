"""Build the Serve application from settings: `serve deploy serve/config.yaml` imports
`serve.app:build`, and `locus serve` calls the same function."""

from __future__ import annotations

from ray.serve import Application

from locus.checkpoint import load_checkpoint
from locus.store import Store
from serve.deployments import LocusModel, QueryEncoder
from serve.ingress import Ingress
from serve.settings import Autoscaling, ServeSettings


def _scaling(autoscaling: Autoscaling) -> dict:
    return {"autoscaling_config": autoscaling.model_dump()}


def build(args: dict) -> Application:
    """Application builder: `args` are ServeSettings fields (root, version, tokens, limits, autoscaling)."""
    settings = ServeSettings.model_validate(args)
    encoder = load_checkpoint(Store(settings.root), settings.version).encoder  # fails early and clearly
    payload = settings.model_dump()
    return Ingress.options(**_scaling(settings.ingress)).bind(
        QueryEncoder.options(**_scaling(settings.encoder)).bind(
            encoder, settings.encoder_batch_size, settings.encoder_batch_wait_s, settings.encoder_cache_size),
        LocusModel.options(**_scaling(settings.locus)).bind(payload),
        payload)
