"""What a scorer is: a registry entry (`ScorerSpec`) that declares what it needs from the evaluation
job, and, for scorers that read output text, a `TextScorer` (output and gold answer in, a score in
[0, 1] out)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

Needs = Literal["generate", "loglik", "judge"]


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


@dataclass(frozen=True)
class ScorerSpec:
    """A registered scorer. `needs` is what the evaluation job asks of the answering engine:
    "generate" (sample an answer), "loglik" (pick the choice letter of highest log-likelihood) or
    "judge" (generate, then an extra stage where a judge model grades the answer 0-10). `text` reads
    the answer from the output (None: the judge's grade / 10 is the score)."""

    name: str
    description: str = ""  # default: the first line of the text scorer's docstring
    needs: Needs = "generate"
    text: type[TextScorer] | None = None

    @property
    def summary(self) -> str:
        return self.description or (self.text.__doc__ or "").strip().splitlines()[0]

    @property
    def runs_anywhere(self) -> bool:
        """Scores stored outputs with no engine (`locus score`)."""
        return self.needs == "generate" and self.text is not None

    def score_batch(self, outputs: Sequence[str | None], answers: Sequence[str | None],
                    grades: np.ndarray | None = None, **params) -> np.ndarray:
        """Scores in [0, 1] of a batch of outputs (`grades`: the judge stage's, for "judge")."""
        if self.text is None:
            return np.asarray(grades, dtype=np.float32)
        scorer = self.text(**params)
        return np.asarray([scorer.score(o, a) for o, a in zip(outputs, answers, strict=True)], dtype=np.float32)
