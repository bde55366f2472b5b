"""Scorers that need the answering engine itself: log-likelihood multiple choice and an LLM judge
(the evaluation job runs them, locus.jobs.evaluate)."""

from __future__ import annotations

from locus.scorers.base import ScorerSpec
from locus.scorers.choice import ChoiceScorer

SCORERS = (
    ScorerSpec("loglik", "log-likelihood multiple choice: the choice with the highest prompt logprob under the "
                         "model", needs="loglik", text=ChoiceScorer),
    ScorerSpec("judge", "an LLM judge (a vLLM model with a grading prompt) gives a continuous score in [0, 1]",
               needs="judge"),
)
