"""One-call onboarding for real: `locus onboard --run` evaluates a tiny random Llama (vLLM, CPU build,
local Ray) on the queries the strategy picks, embeds and registers it. Killed mid-way, it leaves
the model unregistered and its evaluations so far stored once; run again, it evaluates only what
the budget still lacks and registers the model, which the pool then routes to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.compute as pc
import pytest
import yaml
from typer.testing import CliRunner

from locus.cli import app
from locus.encoders import DEFAULT_ENCODER
from locus.routing import ModelPool
from tests.jobs.tiny_llm import build_tiny_llama

pytestmark = pytest.mark.slow  # starts Ray and vLLM twice

BUDGET = 24
SERVED_AT = "http://127.0.0.1:9/v1"


def test_one_call_onboarding_killed_mid_way_registers_nothing_and_a_retry_finishes(trained_store, tmp_path):
    store = trained_store
    queries = store.read_queries()  # texts cut short: the tiny model reads 1,024 tokens (the vectors stay)
    store.write_queries(queries.set_column(queries.schema.get_field_index("text"), "text",
                                           pc.utf8_slice_codeunits(queries.column("text"), 0, 600)))
    weights = build_tiny_llama(tmp_path / "tiny-new", seed=3)
    config = tmp_path / "eval.yaml"
    config.write_text(yaml.safe_dump({
        "root": str(store.uri), "models": [{"id": "tiny-new", "path": str(weights), "engine": {
            "dtype": "float32", "max_model_len": 1024, "enforce_eager": True}}],
        "benchmarks": [{"name": "mmlu-pro", "prompt": "{text}\nAnswer: the answer is (", "scorer": {"name": "choice"}}],
        "sampling": {"temperature": 0.0, "max_tokens": 8},
        "resources": {"engines": 1, "cpus_per_engine": 1, "batch_size": 2, "chunk_size": 2}}))
    args = ["onboard", "--root", str(store.uri), "--model", "tiny-new", "--budget", str(BUDGET), "--run", "--config",
            str(config), "--served-at", SERVED_AT]
    job = subprocess.Popen([sys.executable, "-m", "locus.cli", *args], env=os.environ | {"RAY_AUTH_MODE": "disabled"},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline, stored = time.monotonic() + 300, 0
    while stored == 0:
        assert job.poll() is None and time.monotonic() < deadline, "the onboarding ended before its first chunk"
        time.sleep(0.2)
        stored = store.read_evaluations(["tiny-new"], missing_ok=True).num_rows
    os.killpg(job.pid, signal.SIGKILL)  # the command, its local Ray cluster and its engine
    job.wait()
    evaluated = store.read_evaluations(["tiny-new"], missing_ok=True)
    assert 0 < evaluated.num_rows < BUDGET
    assert "tiny-new" not in store.read_model_embeddings().column("model_id").to_pylist()  # nothing registered
    assert "tiny-new" not in store.read_models().column("model_id").to_pylist()
    before = dict(zip(*(store.read_generations(["tiny-new"]).column(c).to_pylist() for c in ("query_id",
                                                                                            "created_at")),
                      strict=True))

    result = CliRunner().invoke(app, args, catch_exceptions=False)
    print(result.output)
    assert result.exit_code == 0, result.output
    evaluations = store.read_evaluations(["tiny-new"])
    assert evaluations.num_rows == BUDGET == len(set(evaluations.column("query_id").to_pylist()))
    again = store.read_generations(["tiny-new"])
    assert all(t == before[q] for q, t in zip(again.column("query_id").to_pylist(),
                                              again.column("created_at").to_pylist(), strict=True) if q in before)
    embedded = store.read_model_embeddings()
    row = embedded.filter(pc.equal(embedded.column("model_id"), "tiny-new")).to_pylist()
    assert len(row) == 1 and row[0]["n_evaluations"] == BUDGET
    models = store.read_models()
    assert models.filter(pc.equal(models.column("model_id"), "tiny-new")).column("served_at").to_pylist() == [SERVED_AT]
    pool = ModelPool.load(store)
    _, phi = store.read_query_embeddings(DEFAULT_ENCODER)
    routed = pool.route(np.asarray(phi[:3]), candidates=["tiny-new"], min_evaluations=0)
    assert {r.choice for r in routed} == {"tiny-new"}
    again = CliRunner().invoke(app, args, catch_exceptions=False)  # the budget is reached: only registers again
    assert again.exit_code == 0 and "0 new evaluations" in again.output, again.output
