"""The README's first command the way a user runs it: `locus quickstart` in a subprocess, from a fresh
working directory with the default relative root (Ray Train's workers run in their run's own folder),
in a reduced form (a slice of the sample, one short epoch). With --keep-serving, every `curl` of the
README's serving section runs against it and gets a 2xx; Ctrl-C then stops everything it started."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from locus.checkpoint import list_checkpoints
from locus.store import Store

README = Path(__file__).resolve().parents[2] / "README.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def readme_curls() -> list[str]:
    """Every curl command in the README's serving section, continuation lines joined."""
    section = README.read_text().split("### Serving", 1)[1].split("\n### ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        lines = block.replace("\\\n", " ").splitlines()
        commands += [line.strip() for line in lines if line.strip().startswith("curl")]
    return commands


def test_readme_serving_section_has_the_examples():
    curls = readme_curls()
    assert len(curls) >= 5 and all("localhost:8000" in c for c in curls)
    for path in ("/v1/route", "/v1/embeddings", "/neighbors", "/v1/compare", "/v1/portfolio"):
        assert any(path in c for c in curls), path


def _run_until_serving(command: list[str], cwd: Path, env: dict, log, path: Path, deadline_s: float):
    process = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env,
                               start_new_session=True)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and process.poll() is None and "keeps serving" not in path.read_text():
        time.sleep(2)
    return process


@pytest.mark.slow
def test_quickstart_as_a_user_runs_it_and_the_readme_examples_answer(tmp_path):
    clone, port = tmp_path / "clone", _free_port()
    clone.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("LOCUS_WRITE_TOKEN", "RAY_ADDRESS")} | {"COLUMNS": "80"}
    command = [sys.executable, "-m", "locus.cli", "quickstart", "--queries", "300", "--max-epochs", "1",
               "--epoch-episodes", "40", "--port", str(port), "--keep-serving"]
    path = tmp_path / "quickstart.log"
    answers = []
    with path.open("w") as log:
        process = _run_until_serving(command, clone, env, log, path, deadline_s=1200)
        try:
            output = path.read_text()
            assert process.poll() is None and "keeps serving" in output, output[-4000:]
            token = re.search(r"export LOCUS_WRITE_TOKEN=(\S+)", output).group(1)
            for curl in readme_curls():  # verbatim, but on this test's port and failing on an HTTP error
                run = curl.replace("localhost:8000", f"127.0.0.1:{port}").replace("curl ", "curl --fail-with-body ", 1)
                result = subprocess.run(["bash", "-c", run], capture_output=True, text=True, timeout=120,
                                        env=env | {"LOCUS_WRITE_TOKEN": token})
                assert result.returncode == 0, (curl, result.stdout, result.stderr)
                answers.append(json.loads(result.stdout))
        finally:
            process.send_signal(signal.SIGINT)  # Ctrl-C
            try:
                code = process.wait(timeout=180)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # never leave a cluster behind for later tests
                raise
    output = path.read_text()
    assert code == 0, output[-4000:]
    for stage in range(1, 7):
        assert f"{stage}/6 " in output
    assert "encoded 300 new of 300 questions" in output
    assert "registered version" in output and "embedded 29 models" in output
    for method in ("LOCUS", "matrix factorisation", "IRT (2PL)", "kNN router", "single best model", "oracle"):
        assert f" {method} " in output
    assert "Why routing" in output and "MF: retrain" in output and "A portfolio of 3" in output
    assert "POST /v1/route" in output and "standing in for" in output  # examples and the proxy demo
    assert "Ray's own logs: " in output
    # quiet: Ray's own chatter is in the log file, every epoch line once, tables fit 80 columns
    assert "logging_progress" not in output and "TrainingReport" not in output and "core_worker" not in output
    assert output.count("epoch  1 ") == 1
    assert all(len(line) <= 80 for line in output.splitlines() if line[:1] in "┏┃┡│└"), output
    registered = next(a for a in answers if a.get("model_id") == "my-llm")
    assert registered["n_evaluations"] == 2

    store = Store(clone / "locus-quickstart")  # the default, relative root
    (entry,) = list_checkpoints(store)
    assert entry.meta.metrics.workers == 2 and len(entry.meta.snapshot.models) == 26  # 3 held out
    assert store.read_model_embeddings(entry.version).num_rows == 30  # + my-llm
    page = (clone / "locus-quickstart" / "report" / "index.html").read_text()
    assert "Should I route" in page and (clone / "locus-quickstart" / "report" / "map.png").stat().st_size > 5_000
    with socket.socket() as s:  # the Serve app is gone
        assert s.connect_ex(("127.0.0.1", port)) != 0
