"""Encoding a store under each text policy, on leaderboard-style prompts: the sample's questions
behind a shared 5-shot preamble (as the Open LLM Leaderboard stored MMLU items)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from locus.encoders import DEFAULT_ENCODER, encode_store, encode_texts
from locus.query_text import encoder_key
from locus.store import Store
from tests.conftest import sample_slice


def _leaderboard_queries(n: int = 24) -> tuple[pa.Table, list[str]]:
    queries, _ = sample_slice(n + 5)
    texts = queries.column("text").to_pylist()
    answers = queries.column("answer").to_pylist()
    shots = [f"Question: {t}\nAnswer: {a}" for t, a in zip(texts[:5], answers[:5], strict=True)]
    preamble = "\n\n".join(["The following are multiple choice questions (with answers).", *shots])
    questions = [f"Question: {t}\nAnswer:" for t in texts[5:]]
    table = pa.table({"query_id": queries.column("query_id").to_pylist()[5:],
                      "text": [f"{preamble}\n\n{q}" for q in questions], "benchmark": ["mmlu-pro"] * n})
    return table, questions


def _mean_cosine(vectors: np.ndarray) -> float:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    return float(sims[~np.eye(len(unit), dtype=bool)].mean())


def test_the_question_policy_reads_the_question_where_the_head_reads_the_preamble(tmp_path):
    store = Store(tmp_path / "store")
    queries, questions = _leaderboard_queries()
    store.write_queries(queries)
    head = encode_store(store, encoder_key(DEFAULT_ENCODER, "head"))
    question = encode_store(store, DEFAULT_ENCODER)
    tail = encode_store(store, encoder_key(DEFAULT_ENCODER, "tail"))

    assert (head.stripped, head.truncated, head.window) == (0, 24, 256)  # every prompt overflows the window
    assert question.stripped == 24 and question.truncated < 24
    assert "dropped a few-shot preamble" in question.describe() and "read their first 256" in head.describe()
    assert "read their last 256" in tail.describe()
    ids, by_question = store.read_query_embeddings(DEFAULT_ENCODER)
    order = {q: i for i, q in enumerate(queries.column("query_id").to_pylist())}
    expected = encode_texts(questions)[[order[q] for q in ids]]
    assert np.abs(by_question - expected).max() < 1e-4  # exactly the question, preamble gone
    _, by_head = store.read_query_embeddings(encoder_key(DEFAULT_ENCODER, "head"))
    _, by_tail = store.read_query_embeddings(encoder_key(DEFAULT_ENCODER, "tail"))
    # the head sees 256 word pieces of the same preamble for every item: near-duplicates
    assert _mean_cosine(by_head) > 0.98 > _mean_cosine(by_tail) and _mean_cosine(by_question) < 0.9
    assert sorted(store.query_encoders()) == sorted(["all-MiniLM-L6-v2", "all-MiniLM-L6-v2_head",
                                                     "all-MiniLM-L6-v2_tail"])
