"""Build the Serve application from settings: `serve deploy serve/config.yaml` imports
`locus.serve.app:build`, and `locus serve` calls the same function."""

from __future__ import annotations

from locus.serve.deployments import LocusModel, QueryEncoder
from locus.serve.ingress import Ingress
from locus.serve.settings import Autoscaling, ServeSettings
from ray.serve import Application

from locus.checkpoint import load_checkpoint
from locus.store import Store


def _scaling(autoscaling: Autoscaling, settings: ServeSettings) -> dict:
    # Serve's default of 5 requests in flight per replica would cap every encoder batch at 5
    # and make the router back off under load
    return {"autoscaling_config": autoscaling.model_dump(),
            "max_ongoing_requests": max(settings.max_ongoing_requests, settings.encoder_batch_size)}


def build(args: dict) -> Application:
    """Application builder: `args` are ServeSettings fields (root, version, tokens, limits, autoscaling)."""
    settings = ServeSettings.model_validate(args)
    encoder = load_checkpoint(Store(settings.root), settings.version).encoder  # fails early and clearly
    payload = settings.model_dump()
    return Ingress.options(**_scaling(settings.ingress, settings)).bind(
        QueryEncoder.options(**_scaling(settings.encoder, settings)).bind(
            encoder, payload),
        LocusModel.options(**_scaling(settings.locus, settings)).bind(payload),
        payload)
