"""The README's first command in a reduced form (a slice of the sample, one short epoch): every
stage runs for real on a local Ray cluster; with --keep-serving the app answers until Ctrl-C,
and then everything the quickstart started is stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq

from locus.checkpoint import list_checkpoints
from locus.store import Store


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_until_serving(command: list[str], env: dict, log, path: Path, deadline_s: float) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and process.poll() is None and "keeps serving" not in path.read_text():
        time.sleep(2)
    return process


def test_quickstart_runs_every_stage_keeps_serving_and_cleans_up(tmp_path):
    root, port = tmp_path / "qs", _free_port()
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "COLUMNS": "200"}
    command = [sys.executable, "-m", "locus.cli", "quickstart", "--root", str(root), "--queries", "300",
               "--max-epochs", "1", "--steps-per-epoch", "5", "--port", str(port), "--keep-serving"]
    path = tmp_path / "quickstart.log"
    with path.open("w") as log:
        process = _run_until_serving(command, env, log, path, deadline_s=1200)
        try:
            output = path.read_text()
            assert process.poll() is None and "keeps serving" in output, output[-4000:]
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/route", headers={
                "content-type": "application/json"}, data=json.dumps({"query": "What is 2 + 2?"}).encode())
            with urllib.request.urlopen(request, timeout=60) as response:  # still up after the examples
                assert json.loads(response.read())["results"][0]["choice"]
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                code = process.wait(timeout=180)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # never leave a cluster behind for later tests
                raise
    output = path.read_text()
    assert code == 0, output[-4000:]
    for stage in range(1, 8):
        assert f"{stage}/7 " in output
    assert "encoded 300 new of 300 questions" in output
    assert "registered version" in output and "embedded 29 models" in output
    for method in ("locus", "mf", "irt", "knn", "single_best", "oracle"):
        assert f" {method} " in output
    assert "POST /v1/route" in output and "standing in for" in output  # examples and the proxy demo
    assert f"curl -s http://127.0.0.1:{port}/v1/route" in output

    store = Store(root)
    (entry,) = list_checkpoints(store)
    assert entry["metrics"]["workers"] == 2
    assert pq.read_table(store.path("model_embeddings", "model_embeddings.parquet")).num_rows == 29
    page = (root / "report" / "index.html").read_text()
    assert "Routing by benchmark" in page and (root / "report" / "map.png").stat().st_size > 5_000
    with socket.socket() as s:  # the Serve app is gone
        assert s.connect_ex(("127.0.0.1", port)) != 0
