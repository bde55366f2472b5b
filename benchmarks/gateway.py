"""The routed gateway, measured two ways.

`overhead`: what the gateway adds. A tiny Llama served by `vllm serve` (CPU build) under two model
names is called directly and through the gateway (a name passed through, and `locus/auto`), in
one run, interleaved, at 1 and 8 concurrent streaming clients: time to first token and total
latency, p50 and p99, and the routing step's own time (the x-locus-route-ms header).

    python benchmarks/gateway.py overhead --root STORE --out benchmarks/results/gateway-overhead.json

`value`: what routing buys, offline, on a store's held-out questions (a version's test split, every
model embedded from its training-split evaluations only), with the published answers as the
backends' outputs and the models table's prices as cost: accuracy and mean price of `locus/auto`
at several min_p and cost weights, against always the single best model, a random model,
RouteLLM-style two-model threshold routing (the best model and a cheap one, the cheap one unless
its predicted p(correct) is under a threshold) and the oracle (the cheapest model that is right).

    python benchmarks/gateway.py value --root STORE --out benchmarks/results/gateway-value.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the tiny-model builder

from tests.jobs.tiny_llm import build_tiny_llama  # noqa: E402

QUESTION = "Question 7: what is 7 plus 4? The answer is"


# -- overhead --------------------------------------------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_vllm(weights: Path, names: list[str], log: Path, cpus: list[int]) -> tuple[subprocess.Popen, str]:
    import urllib.error
    import urllib.request

    port = _free_port()
    server = subprocess.Popen(
        ["taskset", "-c", ",".join(map(str, cpus)), sys.executable, "-m", "vllm.entrypoints.openai.api_server",
         "--model", str(weights), "--host", "127.0.0.1",
         "--port", str(port), "--served-model-name", *names, "--max-model-len", "512", "--enforce-eager",
         "--dtype", "float32"],
        env=os.environ | {"VLLM_CPU_KVCACHE_SPACE": "1"}, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 600
    while True:
        try:
            urllib.request.urlopen(url + "/models", timeout=2).read()
            return server, url
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vllm serve did not start; see {log}") from None
            time.sleep(1)


async def _one(client, model: str, max_tokens: int) -> dict:
    started = time.perf_counter()
    raw = await client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": QUESTION}], max_tokens=max_tokens, temperature=0,
        stream=True, extra_body={"ignore_eos": True})
    first = None
    async for chunk in raw.parse():
        if first is None and chunk.choices and chunk.choices[0].delta.content is not None:
            first = time.perf_counter() - started
    route_ms = raw.headers.get("x-locus-route-ms")
    return {"ttft_s": first, "total_s": time.perf_counter() - started,
            "route_ms": None if route_ms is None else float(route_ms)}


async def _round(targets: dict, clients: int, requests: int, max_tokens: int) -> dict[str, list[dict]]:
    """`requests` per target at `clients` concurrent, the targets interleaved request by request."""
    out = {name: [] for name in targets}
    queue = [name for _ in range(requests) for name in targets]
    gate = asyncio.Semaphore(clients)

    async def run(name: str) -> None:
        async with gate:
            client, model = targets[name]
            out[name].append(await _one(client, model, max_tokens))

    await asyncio.gather(*(run(n) for n in queue))
    return out


def _summary(samples: list[dict]) -> dict:
    def pct(key: str, q: float) -> float | None:
        values = [s[key] for s in samples if s[key] is not None]
        return float(np.percentile(values, q)) * (1 if key == "route_ms" else 1000) if values else None

    return {"n": len(samples), **{f"{k}_p{q}_ms": pct(k, q) for k in ("ttft_s", "total_s") for q in (50, 99)},
            **({"route_p50_ms": pct("route_ms", 50), "route_p99_ms": pct("route_ms", 99)}
               if any(s["route_ms"] is not None for s in samples) else {})}


async def _measure(direct_url: str, gateway_url: str, model: str, args: argparse.Namespace) -> dict:
    import openai

    def client(base: str):
        return openai.AsyncOpenAI(base_url=base, api_key="unused", max_retries=0, timeout=120)

    direct, gateway = client(direct_url), client(gateway_url)
    targets = {"direct": (direct, model), "gateway, model named": (gateway, model),
               "gateway, locus/auto": (gateway, "locus/auto")}
    await _round(targets, 2, 4, args.max_tokens)  # warm-up: connections, encoder, caches
    rounds = {}
    for clients in (1, 8):
        measured = await _round(targets, clients, args.requests, args.max_tokens)
        row = rounds[str(clients)] = {name: _summary(s) for name, s in measured.items()}
        for name in ("gateway, model named", "gateway, locus/auto"):
            row[name]["added_ttft_p50_ms"] = row[name]["ttft_s_p50_ms"] - row["direct"]["ttft_s_p50_ms"]
            row[name]["added_total_p50_ms"] = row[name]["total_s_p50_ms"] - row["direct"]["total_s_p50_ms"]
        print(json.dumps({"clients": clients, **row}, indent=1))
    return rounds


def overhead(args: argparse.Namespace) -> dict:
    from locus.serve.gateway_settings import GatewaySettings
    from locus.serve.run import gateway_serving

    from locus.store import Store

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    work = Path(tempfile.mkdtemp(prefix="locus-gateway-"))
    store = Store(args.root)
    names = store.read_model_embeddings().column("model_id").to_pylist()[:2]
    # the backend on its own cores, the gateway (this process, the Ray cluster it starts) and the
    # clients on the others: a backend is another machine in practice, and on one machine the
    # gateway's work would otherwise slow the backend it is measured against
    cores = sorted(os.sched_getaffinity(0))
    backend_cores, own_cores = cores[:args.backend_cores], cores[args.backend_cores:] or cores
    os.sched_setaffinity(0, own_cores)
    server, direct_url = _start_vllm(build_tiny_llama(work / "tiny", seed=1), names, work / "vllm.log", backend_cores)
    try:
        settings = GatewaySettings(root=args.root, read_token=None, write_token=None, min_evaluations=0,
                                   encoder={"min_replicas": 1, "max_replicas": 1},
                                   locus={"min_replicas": 1, "max_replicas": 1},
                                   ingress={"min_replicas": 1, "max_replicas": 1},
                                   backends=[{"model_id": m, "base_url": direct_url} for m in names])
        with gateway_serving(settings, port=_free_port()) as url:
            rounds = asyncio.run(_measure(direct_url, url + "/v1", names[0], args))
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    return {"benchmark": "gateway overhead", "max_tokens": args.max_tokens, "requests_per_target": args.requests,
            "backend": "vllm serve (CPU build), tiny Llama", "backend_cores": backend_cores,
            "gateway_and_client_cores": own_cores, "clients": rounds}


# -- value -----------------------------------------------------------------------------------------
def value(args: argparse.Namespace) -> dict:
    from locus.calibration import REFERENCE_SIZE
    from locus.heldout import load_heldout
    from locus.routing import PRIOR_STRENGTH, ModelPool
    from locus.store import Store

    store = Store(args.root)
    held = load_heldout(store, args.version)
    data, split = held.data, held.split
    models = {r["model_id"]: r for r in store.read_models().to_pylist()}
    price = np.array([models.get(m, {}).get("cost_per_1k_tokens") or np.nan for m in data.model_ids])
    priced = ~np.isnan(price)
    if not priced.any():
        raise SystemExit("the models table has no cost_per_1k_tokens: nothing to weigh accuracy against")
    ids = [m for m, p in zip(data.model_ids, priced, strict=True) if p]
    keep = np.flatnonzero(priced)
    scores = np.nan_to_num(held.scores[keep], nan=0.0)  # [models, test queries]
    price = price[keep]
    train = data.restrict(split.train)
    n_train = np.array([len(train.scores[m]) for m in keep])
    position = {q: i for i, q in enumerate(data.query_ids)}
    reference = [position[q] for q in held.checkpoint.routing.reference if q in position][:REFERENCE_SIZE]
    pool = ModelPool(held.checkpoint, ids, held.z[keep], n_train, models, data.phi[reference])
    phi = data.phi[split.test]

    def outcome(choice: np.ndarray) -> dict:
        picked = scores[choice, np.arange(scores.shape[1])]
        return {"accuracy": float(picked.mean()), "mean_cost_per_1k": float(price[choice].mean()),
                "share_of_best_model": float((choice == best).mean())}

    def routed(**policy) -> np.ndarray:
        routes = pool.route(phi, prior_strength=PRIOR_STRENGTH, min_evaluations=0, k=1, **policy)
        return np.array([ids.index(r.choice) for r in routes])

    train_mean = np.array([float(train.scores[m].mean()) for m in keep])
    best = int(np.argmax(train_mean))
    cheap_order = np.argsort(price, kind="stable")
    cheap = int(max(cheap_order[: max(1, len(ids) // 3)], key=lambda m: train_mean[m]))  # best of the cheapest third
    rows = [{"method": "always the best model", "model": ids[best], **outcome(np.full(len(phi), best))},
            {"method": f"always {ids[cheap]} (cheap)", **outcome(np.full(len(phi), cheap))}]
    rng = np.random.default_rng(0)
    rows.append({"method": "random model", **{k: float(np.mean([outcome(rng.integers(0, len(ids), len(phi)))[k]
                                                                 for _ in range(20)]))
                                              for k in ("accuracy", "mean_cost_per_1k", "share_of_best_model")}})
    right = scores >= 0.5
    oracle = np.where(right.any(axis=0), np.argmin(np.where(right, price[:, None], np.inf), axis=0), cheap_order[0])
    rows.append({"method": "oracle (cheapest right model)", **outcome(oracle)})
    weak_p = pool.predict(phi, np.array([cheap]))[:, 0]
    for threshold in args.thresholds:
        rows.append({"method": "two-model threshold", "threshold": threshold,
                     **outcome(np.where(weak_p < threshold, best, cheap))})
    for weight in args.cost_weights:
        rows.append({"method": "locus/auto", "cost_weight": weight, **outcome(routed(cost_weight=weight))})
    for min_p in args.min_ps:
        rows.append({"method": "locus/auto", "min_p": min_p, **outcome(routed(min_p=min_p))})
    for share in np.linspace(0, 1, 6):  # what no per-query knowledge gets: a share of the best model, at random
        mixed = [outcome(np.where(rng.random(len(phi)) < share, best, cheap)) for _ in range(20)]
        rows.append({"method": "random mix of best and cheap", "share": float(share),
                     **{k: float(np.mean([m[k] for m in mixed])) for k in mixed[0]}})
    for row in rows:
        print(f"{row['method']:<32} {json.dumps({k: v for k, v in row.items() if k != 'method'})}")
    if args.figure:
        _figure(rows, args.figure)
    return {"benchmark": "gateway routing value", "version": held.checkpoint.version, "test_queries": len(phi),
            "models": len(ids), "price": "cost_per_1k_tokens of the models table", "rows": rows}


def _figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, pick, style in (("locus/auto, cost weight", lambda r: r["method"] == "locus/auto" and "cost_weight" in r,
                                "o-"),
                               ("locus/auto, min_p", lambda r: r["method"] == "locus/auto" and "min_p" in r, "s-"),
                               ("two-model threshold", lambda r: r["method"] == "two-model threshold", "^--"),
                               ("random mix of best and cheap", lambda r: r["method"].startswith("random mix"), ":")):
        points = sorted((r["mean_cost_per_1k"], r["accuracy"]) for r in rows if pick(r))
        ax.plot(*zip(*points, strict=True), style, label=label)
    for r in rows:
        if r["method"] in ("always the best model", "random model", "oracle (cheapest right model)"):
            ax.plot(r["mean_cost_per_1k"], r["accuracy"], "k*" if "oracle" in r["method"] else "kx")
            ax.annotate(r["method"], (r["mean_cost_per_1k"], r["accuracy"]), fontsize=7, xytext=(4, 2),
                        textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("mean price of the model answering ($ per 1k tokens)")
    ax.set_ylabel("accuracy on held-out questions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    over = commands.add_parser("overhead", help="latency the gateway adds over calling the backend directly")
    over.add_argument("--root", required=True, help="a store with a version and model embeddings")
    over.add_argument("--requests", type=int, default=40, help="requests per target and concurrency")
    over.add_argument("--max-tokens", type=int, default=16)
    over.add_argument("--backend-cores", type=int, default=1, help="cores given to the backend alone (the rest "
                                                                     "run the gateway and the clients)")
    over.add_argument("--out", type=Path, default=Path("benchmarks/results/gateway-overhead.json"))
    worth = commands.add_parser("value", help="accuracy and cost of routing policies on held-out questions")
    worth.add_argument("--root", required=True)
    worth.add_argument("--version", default="latest")
    worth.add_argument("--cost-weights", type=float, nargs="+", default=[0, 2, 5, 10, 15, 20, 30, 50])
    worth.add_argument("--min-ps", type=float, nargs="+", default=[0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8])
    worth.add_argument("--thresholds", type=float, nargs="+", default=[0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8])
    worth.add_argument("--figure", type=Path, default=Path("benchmarks/results/gateway-value.png"))
    worth.add_argument("--out", type=Path, default=Path("benchmarks/results/gateway-value.json"))
    args = parser.parse_args()
    result = overhead(args) if args.command == "overhead" else value(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
