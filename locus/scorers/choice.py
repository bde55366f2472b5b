"""Multiple-choice letters as MMLU-Pro reads them: "the answer is (X)", else "Answer: X", else
the last standalone letter A-J in the output."""

from __future__ import annotations

import re

from locus.scorers.base import TextScorer

_STATED = re.compile(r"answer is \(?([A-J])\)?")
_LABELLED = re.compile(r".*[aA]nswer:\s*\(?([A-J])\)?", re.DOTALL)
_LAST_LETTER = re.compile(r"\b([A-J])\b(?!.*\b[A-J]\b)", re.DOTALL)


class ChoiceScorer(TextScorer):
    """Multiple-choice letter (A-J) with MMLU-Pro's "answer is (X)" convention and fallbacks."""

    def extract(self, output: str) -> str | None:
        for pattern in (_STATED, _LABELLED, _LAST_LETTER):
            if match := pattern.search(output):
                return match.group(1)
        return None

    def normalise(self, answer: str) -> str:
        return answer.strip().strip("()").upper()
