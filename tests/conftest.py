"""Shared fixtures: small stores built from the bundled real MMLU-Pro sample."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from locus.encoders import DEFAULT_ENCODER, encode_store
from locus.sample import sample_tables
from locus.store import Store

SLICE_QUERIES = 600


def sample_slice(n_queries: int = SLICE_QUERIES) -> tuple[pa.Table, pa.Table]:
    """The first `n_queries` questions of the bundled sample and every evaluation on them."""
    queries, evaluations = sample_tables()
    queries = queries.slice(0, n_queries)
    keep = pc.is_in(evaluations.column("query_id"), value_set=queries.column("query_id").combine_chunks())
    return queries, evaluations.filter(keep)


@pytest.fixture(scope="session")
def encoded_store_template(tmp_path_factory) -> Path:
    """A store with the sample slice imported and encoded once per test session."""
    root = tmp_path_factory.mktemp("template") / "store"
    store = Store(root)
    queries, evaluations = sample_slice()
    store.write_queries(queries)
    store.write_evaluations(evaluations)
    encode_store(store, DEFAULT_ENCODER, progress=False)
    return root


@pytest.fixture
def encoded_store(encoded_store_template, tmp_path) -> Store:
    """A private copy of the encoded store, free to modify."""
    root = tmp_path / "store"
    shutil.copytree(encoded_store_template, root)
    return Store(root)


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "empty-store")
