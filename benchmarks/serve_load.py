"""Load on `/v1/route` over HTTP: p50/p99 latency and routed queries/s with 1, 8 and 32 concurrent
clients, with request batching in the query encoder (@serve.batch of 32) and without (batch of 1),
and the autoscaler's replica counts under sustained load and after it. The fixed runs have one
ingress and one LOCUS replica and two single-threaded encoder replicas (one per core).

    python benchmarks/serve_load.py --root /tmp/locus-mmlu-pro --out benchmarks/results/serve-load.json

Workloads: real MMLU-Pro question texts from the store (the routing encoder reads up to 128
word pieces), short queries (their first 12 words), both with the ingress's vector cache off, and
a few repeated questions with the cache on. `--python-proxy` measures Serve's defaults (the Python
HTTP proxy, Ray actor calls between replicas) instead of the throughput mode with HAProxy that
`locus serve` starts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import aiohttp
import numpy as np
from locus.jobs.ray_session import FAST_SERVE_ENV
from locus.serve.run import APP_NAME, serving
from locus.serve.settings import Autoscaling, ServeSettings
from ray import serve

from locus.store import Store


async def load(url: str, texts: list[str], clients: int, seconds: float) -> dict:
    """`clients` loops each sending one query at a time for `seconds`; latency per request."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(i: int, session: aiohttp.ClientSession) -> None:
        nonlocal errors
        n = i
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            async with session.post(url + "/v1/route", json={"query": texts[n % len(texts)], "k": 3}) as response:
                await response.read()
                if response.status != 200:
                    errors += 1
            latencies.append(time.perf_counter() - start)
            n += clients

    start = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(client(i, session) for i in range(clients)))
    elapsed = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {"clients": clients, "requests": len(ms), "errors": errors, "qps": len(ms) / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def replicas() -> dict[str, int]:
    app = serve.status().applications[APP_NAME]
    return {name: d.replica_states.get("RUNNING", 0) for name, d in app.deployments.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="/tmp/locus-mmlu-pro")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/serve-load.json"))
    parser.add_argument("--seconds", type=float, default=15.0, help="per concurrency level")
    parser.add_argument("--python-proxy", action="store_true", help="Serve's defaults instead of its throughput "
                                                                    "mode with HAProxy")
    args = parser.parse_args()
    if args.python_proxy:
        os.environ.update({name: "0" for name in FAST_SERVE_ENV})
    questions = Store(args.root).read_queries().column("text").to_pylist()
    short = [" ".join(q.split()[:12]) for q in questions]
    scenarios = [  # (name, texts, encoder batch size, ingress cache size)
        ("mmlu-pro questions, batched", questions, 32, 0),
        ("mmlu-pro questions, unbatched", questions, 1, 0),
        ("short queries (12 words), batched", short, 32, 0),
        ("short queries (12 words), unbatched", short, 1, 0),
        ("64 repeated questions, cache on", questions[:64], 32, 10000),
    ]
    results: dict = {}
    fixed, per_core = Autoscaling(min_replicas=1, max_replicas=1), Autoscaling(min_replicas=2, max_replicas=2)
    for name, texts, batch_size, cache_size in scenarios:
        settings = ServeSettings(root=args.root, encoder_batch_size=batch_size, encoder_cache_size=cache_size,
                                 encoder=per_core, locus=fixed, ingress=fixed)
        with serving(settings, port=8011) as url:
            asyncio.run(load(url, texts[-300:], 8, 5.0))  # warm-up, on texts the runs do not reach
            results[name] = [asyncio.run(load(url, texts, c, args.seconds)) for c in (1, 8, 32)]
            for r in results[name]:
                print(name, r, flush=True)

    elastic = Autoscaling(min_replicas=1, max_replicas=2, target_ongoing_requests=4, upscale_delay_s=2,
                          downscale_delay_s=10)
    settings = ServeSettings(root=args.root, encoder=elastic, locus=elastic, ingress=elastic)
    with serving(settings, port=8011) as url:
        before = replicas()
        sustained = asyncio.run(load(url, questions, 32, 3 * args.seconds))
        during = replicas()
        idle = time.perf_counter()
        while (after := replicas()) != before and time.perf_counter() - idle < 180:
            time.sleep(2)
        back_s = time.perf_counter() - idle
    results["autoscaling"] = {"before": before, "under_load": during, "after_load": after,
                              "seconds_to_scale_back": round(back_s), "load": sustained}
    print(results["autoscaling"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
