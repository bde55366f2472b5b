"""Replica deaths under load: 8 clients route for the whole run while one replica of a deployment is
killed by pid (SIGKILL, as a crash or the OOM killer would); reports failed requests and the longest
gap between two completed requests, per deployment killed.

    python benchmarks/serve_faults.py --root STORE --out benchmarks/results/serve-faults.json

Against `locus serve`'s defaults (two replicas of the ingress and of LOCUS) unless --min-replicas."""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import psutil
from locus.serve.run import serving
from locus.serve.settings import Autoscaling, ServeSettings

QUERIES = ["Which planet is largest?", "Define entropy.", "What is the derivative of x^2?", "Who wrote Hamlet?"]


def replicas(deployment: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"])
            if (p.info["cmdline"] or [""])[0] == f"ray::ServeReplica:locus:{deployment}"]


def load(url: str, stop: threading.Event, done: list[float], failed: Counter, client: int) -> None:
    while not stop.is_set():
        body = json.dumps({"query": QUERIES[client % len(QUERIES)] + f" ({len(done) % 50})"}).encode()
        request = urllib.request.Request(url + "/v1/route", data=body, headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
            done.append(time.monotonic())
        except urllib.error.HTTPError as exc:
            failed[exc.code] += 1
        except OSError as exc:
            failed[type(exc).__name__] += 1


def kill_one(url: str, deployment: str, seconds: float, clients: int = 8) -> dict:
    stop, done, failed = threading.Event(), [], Counter()
    threads = [threading.Thread(target=load, args=(url, stop, done, failed, c)) for c in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds / 3)
    victims = replicas(deployment)
    before = {p.pid for p in victims}
    killed_at = time.monotonic()
    os.kill(victims[0].pid, signal.SIGKILL)
    time.sleep(seconds * 2 / 3)
    stop.set()
    for t in threads:
        t.join()
    stamps = sorted(done)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    after = [s for s in stamps if s > killed_at]
    return {"deployment": deployment, "replicas_before": len(before), "requests": len(done) + sum(failed.values()),
            "failed": sum(failed.values()), "failures": dict(failed), "longest_gap_s": round(max(gaps), 3),
            "longest_gap_after_kill_s": round(max(b - a for a, b in zip([killed_at, *after], after, strict=False)), 3),
            "replaced": len({p.pid for p in replicas(deployment)} - before) > 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--min-replicas", type=int, default=None, help="of the ingress and LOCUS (default: serve's)")
    parser.add_argument("--port", type=int, default=8011)
    parser.add_argument("--out")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    scaling = {} if args.min_replicas is None else {
        name: Autoscaling(min_replicas=args.min_replicas, max_replicas=max(2, args.min_replicas))
        for name in ("ingress", "locus")}
    settings = ServeSettings(root=args.root, **scaling)
    results = []
    with serving(settings, port=args.port) as url:
        deadline = time.monotonic() + 120
        while (len(replicas("Ingress")) < settings.ingress.min_replicas
               or len(replicas("LocusModel")) < settings.locus.min_replicas):
            assert time.monotonic() < deadline, "replicas did not start"
            time.sleep(1)
        time.sleep(5)
        for deployment in ("LocusModel", "Ingress"):
            result = kill_one(url, deployment, args.seconds)
            print(json.dumps(result))
            results.append(result)
            time.sleep(10)  # the replacement settles
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"min_replicas": {"ingress": settings.ingress.min_replicas, "locus": settings.locus.min_replicas},
                       "seconds": args.seconds, "clients": 8, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
