"""Nothing outlives `locus serve`: a port held by anything is named before Ray starts, and a server
killed with SIGKILL of its whole process group leaves no HAProxy, port or pid file behind (the
next start on the same port found them all held)."""

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

import pytest
from locus.serve.guard import PortInUseError, _holder, _pid_file, claim_port, haproxies


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_held_port_is_refused_naming_its_holder():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is held by python.*pid {os.getpid()}"):
            claim_port("127.0.0.1", port)
    claim_port("127.0.0.1", port)  # free again


def test_a_live_server_s_pid_file_refuses_a_second_one(tmp_path):
    port = _free_port()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _pid_file(port).parent.mkdir(parents=True, exist_ok=True)
        _pid_file(port).write_text(json.dumps({"pid": sleeper.pid, "node_id": "n" * 56}))
        with pytest.raises(PortInUseError, match=f"pid {sleeper.pid}"):
            claim_port("127.0.0.1", port)
    finally:
        sleeper.kill()
        sleeper.wait()
    claim_port("127.0.0.1", port)  # its server is gone: the record is cleared
    assert not _pid_file(port).exists()


def _serve(root: Path, port: int, log: Path) -> subprocess.Popen:
    env = os.environ | {"RAY_AUTH_MODE": "disabled", "COLUMNS": "100"}
    return subprocess.Popen([sys.executable, "-m", "locus.cli", "serve", "--root", str(root), "--port", str(port)],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_serving(process: subprocess.Popen, log: Path, url: str, deadline_s: float = 240) -> None:
    deadline = time.monotonic() + deadline_s
    while "keeps serving" not in log.read_text():
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(1)
    with urllib.request.urlopen(url + "/healthz", timeout=30) as response:
        assert response.status == 200


@pytest.mark.slow
def test_sigkill_of_the_process_group_leaves_nothing_behind(trained_store, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    first = _serve(trained_store.uri, port, tmp_path / "first.log")
    try:
        _wait_serving(first, tmp_path / "first.log", url)
        node = json.loads(_pid_file(port).read_text())["node_id"]
        assert haproxies(node), "Serve's HAProxy mode is expected in front of the app"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        deadline = time.monotonic() + 30
        while haproxies(node) or _pid_file(port).exists():
            assert time.monotonic() < deadline, f"left behind: {haproxies(node)}, {_pid_file(port).exists()}"
            time.sleep(0.5)
        assert not Path("/tmp/haproxy-serve", node).exists()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)

    # what blocked the next start: the port still held (HAProxy and its stats and metrics ports are gone above)
    claim_port("127.0.0.1", port)
    assert not _holder(port)
