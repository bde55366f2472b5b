import numpy as np
import pytest

from locus import metrics

NAN = np.nan
# 3 models x 4 queries; model 2 never saw query 3; no model solves query 2
SCORES = np.array([[1, 0, 0, 1],
                   [0, 1, 0, 0],
                   [1, 1, 0, NAN]], dtype=np.float32)
PROBS = np.array([[0.9, 0.1, 0.3, 0.2],
                  [0.2, 0.8, 0.6, 0.7],
                  [0.5, 0.4, 0.2, 0.99]], dtype=np.float32)


def test_routing_and_hit_at_k():
    # argmax per query among observed: q0 -> m0 (1), q1 -> m1 (1), q2 -> m1 (0), q3 -> m1 (0, m2 unobserved)
    assert metrics.routing_accuracy(PROBS, SCORES) == pytest.approx(0.5)
    # top-2: q3 -> {m1, m0}: m0 right
    assert metrics.hit_at_k(PROBS, SCORES, 2) == pytest.approx(0.75)
    assert metrics.oracle_accuracy(SCORES) == pytest.approx(0.75)


def test_correctness_accuracy_over_observed_cells():
    # 11 observed cells; wrong: (m0,q3) p=.2 y=1, (m1,q2) .6/0, (m1,q3) .7/0, (m2,q1) .4/1
    assert metrics.correctness_accuracy(PROBS, SCORES) == pytest.approx(7 / 11)


def test_single_best_and_disagreement():
    train = np.array([[1, 1], [0, 1], [0, 0]], dtype=np.float32)
    assert metrics.single_best_accuracy(train, SCORES) == pytest.approx(0.5)
    dis = metrics.disagreement_matrix(SCORES)
    assert dis[0, 1] == pytest.approx(3 / 4)
    assert dis[0, 2] == pytest.approx(1 / 3)  # only the three shared queries count
    assert np.allclose(np.diag(dis), 0)


def test_embedding_geometry_metrics():
    emb = np.array([[0.0, 0.0], [3.0, 0.0], [1.5, 0.0]])
    corr = metrics.distance_disagreement_correlation(emb, SCORES)
    assert corr["pearson"] == pytest.approx(1.0) and corr["spearman"] == pytest.approx(1.0)
    # every nearest neighbour agrees on 2 of 3 shared queries
    assert metrics.nearest_neighbour_agreement(emb, SCORES) == pytest.approx(2 / 3)
