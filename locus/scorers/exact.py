"""Normalised exact match and regex extraction."""

from __future__ import annotations

import re
import string

from locus.errors import LocusDataError
from locus.scorers.base import ScorerSpec, TextScorer

_ARTICLES = re.compile(r"\b(a|an|the)\b")


class ExactMatchScorer(TextScorer):
    """Normalised exact match: case, punctuation, articles and extra whitespace ignored."""

    def extract(self, output: str) -> str | None:
        return output

    def normalise(self, answer: str) -> str:
        text = answer.lower().translate(str.maketrans("", "", string.punctuation))
        return " ".join(_ARTICLES.sub(" ", text).split())


class RegexScorer(ExactMatchScorer):
    """Regex: the first group of `pattern` (the whole match without groups), compared normalised."""

    def __init__(self, pattern: str = r"(?i)answer:\s*(.+)") -> None:
        try:
            self.pattern = re.compile(pattern)
        except re.error as exc:
            raise LocusDataError(f"scorer regex: invalid pattern {pattern!r}: {exc}") from exc

    def extract(self, output: str) -> str | None:
        match = self.pattern.search(output)
        if match is None:
            return None
        return match.group(1) if match.groups() else match.group(0)


SCORERS = (
    ScorerSpec("exact", text=ExactMatchScorer),
    ScorerSpec("regex", text=RegexScorer),
)
