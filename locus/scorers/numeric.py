"""Numeric answers, GSM8K style: strict reads "#### N", flexible the last number in the output.
Commas, dollar signs and a trailing period are stripped before comparing values."""

from __future__ import annotations

import re

from locus.scorers.base import ScorerSpec, TextScorer

_STRICT = re.compile(r"#### (-?[0-9.,$]+)")
_NUMBER = re.compile(r"-?\$?[0-9][0-9,]*(?:\.[0-9]+)?")


def _number(text: str) -> str:
    cleaned = text.replace(",", "").replace("$", "").strip().rstrip(".")
    try:
        value = float(cleaned)
    except ValueError:
        return cleaned
    return str(int(value)) if value.is_integer() else str(value)


class StrictNumberScorer(TextScorer):
    """GSM8K strict match: the number after "#### "."""

    def extract(self, output: str) -> str | None:
        match = _STRICT.search(output)
        return match.group(1) if match else None

    def normalise(self, answer: str) -> str:
        return _number(answer.split("####")[-1])


class FlexibleNumberScorer(StrictNumberScorer):
    """GSM8K flexible match: the last number anywhere in the output."""

    def extract(self, output: str) -> str | None:
        numbers = _NUMBER.findall(output)
        return numbers[-1] if numbers else None


SCORERS = (
    ScorerSpec("gsm8k-strict", text=StrictNumberScorer),
    ScorerSpec("gsm8k-flexible", text=FlexibleNumberScorer),
)
