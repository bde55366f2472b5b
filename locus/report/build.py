"""Compute the report's analyses for a version, draw the figures and write `index.html`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from locus.bench.proxy import proxy_benchmark
from locus.explore import explore
from locus.heldout import load_heldout
from locus.importers.models import model_family
from locus.portfolio import METHODS
from locus.report import analyses, figures
from locus.report.page import render
from locus.store import Store


def build_report(store: Store, out: Path, *, version: str = "latest",
                 log: Callable[[str], None] = print) -> Path:
    """Write PNG figures, `report.json` (every number) and `index.html` into `out`; returns the page."""
    out.mkdir(parents=True, exist_ok=True)
    log("embedding every model from its training questions")
    held = load_heldout(store, version)
    names = held.model_ids
    meta = {row["model_id"]: row for row in store.read_models().to_pylist()}
    families = [meta.get(m, {}).get("family") or model_family(m) for m in names]
    log("distances, neighbours and disagreement")
    geometry = explore(held)
    log("proxies, accuracy vs evaluations, portfolios, benchmarks")
    numbers = {
        "version": held.checkpoint.version, "encoder": held.checkpoint.encoder, "models": len(names),
        "test_queries": int(held.scores.shape[1]), "test": held.checkpoint.meta.get("metrics", {}).get("test", {}),
        "explore": {k: v for k, v in geometry.items() if k not in ("distance", "measured_disagreement",
                                                                   "predicted_disagreement")},
        "proxy": proxy_benchmark(held),
        "accuracy_vs_evaluations": analyses.accuracy_vs_evaluations(held),
        "portfolio": analyses.portfolio_curve(held),
        "by_benchmark": analyses.routing_by_benchmark(held, store.read_queries()),
    }
    figures.embedding_map(out / "map.png", held.z, names, families)
    figures.distance_heatmap(out / "distances.png", np.asarray(geometry["distance"]), names)
    figures.accuracy_curves(out / "accuracy_vs_evaluations.png", numbers["accuracy_vs_evaluations"])
    figures.portfolio_plot(out / "portfolio.png", numbers["portfolio"], METHODS)
    (out / "report.json").write_text(json.dumps(numbers, indent=2))
    page = out / "index.html"
    page.write_text(render(numbers))
    return page
