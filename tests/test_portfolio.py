"""Portfolio selection: k distinct models, budgets respected, better than random portfolios."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from locus.cli import app
from locus.errors import LocusDataError
from locus.portfolio import METHODS, coverage, measured_routing, select


def _pool(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three behavioural clusters of models; each cluster is good on its own third of the queries."""
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(3), 4)
    z = np.eye(3)[cluster] * 5 + rng.normal(0, 0.1, (12, 3))
    probs = np.full((300, 12), 0.2) + rng.uniform(0, 0.05, (300, 12))
    for c in range(3):
        probs[c * 100:(c + 1) * 100, cluster == c] = 0.8
    return z, probs


@pytest.mark.parametrize("method", METHODS)
def test_each_method_covers_the_three_clusters(method):
    z, probs = _pool()
    chosen = select(method, z, probs, k=3)
    assert len(set(chosen)) == 3
    assert sorted(c // 4 for c in chosen) == [0, 1, 2]


def test_budget_is_respected_and_spent_on_coverage():
    z, probs = _pool()
    cost = np.array([10.0, 1, 1, 1] * 3)
    chosen = select("coverage", z, probs, cost=cost, budget=3.0)
    assert cost[chosen].sum() <= 3.0 and sorted(c // 4 for c in chosen) == [0, 1, 2]
    assert coverage(probs, 1) == [int(np.argmax(probs.mean(axis=0)))]


def test_bad_requests_are_refused():
    z, probs = _pool()
    with pytest.raises(LocusDataError, match="exactly one"):
        select("coverage", z, probs)
    with pytest.raises(LocusDataError, match="between 1 and"):
        select("k-center", z, probs, k=13)
    with pytest.raises(LocusDataError, match="needs --method coverage"):
        select("k-medoids", z, probs, budget=3.0, cost=np.ones(12))
    with pytest.raises(LocusDataError, match="unknown portfolio method"):
        select("vibes", z, probs, k=2)


def test_measured_routing_beats_random_portfolios():
    z, probs = _pool()
    scores = (np.random.default_rng(1).uniform(size=probs.shape) < probs).astype(np.float32)
    result = measured_routing(probs.T, scores.T, select("coverage", z, probs, k=3))
    assert result["routing_acc"] > result["random_mean"]


def test_portfolio_command_on_the_real_slice(trained_store):
    result = CliRunner().invoke(app, ["portfolio", "--root", str(trained_store.uri), "--k", "3"])
    assert result.exit_code == 0, result.output
    assert "routing accuracy among the portfolio" in result.output
    measured = float(result.output.split("among the portfolio ")[1].split(";")[0])
    random_mean = float(result.output.split("random portfolios of 3: ")[1].split(" ")[0])
    assert measured >= random_mean
    bad = CliRunner().invoke(app, ["portfolio", "--root", str(trained_store.uri), "--budget", "10"])
    assert bad.exit_code == 2 and "none has one" in bad.output  # this store has no models table


def test_a_budget_leaves_out_models_without_a_cost():
    z, probs = _pool()
    cost = np.ones(len(z))
    cost[[0, 2]] = np.nan
    chosen = select("coverage", z, probs, cost=cost, budget=3)
    assert chosen and len(chosen) <= 3 and not {0, 2} & set(chosen)
