"""Scorers turn a model's output (and the gold answer) into a score in [0, 1]. One registry, built
from the `SCORERS` entries of every module in this package: adding a scorer is adding a module.
Each entry declares what it needs (generate, loglik, judge) and how a batch is scored; the
evaluation job (locus.jobs.evaluate) reads only that."""

from __future__ import annotations

import importlib
import pkgutil

from locus.errors import LocusDataError
from locus.scorers.base import ScorerSpec, TextScorer


def _collect() -> dict[str, ScorerSpec]:
    registry: dict[str, ScorerSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        for spec in getattr(importlib.import_module(f"{__name__}.{info.name}"), "SCORERS", ()):
            if spec.name in registry:
                raise RuntimeError(f"scorer {spec.name!r} is registered twice")
            registry[spec.name] = spec
    return registry


SCORERS: dict[str, ScorerSpec] = _collect()


def scorer_spec(name: str) -> ScorerSpec:
    if name not in SCORERS:
        raise LocusDataError(f"unknown scorer {name!r}; choose from {', '.join(SCORERS)}")
    return SCORERS[name]


def describe() -> dict[str, str]:
    """Every scorer name with a one-line description."""
    return {name: spec.summary for name, spec in SCORERS.items()}


def text_scorer(name: str, **params) -> TextScorer:
    """The text scorer registered as `name`, configured with `params` (e.g. pattern= for regex)."""
    spec = scorer_spec(name)
    if not spec.runs_anywhere:
        raise LocusDataError(f"scorer {name!r} needs a vLLM engine: use it in an evaluation job (locus eval run)")
    return spec.text(**params)


__all__ = ["SCORERS", "ScorerSpec", "TextScorer", "describe", "scorer_spec", "text_scorer"]
