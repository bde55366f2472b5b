"""Scorers turn a model's output (and the gold answer) into a score in [0, 1]: one registry,
one module per family. Text scorers run anywhere; `loglik` and `judge` need a vLLM engine and
run inside the evaluation job (jobs/evaluate.py)."""

from __future__ import annotations

from locus.errors import LocusDataError
from locus.scorers.base import TextScorer
from locus.scorers.choice import ChoiceScorer
from locus.scorers.exact import ExactMatchScorer, RegexScorer
from locus.scorers.numeric import FlexibleNumberScorer, StrictNumberScorer

TEXT_SCORERS: dict[str, type[TextScorer]] = {
    "choice": ChoiceScorer,
    "gsm8k-strict": StrictNumberScorer,
    "gsm8k-flexible": FlexibleNumberScorer,
    "exact": ExactMatchScorer,
    "regex": RegexScorer,
}
ENGINE_SCORERS = {
    "loglik": "log-likelihood multiple choice: the choice with the highest prompt logprob under the model",
    "judge": "an LLM judge (a vLLM model with a grading prompt) gives a continuous score in [0, 1]",
}


def describe() -> dict[str, str]:
    """Every scorer name with a one-line description."""
    return {name: (cls.__doc__ or "").strip().splitlines()[0] for name, cls in TEXT_SCORERS.items()} | ENGINE_SCORERS


def text_scorer(name: str, **params) -> TextScorer:
    """The text scorer registered as `name`, configured with `params` (e.g. pattern= for regex)."""
    if name in ENGINE_SCORERS:
        raise LocusDataError(f"scorer {name!r} needs a vLLM engine: use it in an evaluation job (locus eval run)")
    if name not in TEXT_SCORERS:
        raise LocusDataError(f"unknown scorer {name!r}; choose from {', '.join(describe())}")
    return TEXT_SCORERS[name](**params)


__all__ = ["ENGINE_SCORERS", "TEXT_SCORERS", "TextScorer", "describe", "text_scorer"]
