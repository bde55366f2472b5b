"""The loader's rules: which score a (model, query) keeps, and the train/validation/test split."""

import numpy as np
import pyarrow as pa

from locus.data import load_evaluation_set, split_queries
from locus.encoders import DEFAULT_ENCODER


def test_permutation_split_is_the_published_one():
    ids = [f"mmlu-pro-{i:05d}" for i in range(100)]
    a = split_queries(ids, seed=3, method="permutation")
    b = split_queries(list(reversed(ids)), seed=3, method="permutation")
    assert [ids[i] for i in a.test] == [list(reversed(ids))[i] for i in b.test]
    assert (len(a.train), len(a.validation), len(a.test)) == (80, 10, 10)
    order = np.random.default_rng(3).permutation(100)
    assert [ids[i] for i in a.train] == [ids[i] for i in order[:80]]


def _parts(ids, split):
    return {part: {ids[i] for i in getattr(split, part)} for part in ("train", "validation", "test")}


def test_hash_split_never_moves_a_query_when_queries_are_added():
    ids = [f"q-{i:05d}" for i in range(3000)]
    before = _parts(ids, split_queries(ids, seed=0))
    more = ids + [f"adhoc-{i}" for i in range(100)]
    shuffled = [more[i] for i in np.random.default_rng(1).permutation(len(more))]
    after = _parts(shuffled, split_queries(shuffled, seed=0))
    for part in before:
        assert before[part] == after[part] - {q for q in after[part] if q.startswith("adhoc-")}
    sizes = [len(before[p]) / len(ids) for p in ("train", "validation", "test")]
    assert abs(sizes[0] - 0.8) < 0.03 and abs(sizes[1] - 0.1) < 0.02 and abs(sizes[2] - 0.1) < 0.02
    assert _parts(ids, split_queries(ids, seed=1)) != before  # the seed matters


def test_adding_100_queries_to_a_store_keeps_every_split(encoded_store):
    def parts():
        data = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
        return _parts(data.query_ids, split_queries(data.query_ids, seed=0))

    before = parts()
    new = [f"new-{i}" for i in range(100)]
    encoded_store.write_queries(pa.table({"query_id": new, "text": [f"new question {i}?" for i in new]}))
    encoded_store.append_query_embeddings(DEFAULT_ENCODER, new, np.ones((100, 384), np.float32))
    encoded_store.write_evaluations(pa.table({"model_id": ["newcomer"] * 100, "query_id": new,
                                              "score": pa.array([1.0] * 100, pa.float32()), "scorer": ["x"] * 100}))
    after = parts()
    assert all(before[p] == after[p] - set(new) for p in before)
    assert sum(len(after[p]) for p in after) == sum(len(before[p]) for p in before) + 100


def test_a_second_scorer_on_one_model_never_breaks_loading(encoded_store):
    """A registration's `api` scores on queries a model already has benchmark scores for: the
    benchmark's own scorer (most of its evaluations) wins, and every other model loads unchanged."""
    before = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    model = before.model_ids[0]
    stored = encoded_store.read_evaluations([model]).slice(0, 49)
    flipped = stored.set_column(stored.schema.get_field_index("score"), "score",
                                pa.array(1.0 - stored.column("score").to_numpy(), pa.float32()))
    flipped = flipped.set_column(stored.schema.get_field_index("scorer"), "scorer", pa.array(["api"] * 49))
    encoded_store.write_evaluations(flipped)
    after = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    assert after.model_ids == before.model_ids
    for a, b in zip(after.scores, before.scores, strict=True):
        assert np.array_equal(a, b)
    only_api = load_evaluation_set(encoded_store, DEFAULT_ENCODER, scorer="api")
    assert only_api.model_ids == [model] and only_api.num_evaluations == 49
