"""Onboarding strategies propose new, distinct queries; `locus onboard` plans the next batch for a
new or partly evaluated model and writes it for the evaluation job."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from locus.cli import app
from locus.errors import LocusDataError
from locus.importers.table import read_table_file
from locus.onboarding import STRATEGIES, Candidates, propose, rounds
from locus.routing import ModelPool


@pytest.fixture
def candidates(trained_store):
    pool = ModelPool.load(trained_store)
    phi = trained_store.read_query_embeddings(pool.checkpoint.encoder)[1][:300]
    return pool.checkpoint.model, Candidates.build(pool.checkpoint.model, phi, pool.z)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_each_strategy_proposes_distinct_unseen_queries(candidates, strategy):
    model, cands = candidates
    known = np.arange(0, 40, 2)
    picked = propose(strategy, model, cands, known, np.tile([0.0, 1.0], 10).astype(np.float32), 25, seed=1)
    assert len(picked) == 25 == len(set(picked.tolist())) and not set(picked) & set(known)
    first = propose(strategy, model, cands, np.zeros(0, dtype=np.int64), np.zeros(0, np.float32), 10, seed=1)
    assert len(set(first.tolist())) == 10


def test_disagreement_picks_queries_the_pool_splits_on(candidates):
    model, cands = candidates
    picked = propose("disagreement", model, cands, np.zeros(0, dtype=np.int64), np.zeros(0, np.float32), 20)
    variance = cands.pool_probs.var(axis=0)
    assert variance[picked].min() >= np.quantile(variance, 0.9)


def test_coverage_spreads_over_the_query_space(candidates):
    model, cands = candidates
    none = np.zeros(0, dtype=np.int64)
    unit = cands.phi / np.linalg.norm(cands.phi, axis=1, keepdims=True)

    def closest_pair(picked):
        sim = unit[picked] @ unit[picked].T
        return (1 - sim[~np.eye(len(picked), dtype=bool)]).min()

    spread = closest_pair(propose("coverage", model, cands, none, np.zeros(0, np.float32), 20))
    randoms = [closest_pair(propose("random", model, cands, none, np.zeros(0, np.float32), 20, seed=s))
               for s in range(5)]
    assert spread > max(randoms)


def test_rounds_double_up_to_the_budget():
    assert rounds(16, 256) == [16, 16, 32, 64, 128]
    assert rounds(16, 40) == [16, 16, 8]


def test_unknown_strategy_is_refused(candidates):
    model, cands = candidates
    with pytest.raises(LocusDataError, match="unknown onboarding strategy"):
        propose("vibes", model, cands, np.zeros(0, dtype=np.int64), np.zeros(0, np.float32), 3)


def test_onboard_command_plans_around_what_is_already_evaluated(trained_store, tmp_path):
    root = str(trained_store.uri)
    queries = trained_store.read_queries().column("query_id").to_pylist()
    trained_store.write_evaluations(pa.table({"model_id": ["newcomer"] * 5, "query_id": queries[:5],
                                              "score": pa.array([1, 0, 1, 1, 0], pa.float32()),
                                              "scorer": ["imported"] * 5}))
    out = tmp_path / "next.csv"
    result = CliRunner().invoke(app, ["onboard", "--root", root, "--model", "newcomer", "--budget", "12",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    proposed = read_table_file(out, required=("query_id", "text"), name="proposal").column("query_id").to_pylist()
    assert len(proposed) == len(set(proposed)) == 12 and not set(proposed) & set(queries[:5])
    assert set(proposed) <= set(queries)
    bad = CliRunner().invoke(app, ["onboard", "--root", root, "--model", "newcomer", "--strategy", "vibes"])
    assert bad.exit_code == 2 and "unknown onboarding strategy" in bad.output


def test_a_plan_for_an_evaluation_config_picks_only_queries_of_its_benchmarks(trained_store):
    """Feedback adds queries of no benchmark ("adhoc"): an onboarding job can neither prompt nor score them."""
    from locus.onboarding import plan

    queries = trained_store.read_queries()
    other = queries.slice(0, 40)
    other = other.set_column(other.schema.get_field_index("benchmark"), "benchmark", pa.array(["adhoc"] * 40))
    trained_store.write_queries(other)
    picked = plan(trained_store, "newcomer", 60, benchmarks=["mmlu-pro"])
    assert set(picked.column("benchmark").to_pylist()) == {"mmlu-pro"} and picked.num_rows == 60
    assert "adhoc" in plan(trained_store, "newcomer", 600).column("benchmark").to_pylist()
    with pytest.raises(LocusDataError, match="no encoded queries of benchmark"):
        plan(trained_store, "newcomer", 4, benchmarks=["gsm8k"])
