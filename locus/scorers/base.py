"""What a text scorer is: output text and gold answer in, a score in [0, 1] out."""

from __future__ import annotations

from abc import ABC, abstractmethod


class TextScorer(ABC):
    """Scores one output against the gold answer; `extract` exposes what was read from the output."""

    @abstractmethod
    def extract(self, output: str) -> str | None:
        """The answer read from the output, or None when there is none."""

    def normalise(self, answer: str) -> str:
        return answer.strip()

    def score(self, output: str | None, answer: str | None) -> float:
        if output is None or answer is None:
            return 0.0
        found = self.extract(output)
        return float(found is not None and self.normalise(found) == self.normalise(answer))
