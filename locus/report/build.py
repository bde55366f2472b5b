"""Compute the report's analyses for a version, draw the figures and write `index.html`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from locus.bench.proxy import proxy_benchmark
from locus.bench.quality import against_baselines
from locus.explore import explore
from locus.heldout import HeldOut, load_heldout
from locus.importers.models import model_family
from locus.portfolio import METHODS
from locus.report import analyses, figures
from locus.report.page import render
from locus.store import Store


@dataclass
class Report:
    page: Path
    numbers: dict  # everything the page shows, as written to report.json
    held: HeldOut  # the version's held-out view the numbers come from


def build_report(store: Store, out: Path, *, version: str = "latest",
                 log: Callable[[str], None] = print) -> Report:
    """Write PNG figures, `report.json` (every number) and `index.html` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    log("embedding every model from its training questions")
    held = load_heldout(store, version)
    names = held.model_ids
    meta = {row["model_id"]: row for row in store.read_models().to_pylist()}
    families = [meta.get(m, {}).get("family") or model_family(m) for m in names]
    log("baselines fitted on the same training evaluations")
    baselines = against_baselines(held)
    log("onboarding models the version never trained on, against retraining matrix factorisation")
    onboarding = analyses.onboarding_without_retraining(held)
    log("distances, neighbours and disagreement")
    geometry = explore(held)
    log("proxies, accuracy vs evaluations, portfolios, benchmarks")
    metrics, snapshot = held.checkpoint.meta.metrics, held.checkpoint.meta.snapshot
    numbers = {
        "version": held.checkpoint.version, "encoder": held.checkpoint.encoder, "models": len(names),
        "display_names": {m: meta.get(m, {}).get("display_name") or m for m in names},
        "test_queries": int(held.scores.shape[1]), "test": metrics.test,
        "data": {"queries": len(held.data.query_ids), "train_queries": len(held.split.train),
                 "validation_queries": len(held.split.validation), "test_queries": len(held.split.test),
                 "evaluations": held.data.num_evaluations, "trained_on": len(snapshot.models),
                 "train_evaluations": snapshot.n_train_evaluations, "split_seed": snapshot.split_seed},
        "history": metrics.history, "best_epoch": metrics.best_epoch,
        "baselines": baselines, "headroom": analyses.routing_headroom(held), "onboarding": onboarding,
        "portfolio_picks": analyses.portfolio_picks(held),
        "explore": {k: v for k, v in geometry.items() if k not in ("distance", "measured_disagreement",
                                                                   "predicted_disagreement")},
        "proxy": proxy_benchmark(held),
        "accuracy_vs_evaluations": analyses.accuracy_vs_evaluations(held),
        "portfolio": analyses.portfolio_curve(held),
        "by_benchmark": analyses.routing_by_benchmark(held, store.read_queries()),
    }
    labels = [numbers["display_names"][m] for m in names]
    numbers["map_explained_variance"] = figures.embedding_map(out / "map.png", held.z, labels, families)
    figures.distance_heatmap(out / "distances.png", np.asarray(geometry["distance"]), names)
    figures.accuracy_curves(out / "accuracy_vs_evaluations.png", numbers["accuracy_vs_evaluations"], baselines)
    figures.training_curves(out / "training.png", numbers["history"], numbers["best_epoch"])
    figures.portfolio_plot(out / "portfolio.png", numbers["portfolio"], METHODS)
    (out / "report.json").write_text(json.dumps(numbers, indent=2))
    page = out / "index.html"
    page.write_text(render(numbers))
    return Report(page, numbers, held)
