"""Each baseline learns something real from the sample slice, on held-out queries."""

import numpy as np
import pytest

from locus.baselines import BASELINES
from locus.data import load_evaluation_set, split_queries
from locus.encoders import DEFAULT_ENCODER
from locus.metrics import oracle_accuracy, quality_report


@pytest.fixture(scope="module")
def setup(encoded_store_template):
    from locus.store import Store

    data = load_evaluation_set(Store(encoded_store_template), DEFAULT_ENCODER)
    split = split_queries(data.query_ids, seed=0)
    return data, split, data.restrict(split.train), (split.validation, data.dense(split.validation))


@pytest.mark.parametrize("name", ["mf", "irt", "knn"])
def test_learned_baselines_beat_chance_on_held_out_queries(setup, name):
    data, split, train, validation = setup
    options = {"epochs": 15} if name in {"mf", "irt"} else {}
    probs = BASELINES[name](seed=0, **options).fit(train, validation).predict(split.test)
    assert probs.shape == (29, len(split.test))
    assert ((probs >= 0) & (probs <= 1)).all()
    assert quality_report(probs, data.dense(split.test))["auc"] > 0.58


def test_reference_routers(setup):
    data, split, train, validation = setup
    test = data.dense(split.test)
    best = int(np.argmax([s.mean() for s in train.scores]))
    single = BASELINES["single_best"]().fit(train, validation).predict(split.test)
    assert (single.argmax(axis=0) == best).all()
    oracle = BASELINES["oracle"](truth=data).fit(train, validation).predict(split.test)
    assert quality_report(oracle, test)["routing_acc"] == pytest.approx(oracle_accuracy(test))
    random = BASELINES["random"](seed=1).fit(train, validation).predict(split.test)
    assert 0.4 < quality_report(random, test)["auc"] < 0.6


def test_budget_limits_what_knn_sees(setup):
    data, split, train, validation = setup
    small = train.subsample(5, seed=0)
    assert all(len(s) == 5 for s in small.scores)
    probs = BASELINES["knn"](k=20).fit(small, validation).predict(split.test)
    # with 5 evaluations per model the k=20 neighbours are all of them: one value per model
    assert np.allclose(probs, probs[:, :1])
