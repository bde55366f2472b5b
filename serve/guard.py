"""Nothing outlives a local `locus serve`, however it dies.

Ray's own processes share the fate of the process that started them, but the HAProxy that Serve's
HAProxy mode runs in front of the ingress replicas is a child of a Ray worker and outlives it: after
a SIGKILL of `locus serve`'s process group it kept the HTTP, stats and metrics ports for over 13
minutes, and the next start failed with "HAProxy crashed during startup". So a server started
here

- checks its port first, and names what holds it (a HAProxy left by a killed server is stopped);
- writes a pid file per port (<tmp>/locus-serve/<port>.json: pid and Ray node), so a second server
  on the port is refused with the first one's pid, and a dead one's leftovers are found;
- starts a watchdog in its own session (a kill of the server's process group does not reach it)
  that stops the node's HAProxy and removes its state when the server's process is gone.

`python -m locus.serve.guard OWNER_PID NODE_ID PORT` is the watchdog.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from locus.errors import LocusDataError

HAPROXY_STATE = Path("/tmp/haproxy-serve")  # Ray Serve's default (RAY_SERVE_HAPROXY_SERVER_STATE_BASE)
PID_FILES = Path(tempfile.gettempdir()) / "locus-serve"


class PortInUseError(LocusDataError):
    """The port `locus serve` was asked for is held by another process."""


def _free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _holder(port: int) -> psutil.Process | None:
    for connection in psutil.net_connections(kind="inet"):
        if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
            try:
                return psutil.Process(connection.pid)
            except psutil.NoSuchProcess:
                return None
    return None


def haproxies(node_id: str | None = None) -> list[psutil.Process]:
    """Serve's HAProxy processes (of one Ray node, with `node_id`)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "haproxy" and str(HAPROXY_STATE) in cmdline and (node_id or "") in cmdline:
            found.append(process)
    return found


def orphaned(process: psutil.Process) -> bool:
    """A Serve HAProxy whose managing Ray worker is gone."""
    try:
        parent = process.parent()
        return parent is None or "HAProxyManager" not in " ".join(parent.cmdline())
    except psutil.Error:
        return True


def stop(processes: list[psutil.Process], timeout: float = 3.0) -> None:
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive, timeout=timeout)


def clean_node(node_id: str) -> None:
    """Stop a Ray node's HAProxy and remove its state."""
    stop(haproxies(node_id))
    shutil.rmtree(HAPROXY_STATE / node_id, ignore_errors=True)


def _pid_file(port: int) -> Path:
    return PID_FILES / f"{port}.json"


def claim_port(host: str, port: int) -> None:
    """Before anything starts: refuse a port that another server or process holds (naming it), after
    stopping what a killed LOCUS server left on it."""
    record = _pid_file(port)
    if record.exists():
        previous = json.loads(record.read_text())
        if _alive(previous["pid"]) and previous["pid"] != os.getpid():
            raise PortInUseError(f"port {port}: `locus serve` (pid {previous['pid']}) is already serving there; "
                                 f"stop it, or choose another --port")
        clean_node(previous["node_id"])  # it died without cleaning up
        record.unlink(missing_ok=True)
    if _free(host, port):
        return
    holder = _holder(port)
    if holder is not None and holder.name() == "haproxy" and orphaned(holder):
        stop([p for p in haproxies() if orphaned(p)])
        if _free(host, port):
            return
    what = ("another process" if holder is None
            else f"{holder.name()} (pid {holder.pid}: {' '.join(holder.cmdline())[:200]})")
    raise PortInUseError(f"port {port} on {host} is held by {what}; stop it, or choose another --port")


def guard(port: int, node_id: str) -> subprocess.Popen:
    """Record this server in the port's pid file and start its watchdog."""
    PID_FILES.mkdir(parents=True, exist_ok=True)
    _pid_file(port).write_text(json.dumps({"pid": os.getpid(), "node_id": node_id}))
    return subprocess.Popen([sys.executable, "-m", "locus.serve.guard", str(os.getpid()), node_id, str(port)],
                            start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def release(port: int, node_id: str, watchdog: subprocess.Popen) -> None:
    """After a clean stop: end the watchdog, stop anything left of the node, remove the pid file."""
    watchdog.terminate()
    watchdog.wait(timeout=10)
    clean_node(node_id)
    _pid_file(port).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _watch(owner: int, node_id: str, port: int) -> None:
    while _alive(owner):
        time.sleep(0.5)
    clean_node(node_id)
    record = _pid_file(port)
    if record.exists() and json.loads(record.read_text())["pid"] == owner:
        record.unlink(missing_ok=True)


if __name__ == "__main__":
    _watch(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))
