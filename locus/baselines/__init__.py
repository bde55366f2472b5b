"""Baselines LOCUS is measured against, trained on exactly the same evaluations.

Each is a `Router`: `fit(train, validation)` on an EvaluationSet restricted to training
evaluations (and the validation split for early stopping), then `predict(queries)` gives
p(correct) for every (model, query) -> [models, queries].
"""

from locus.baselines.base import Router
from locus.baselines.irt import IRTRouter
from locus.baselines.knn import KNNRouter
from locus.baselines.mf import MatrixFactorisationRouter
from locus.baselines.simple import OracleRouter, RandomRouter, SingleBestRouter

BASELINES: dict[str, type[Router]] = {
    "mf": MatrixFactorisationRouter,
    "irt": IRTRouter,
    "knn": KNNRouter,
    "single_best": SingleBestRouter,
    "random": RandomRouter,
    "oracle": OracleRouter,
}

__all__ = ["BASELINES", "IRTRouter", "KNNRouter", "MatrixFactorisationRouter", "OracleRouter", "RandomRouter",
           "Router", "SingleBestRouter"]
