"""SIGKILL at random points of an import, an encoding, an embedding job and registrations (the
evaluation job's kill is in tests/jobs/test_evaluate.py): after every kill each table reads at its
last commit and training data loads; the re-run completes with no duplicate key."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from locus.data import load_evaluation_set
from locus.encoders import DEFAULT_ENCODER
from locus.store import Store
from tests.conftest import read_every_table

pytestmark = pytest.mark.slow  # dozens of processes started and killed

ROOT_DIR = Path(__file__).resolve().parents[2]


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT_DIR, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _kill_runs(args: list[str], delays: tuple[float, float], kills: int, check, seed: int,
               prepare=lambda: None) -> int:
    """Start `args` (after `prepare()`) and SIGKILL it after a random delay until `kills` kills
    landed mid-run; `check()` after every run. A run that finishes first narrows the delays to its
    own duration (machines differ). Returns how many runs finished before their kill."""
    rng, landed, finished = random.Random(seed), 0, 0
    low, high = delays
    while landed < kills:
        prepare()
        log = Path(os.environ.get("TMPDIR", "/tmp")) / f"locus-kill-{os.getpid()}.log"
        began = time.monotonic()
        job = _start(args, log)
        time.sleep(rng.uniform(low, high))
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            landed += 1
        else:
            finished += 1
            assert job.returncode == 0, f"{args} failed on its own:\n{log.read_text()[-3000:]}"
            took = time.monotonic() - began
            low, high = min(low, took / 3), min(high, took * 0.9)
        job.wait()
        check()
        assert finished <= 3 * kills, f"{args} keeps finishing before the kill"
    return finished


def _unique(table: pa.Table, keys: tuple[str, ...]) -> bool:
    rows = list(zip(*(table.column(k).to_pylist() for k in keys), strict=True))
    return len(set(rows)) == len(rows)


def _tables(folder: Path, models: int, queries: int) -> tuple[Path, Path]:
    ids = [f"k-{j:04d}" for j in range(queries)]
    pq.write_table(pa.table({"query_id": ids, "text": [f"question {q}?" for q in ids], "benchmark": ["k"] * queries}),
                   folder / "queries.parquet")
    scores = np.random.default_rng(0).integers(0, 2, models * queries).astype(np.float32)
    pq.write_table(pa.table({"model_id": np.repeat([f"km-{i:03d}" for i in range(models)], queries),
                             "query_id": ids * models, "score": scores}), folder / "evaluations.parquet")
    return folder / "queries.parquet", folder / "evaluations.parquet"


def test_killed_imports_and_encodings_leave_readable_tables(tmp_path):
    queries, evaluations = _tables(tmp_path, models=150, queries=1000)
    root = str(tmp_path / "store")
    args = ["-m", "locus.cli", "import", "table", "--queries", str(queries), "--evaluations", str(evaluations),
            "--root", root]
    early = _kill_runs(args, (0.4, 1.4), kills=8, check=lambda: read_every_table(root), seed=0)
    assert subprocess.run([sys.executable, *args], cwd=ROOT_DIR, capture_output=True).returncode == 0
    store = Store(root)
    assert store.read_evaluations().num_rows == 150_000 and store.read_queries().num_rows == 1000
    assert _unique(store.read_evaluations(), ("model_id", "query_id", "scorer"))
    assert not list((tmp_path / "store").rglob(".tmp-*"))

    added = iter(range(100))

    def more_queries() -> None:  # every run has queries to encode, even after one that finished
        batch = next(added)
        ids = [f"more-{batch}-{k}" for k in range(300)]
        Store(root).write_queries(pa.table({"query_id": ids, "text": [f"Another question {q}?" for q in ids]}))

    encode = ["-m", "locus.cli", "encode", "--root", root]
    early += _kill_runs(encode, (2.0, 8.0), kills=4, check=lambda: read_every_table(root), seed=1,
                        prepare=more_queries)
    assert subprocess.run([sys.executable, *encode], cwd=ROOT_DIR, capture_output=True).returncode == 0
    total = Store(root).read_queries().num_rows
    ids, matrix = Store(root).read_query_embeddings(DEFAULT_ENCODER)
    assert len(ids) == len(set(ids)) == total and matrix.shape == (total, 384)
    print(f"\n12 kills landed during import and encode ({early} runs finished before their kill)")


def test_killed_embeddings_and_registrations_leave_a_trainable_store(trained_store):
    root = trained_store.uri

    def check() -> None:
        read_every_table(root)
        load_evaluation_set(Store(root), DEFAULT_ENCODER)  # what `locus fit` does before training

    embedded = Store(root).read_model_embeddings().num_rows
    early = _kill_runs(["-m", "locus.cli", "embed", "--root", root], (1.0, 3.0), kills=4, check=check, seed=2)
    for i in range(4):
        early += _kill_runs(["-m", "tests.store.writers", "register", root, str(i)], (1.5, 4.2), kills=1,
                            check=check, seed=3 + i)
    for i in range(4):  # the registrations sent again complete
        assert subprocess.run([sys.executable, "-m", "tests.store.writers", "register", root, str(i)], cwd=ROOT_DIR,
                              capture_output=True).returncode == 0
    store = Store(root)
    assert _unique(store.read_evaluations(), ("model_id", "query_id", "scorer"))
    assert _unique(store.read_model_embeddings(), ("model_id", "version"))
    assert store.read_model_embeddings().num_rows == embedded + 4
    for i in range(4):
        assert store.read_evaluations([f"reg-{i}"]).num_rows == 20
    ids, _ = store.read_query_embeddings(DEFAULT_ENCODER)
    assert len(ids) == len(set(ids))

    from locus.training import TrainConfig, TrainRun
    from locus.training.run import train_version
    from tests.conftest import SMALL_MODEL

    train = TrainConfig(max_epochs=1, epoch_episodes=16, warmup_steps=1, max_batch_models=4, max_context=64,
                        target_size=16)
    summary = train_version(store, TrainRun(encoder=DEFAULT_ENCODER, model=SMALL_MODEL, train=train))
    assert len(summary.meta.snapshot.models) == 29 + 4
    print(f"\n8 kills landed during embed and registration ({early} runs finished before their kill)")
