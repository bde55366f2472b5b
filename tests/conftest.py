"""Shared fixtures: small stores built from the bundled real MMLU-Pro sample."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from locus.encoders import DEFAULT_ENCODER, encode_store
from locus.sample import sample_tables
from locus.store import Store

SLICE_QUERIES = 600

# Serve keeps a stopping ingress replica (the API's, the gateway's) serving for 30 s so that a
# proxy in front stops sending to it first; every test cluster is torn down whole, and those 30 s
# were spent on each app's teardown. Read by the Serve controller of clusters started from here.
os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "2")


def sample_slice(n_queries: int = SLICE_QUERIES) -> tuple[pa.Table, pa.Table]:
    """The first `n_queries` questions of the bundled sample and every evaluation on them."""
    return sample_tables(n_queries)


def read_every_table(root: str) -> dict[str, int]:
    """Every table of the store at `root` reads whole (after a kill: at its last commit); rows per table."""
    store = Store(root)
    return {name: store.table(name).read().num_rows for name in store.table_names()}


@pytest.fixture(scope="session")
def encoded_store_template(tmp_path_factory) -> Path:
    """A store with the sample slice imported and encoded once per test session."""
    root = tmp_path_factory.mktemp("template") / "store"
    store = Store(root)
    queries, evaluations = sample_slice()
    store.write_queries(queries)
    store.write_evaluations(evaluations)
    encode_store(store, DEFAULT_ENCODER)
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


SMALL_MODEL = {"dim": 32, "num_latents": 8}
# fixtures train two tiny epochs with one view per model (the consistency term's own tests are in
# tests/training/test_loop.py; its effect on stability is measured by `locus bench stability`)
QUICK_TRAIN = dict(max_batch_models=8, max_context=256, target_size=64, epoch_episodes=240, max_epochs=2,
                   warmup_steps=10, consistency=0)


@pytest.fixture(scope="session")
def trained_store_template(encoded_store_template, tmp_path_factory) -> Path:
    """The encoded slice with a small LOCUS version trained and every model embedded, once per session."""
    from locus.embedding import embed_store
    from locus.training import TrainConfig, TrainRun
    from locus.training.run import train_version

    root = tmp_path_factory.mktemp("trained") / "store"
    shutil.copytree(encoded_store_template, root)
    store = Store(root)
    train_version(store, TrainRun(encoder=DEFAULT_ENCODER, model=SMALL_MODEL, train=TrainConfig(**QUICK_TRAIN)))
    embed_store(store)
    return root


@pytest.fixture
def trained_store(trained_store_template, tmp_path) -> Store:
    """A private copy of the trained store, free to modify."""
    root = tmp_path / "trained"
    shutil.copytree(trained_store_template, root)
    return Store(root)


def unrun_meta() -> dict:
    """The metadata arguments of `save_checkpoint` for a network saved without a training run."""
    from locus.checkpoint import RunMetrics, Snapshot
    from locus.training import TrainConfig

    return {"train_config": TrainConfig(), "snapshot": Snapshot(models=[], n_train_evaluations=0, n_queries=0),
            "metrics": RunMetrics(best_epoch=0, validation={}, test={}, history=[], seconds=0.0)}
