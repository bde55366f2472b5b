"""Every class of bad input fails with an error naming the field and the row."""

import pyarrow as pa
import pytest

from locus.errors import LocusDataError


def _setup(store):
    store.write_queries(pa.table({"query_id": ["q0", "q1"], "text": ["What is 1+1?", "Capital of France?"]}))


def _evals(model, query, score):
    return pa.table({"model_id": model, "query_id": query, "score": pa.array(score, pa.float64()),
                     "scorer": ["exact"] * len(model)})


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_score_outside_unit_interval_or_nan(store, bad):
    _setup(store)
    with pytest.raises(LocusDataError, match=r"field 'score' .* at row 1 \(model_id='m', query_id='q1'\)"):
        store.write_evaluations(_evals(["m", "m"], ["q0", "q1"], [1.0, bad]))
    assert store.model_ids() == []


def test_duplicate_model_query_pair(store):
    _setup(store)
    with pytest.raises(LocusDataError, match=r"duplicate .* row 2 \(model_id='m', query_id='q0', scorer='exact'\)"):
        store.write_evaluations(_evals(["m", "m", "m"], ["q0", "q1", "q0"], [1.0, 0.0, 1.0]))


def test_unknown_query_id(store):
    _setup(store)
    with pytest.raises(LocusDataError, match=r"'query_id' is not a known query at row 1 .*query_id='nope'"):
        store.write_evaluations(_evals(["m", "m"], ["q0", "nope"], [1.0, 0.0]))


def test_empty_evaluation_set(store):
    _setup(store)
    with pytest.raises(LocusDataError, match="empty"):
        store.write_evaluations(_evals([], [], []))


def test_missing_required_column(store):
    _setup(store)
    with pytest.raises(LocusDataError, match="required column 'score'"):
        store.write_evaluations(pa.table({"model_id": ["m"], "query_id": ["q0"], "scorer": ["x"]}))


def test_duplicate_and_empty_queries(store):
    with pytest.raises(LocusDataError, match=r"duplicate \(query_id\) at row 1"):
        store.write_queries(pa.table({"query_id": ["a", "a"], "text": ["x", "y"]}))
    with pytest.raises(LocusDataError, match=r"field 'text' is empty at row 0"):
        store.write_queries(pa.table({"query_id": ["a"], "text": ["  "]}))
    assert store.read_queries().num_rows == 0
