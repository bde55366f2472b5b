"""The README's first command in a reduced form (a slice of the sample, one short epoch): every
stage runs for real on a local Ray cluster, and everything it started is stopped at the end."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pyarrow.parquet as pq

from locus.checkpoint import list_checkpoints
from locus.store import Store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_quickstart_runs_every_stage_and_cleans_up(tmp_path):
    root, port = tmp_path / "qs", _free_port()
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "locus.cli", "quickstart", "--root", str(root), "--queries", "300",
                           "--max-epochs", "1", "--steps-per-epoch", "5", "--port", str(port)],
                          capture_output=True, text=True, timeout=1200, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for stage in range(1, 8):
        assert f"{stage}/7 " in output
    assert "encoded 300 new of 300 questions" in output
    assert "registered version" in output and "embedded 29 models" in output
    for method in ("locus", "mf", "irt", "knn", "single_best", "oracle"):
        assert f" {method} " in output
    assert output.count("Llama") + output.count("gemini") + output.count("Mistral") >= 5  # routed examples
    assert "standing in for" in output  # the proxy demo

    store = Store(root)
    (entry,) = list_checkpoints(store)
    assert entry["metrics"]["workers"] == 2
    assert pq.read_table(store.path("model_embeddings", "model_embeddings.parquet")).num_rows == 29
    page = (root / "report" / "index.html").read_text()
    assert "Routing by benchmark" in page and (root / "report" / "map.png").stat().st_size > 5_000
    with socket.socket() as s:  # the Serve app is gone
        assert s.connect_ex(("127.0.0.1", port)) != 0
