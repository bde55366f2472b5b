"""Eight processes write one store at once: imports of disjoint and of overlapping models,
registrations, model-embedding updates and query-vector appends. Every row is counted after."""

from __future__ import annotations

import multiprocessing
import time

import pyarrow.compute as pc
import pytest

from locus.encoders import DEFAULT_ENCODER
from locus.store import Store
from tests.store import writers

pytestmark = pytest.mark.slow  # eight processes, each importing the stack

PLAN = [("import_disjoint", 0), ("import_disjoint", 1), ("import_overlapping", 2), ("import_overlapping", 3),
        ("register", 4), ("register", 5), ("model_embeddings", 6), ("query_vectors", 7)]


def _keys(table, columns):
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def test_eight_writers_at_once_lose_nothing(trained_store):
    store = trained_store
    base = {t["table"]: t["rows"] for t in store.info()}
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(PLAN))
    processes = [context.Process(target=writers.run, args=(kind, store.uri, i, start)) for kind, i in PLAN]
    began = time.monotonic()
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=600)
    seconds = time.monotonic() - began
    assert [p.exitcode for p in processes] == [0] * len(PLAN)

    store = Store(store.uri)
    rows = {t["table"]: t["rows"] for t in store.info()}
    vectors = f"query_embeddings/{DEFAULT_ENCODER.split('/')[-1]}"
    registered_texts = 2 * 4 * 5
    expected = {
        "queries": base["queries"] + len(writers.SHARED) + 4 * 50 + registered_texts,
        "evaluations": base["evaluations"] + 2 * 450 + 2 * 400 + 2 * 50 + registered_texts,
        "models": base["models"] + 8,  # imp-0, imp-1, shared-a, shared-b, ovl-2, ovl-3, reg-4, reg-5
        "model_embeddings": base["model_embeddings"] + 20 + 2,
        vectors: base[vectors] + 20 * 5 + registered_texts,
    }
    print(f"\n8 writers finished in {seconds:.1f} s (start to last exit); rows: "
          + ", ".join(f"{k} {rows[k]} (expected {v})" for k, v in expected.items()))
    assert {k: rows[k] for k in expected} == expected

    evaluations = store.read_evaluations()
    keys = _keys(evaluations, ("model_id", "query_id", "scorer"))
    assert len(set(keys)) == len(keys)
    queries = set(store.read_queries().column("query_id").to_pylist())
    assert set(evaluations.column("query_id").to_pylist()) <= queries  # no evaluation of a lost query
    assert set(writers.SHARED) | {q for i in range(4) for q in writers.own_queries(i)} <= queries
    for model in ("shared-a", "shared-b"):
        assert store.read_evaluations([model]).num_rows == 400
    ids, _ = store.read_query_embeddings(DEFAULT_ENCODER)
    assert len(set(ids)) == len(ids)
    embeddings = store.read_model_embeddings()
    assert len(set(_keys(embeddings, ("model_id", "version")))) == embeddings.num_rows
    for i in (4, 5):
        n = embeddings.filter(pc.equal(embeddings.column("model_id"), f"reg-{i}")).column("n_evaluations")
        assert n.to_pylist() == [20]  # the last registration embedded from all four rounds
