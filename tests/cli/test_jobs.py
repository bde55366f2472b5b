"""`locus job submit|status|logs|stop` against a real Ray head (Jobs API on 127.0.0.1)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from locus.checkpoint import list_checkpoints
from locus.cli import app

pytestmark = pytest.mark.slow  # starts Ray (and vLLM, Serve or a training run)

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """`ray start --head --block` in its own process group; killing the group stops only this cluster."""
    port, dashboard = _free_port(), _free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", "--num-cpus=2",
         f"--port={port}", "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}",
         # a short temp dir: Ray's Unix sockets live there and their paths may not exceed 107 bytes
         f"--temp-dir={temp_dir}", "--include-dashboard=true"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    address = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 90
    while runner.invoke(app, ["job", "status", "missing", "--address", address]).output.count("no Ray Jobs API"):
        assert time.monotonic() < deadline and head.poll() is None, "the Ray head did not come up"
        time.sleep(2)
    yield address
    os.killpg(head.pid, signal.SIGKILL)
    head.wait(timeout=30)
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_submit_train_then_status_logs_and_stop(ray_head, encoded_store, monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    root = str(encoded_store.uri)
    train = ["train", "--root", root, "--workers", "1", "--max-epochs", "1", "--epoch-episodes", "40",
             "--dim", "32", "--num-latents", "8"]
    result = runner.invoke(app, ["job", "submit", "--address", ray_head, "--wait", "--", *train])
    assert result.exit_code == 0, result.output
    job_id = result.output.splitlines()[0].strip()
    assert "registered version" in result.output and "SUCCEEDED" in result.output
    assert len(list_checkpoints(encoded_store)) == 1

    status = runner.invoke(app, ["job", "status", job_id, "--address", ray_head])
    assert "SUCCEEDED" in status.output and "locus train" in status.output
    logs = runner.invoke(app, ["job", "logs", job_id, "--address", ray_head])
    assert "registered version" in logs.output

    long = runner.invoke(app, ["job", "submit", "--address", ray_head, "--", *train[:-6], "--max-epochs", "1000",
                               "--patience", "1000"])
    long_id = long.output.splitlines()[0].strip()
    stopped = runner.invoke(app, ["job", "stop", long_id, "--address", ray_head])
    assert "STOPPED" in stopped.output, stopped.output


def test_submit_needs_a_locus_command(ray_head):
    result = runner.invoke(app, ["job", "submit", "--address", ray_head, "--", "rm", "-rf", "/"])
    assert result.exit_code == 2 and "one of train" in result.output
