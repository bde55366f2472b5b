"""The gateway's drift watch: one replica that, every `drift.every_s`, checks that each model the
gateway routes to is still the one evaluated (`locus.drift`, asked through the model's backend as
the gateway reaches it) and keeps the last report of each; `GET /v1/drift` shows them, `POST
/v1/drift` checks at once, and the locus_drift_ratio / locus_drift_flagged gauges export them.
Each round asks another probe set (its seed is the round's number)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path

from locus.serve.gateway_backends import current
from locus.serve.gateway_settings import Backend, GatewaySettings
from ray.util.metrics import Gauge

from locus.drift import ask_backend, drift_of_served_model
from locus.errors import LocusDataError
from locus.eval_config import probe_spec
from locus.store import Store

log = logging.getLogger("ray.serve")


class DriftWatch:
    def __init__(self, settings: dict) -> None:
        self.settings = GatewaySettings.model_validate(settings)
        config = self.settings.drift.config
        self.benchmark, self.sampling = probe_spec(Path(config) if config else None)
        self.reports: dict[str, dict] = {}
        self.round = 0
        self._lock = threading.Lock()
        self.ratio = Gauge("locus_drift_ratio", description="a routed model's last drift check: how far its fresh "
                                                            "answers embed from its stored ones, in spreads",
                           tag_keys=("model_id",))
        self.flagged = Gauge("locus_drift_flagged", description="1 when a routed model's last drift check flagged "
                                                                "it", tag_keys=("model_id",))
        if self.settings.drift.every_s is not None:
            threading.Thread(target=self._schedule, daemon=True, name="locus-drift-watch").start()

    def _schedule(self) -> None:
        while True:
            time.sleep(self.settings.drift.every_s)
            try:
                self._check(None)
            except Exception:  # the next round tries again
                log.exception("a drift round failed")

    def _check(self, models: list[str] | None) -> dict[str, dict]:
        with self._lock:
            backends, routable = current(self.settings)
            store, checked = Store(self.settings.root), {}
            for backend in backends:
                if backend.model_id in routable and (models is None or backend.model_id in models):
                    checked[backend.model_id] = self._check_one(store, backend)
            self.reports.update(checked)
            self.round += 1
            return checked

    def _check_one(self, store: Store, backend: Backend) -> dict:
        url, started = self.settings.base_url(backend), time.time()
        key = os.environ.get(backend.api_key_env) if backend.api_key_env else None
        try:
            report = drift_of_served_model(
                store, backend.model_id, lambda prompts: ask_backend(url, backend.name, prompts, self.sampling,
                                                                     api_key=key),
                prompt=self.benchmark.prompt, scorer=self.benchmark.scorer.name,
                scorer_params=self.benchmark.scorer.params, stored_scorer=self.settings.drift.stored_scorer,
                probes=self.settings.drift.probes, version=self.settings.version, seed=self.round).as_dict()
        except LocusDataError as exc:  # e.g. no stored evaluations by the config's scorer
            return {"model_id": backend.model_id, "skipped": str(exc), "served_at": url, "checked_at": started,
                    "round": self.round}
        self.ratio.set(report["ratio"], tags={"model_id": backend.model_id})
        self.flagged.set(float(report["flagged"]), tags={"model_id": backend.model_id})
        if report["flagged"]:
            log.warning("drift: %s at %s is flagged: %s", backend.model_id, url, "; ".join(report["reasons"]))
        return report | {"served_at": url, "checked_at": started, "round": self.round}

    async def check(self, models: list[str] | None = None) -> dict[str, dict]:
        """Check `models` (default: every routed one) now; their reports."""
        return await asyncio.to_thread(self._check, models)

    def latest(self) -> dict[str, dict]:
        """The last report of each model checked."""
        return dict(self.reports)
