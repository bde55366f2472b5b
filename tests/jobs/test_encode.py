"""Query encoding as a Ray Data job matches the in-process encoder and only encodes what is missing."""

from __future__ import annotations

import numpy as np
import pytest
from locus.jobs.encode import run_encoding

from locus.encoders import DEFAULT_ENCODER, encode_texts
from locus.store import Store
from tests.conftest import sample_slice

pytestmark = pytest.mark.slow  # starts Ray (and vLLM, Serve or a training run)


def test_ray_encoding_matches_in_process_and_is_incremental(tmp_path):
    store = Store(tmp_path / "store")
    queries, _ = sample_slice(40)
    store.write_queries(queries.slice(0, 30))
    first = run_encoding(str(store.uri), DEFAULT_ENCODER, batch_size=8, chunk_size=16)
    assert (first.encoded, first.total) == (30, 30)
    store.write_queries(queries)
    again = run_encoding(str(store.uri), DEFAULT_ENCODER, batch_size=8)
    assert (again.encoded, again.total) == (10, 40)  # only the new ones
    ids, vectors = store.read_query_embeddings(DEFAULT_ENCODER)
    assert sorted(ids) == sorted(queries.column("query_id").to_pylist())
    texts = dict(zip(queries.column("query_id").to_pylist(), queries.column("text").to_pylist(), strict=True))
    expected = encode_texts([texts[i] for i in ids])
    assert np.abs(vectors - expected).max() < 1e-4
