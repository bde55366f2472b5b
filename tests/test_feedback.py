"""Feedback, Ray-free: the answers a gateway replica gives are kept in the store's responses table
and found by any replica; feedback on one becomes an evaluation of the model that answered and
refines its embedding, by as much as the evidence it adds (the gateway's endpoint is tested in
tests/serve/test_gateway.py)."""

import numpy as np
import pyarrow.compute as pc
import pytest

from locus.api import EmbeddingRequest
from locus.encoders import DEFAULT_ENCODER, encode_texts
from locus.feedback import ResponseLog
from locus.registration import adhoc_query_id
from locus.service import FEEDBACK_SCORER, PoolService
from locus.store import Store, response_day

TEXTS = [f"Feedback question {i}: which planet has the most moons, and why does it matter?" for i in range(8)]


def test_answers_are_written_once_and_found_by_another_replica(store):
    here, there = ResponseLog(store), ResponseLog(Store(store.uri))
    ids = [here.record("model-a", "first text"), here.record("model-b", "second text")]
    assert len(set(ids)) == 2 and all(response_day(i).isdigit() for i in ids)
    assert here.find(ids[0]).model_id == "model-a"  # from this replica's memory, before any write
    assert there.find(ids[0]) is None
    assert here.flush() == 2 and here.flush() == 0
    found = there.find(ids[1])
    assert (found.model_id, found.text) == ("model-b", "second text")
    store.log_responses(store.table("responses").read().drop_columns(["day"]))  # a retried flush
    assert store.table("responses").read().num_rows == 2
    assert there.find("locus-20260101-" + "0" * 32) is None and there.find("chatcmpl-123") is None


def test_feedback_moves_a_model_embedded_from_few_evaluations_and_barely_one_from_many(trained_store):
    service = PoolService(trained_store, refresh_seconds=0, min_evaluations=0)
    ids, _ = trained_store.read_query_embeddings(DEFAULT_ENCODER)
    service.embed(EmbeddingRequest(model_id="few", evaluations=[
        {"query_id": q, "score": float(i % 2)} for i, q in enumerate(ids[:8])]))
    many = max(service.pool.model_ids, key=lambda m: service.pool.n_evaluations[service.pool.position(m)])
    vectors = encode_texts(TEXTS)
    moved = {}
    for model in ("few", many):
        before = service.pool.z[service.pool.position(model)].copy()
        n = int(service.pool.n_evaluations[service.pool.position(model)])
        for text, vector in zip(TEXTS, vectors, strict=True):
            done = service.feedback(model, text, vector, 1.0)
        assert done.n_evaluations == n + len(TEXTS)
        moved[model] = float(np.linalg.norm(np.array(done.embedding) - before))
        assert np.allclose(service.pool.z[service.pool.position(model)], done.embedding)
    spread = float(np.linalg.norm(service.pool.z - service.pool.z.mean(axis=0), axis=1).mean())
    print(f"\n{len(TEXTS)} feedback rows moved 'few' (8 evaluations) by {moved['few'] / spread:.3f} of the pool's "
          f"spread, {many} ({n} evaluations) by {moved[many] / spread:.4f}")
    assert moved["few"] > 10 * moved[many] and moved["few"] > 0.05 * spread

    stored = trained_store.read_evaluations(["few"])
    fed = stored.filter(pc.equal(stored.column("scorer"), FEEDBACK_SCORER))
    assert sorted(fed.column("query_id").to_pylist()) == sorted(adhoc_query_id(t) for t in TEXTS)
    assert set(fed.column("score").to_pylist()) == {1.0}
    assert adhoc_query_id(TEXTS[0]) in trained_store.encoded_query_ids(DEFAULT_ENCODER).to_pylist()
    other = PoolService(trained_store, refresh_seconds=0)  # another replica sees it without a restart
    assert np.allclose(other.model("few").embedding, service.model("few").embedding, atol=1e-6)

    again = service.feedback("few", TEXTS[0], vectors[0], 0.0)  # the same answer judged again: replaced
    assert again.n_evaluations == 8 + len(TEXTS)
    rows = trained_store.read_evaluations(["few"])
    assert rows.filter(pc.equal(rows.column("query_id"), adhoc_query_id(TEXTS[0]))).column("score").to_pylist() == [0.0]


@pytest.mark.parametrize("score", [-0.1, 1.5])
def test_a_score_outside_0_1_writes_nothing(trained_store, score):
    service = PoolService(trained_store, refresh_seconds=0)
    before = trained_store.table_versions()
    with pytest.raises(Exception, match="score"):
        service.feedback(service.pool.model_ids[0], TEXTS[0], encode_texts(TEXTS[:1])[0], score)
    assert trained_store.table_versions() == before
