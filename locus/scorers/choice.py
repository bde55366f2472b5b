"""Multiple-choice letters as MMLU-Pro reads them: "the answer is (X)", else the last "Answer: X",
else the last "\\boxed{X}";
optionally (`last_letter=True`, as MMLU-Pro's later script does) the last standalone letter A-J.
The default reproduces the `pred` field of the authors' published outputs."""

from __future__ import annotations

import re

from locus.scorers.base import ScorerSpec, TextScorer

_STATED = re.compile(r"answer is \(?([A-J])\)?")
_LABELLED = re.compile(r"[aA]nswer:\s*\(?([A-J])\)?")
_BOXED = re.compile(r"\\boxed\{\(?([A-J])\)?\}")
_LETTER = re.compile(r"\b([A-J])\b")


class ChoiceScorer(TextScorer):
    """Multiple-choice letter (A-J) with MMLU-Pro's "answer is (X)" convention and fallbacks."""

    def __init__(self, last_letter: bool = False) -> None:
        self.patterns = (_LABELLED, _BOXED, _LETTER) if last_letter else (_LABELLED, _BOXED)

    def extract(self, output: str) -> str | None:
        if match := _STATED.search(output):  # the first "answer is (X)"
            return match.group(1)
        for pattern in self.patterns:  # else the last "Answer: X", "\boxed{X}" (then the last lone letter)
            last = None
            for last in pattern.finditer(output):  # noqa: B007 - the loop keeps the last match
                pass
            if last is not None:
                return last.group(1)
        return None

    def normalise(self, answer: str) -> str:
        return answer.strip().strip("()").upper()


SCORERS = (
    ScorerSpec("choice", text=ChoiceScorer),
)
