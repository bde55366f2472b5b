"""Online refinement from feedback on MMLU-Pro, offline: LOCUS trained without 3 models, each of which
then registers from 32 of its evaluations and receives feedback (its published correctness) on
test-like questions, in batches, through the gateway's step (`PoolService.feedback`, on a copy of
the store). After each batch: its correctness accuracy on held-out questions (another half of the
test split), next to an embedding made from scratch from the same rows (re-registering), and to
the accuracy its embedding from all of its training-split evaluations reaches.

Two streams of feedback: "by name" (clients call the model on questions drawn at random) and
"routed" (only the questions the pool routes to it, with every model a candidate and its current
embedding; the rows it receives are counted).

    python benchmarks/online_feedback.py --root /tmp/locus-mmlu-pro --out benchmarks/results/online-feedback.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from fit_mmlu_pro import prepared_store

from locus.api import EmbeddingRequest
from locus.data import load_evaluation_set, split_queries
from locus.embedding import embed_models, embed_store, predict_matrix
from locus.encoders import DEFAULT_ENCODER
from locus.service import PoolService
from locus.store import Store
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version

BATCHES = (0, 8, 16, 32, 64, 128, 256)  # feedback rows after which accuracy is measured


def accuracy(model, z: np.ndarray, phi: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean((predict_matrix(model, z[None], phi)[0] > 0.5) == (truth > 0.5)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mmlu-pro-outputs"))
    parser.add_argument("--root", default="/tmp/locus-mmlu-pro")
    parser.add_argument("--scratch", default="/tmp/locus-online-feedback", help="copy of the store fed back into")
    parser.add_argument("--holdout", type=int, default=3)
    parser.add_argument("--register", type=int, default=32, help="evaluations each held-out model registers with")
    parser.add_argument("--version", help="a version trained without the held-out models (default: train one)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/online-feedback.json"))
    args = parser.parse_args()
    store, _ = prepared_store(args.root, args.data)
    data = load_evaluation_set(store, DEFAULT_ENCODER)
    held = sorted(np.random.default_rng(0).choice(data.model_ids, size=args.holdout, replace=False).tolist())
    if args.version is None:
        print(f"training without {', '.join(held)}", flush=True)
        version = train_version(store, TrainRun(encoder=DEFAULT_ENCODER, exclude=held, train=TrainConfig())).version
        embed_store(store, version, model_ids=[m for m in data.model_ids if m not in held])
    else:
        version = args.version
    shutil.rmtree(args.scratch, ignore_errors=True)
    shutil.copytree(args.root, args.scratch)
    scratch = Store(args.scratch)
    service = PoolService(scratch, version=version, refresh_seconds=3600, min_evaluations=0)
    model = service.pool.checkpoint.model
    assert not set(held) & set(service.pool.checkpoint.meta.snapshot.models), "trained on a held-out model"
    snapshot = service.pool.checkpoint.meta.snapshot
    split = split_queries(data.query_ids, snapshot.split_seed, method=snapshot.split)
    texts = dict(zip(scratch.read_queries().column("query_id").to_pylist(),
                     scratch.read_queries().column("text").to_pylist(), strict=True))
    rng = np.random.default_rng(1)
    results = {"version": version, "held_out": held, "register": args.register, "models": {}}
    started, latency = time.perf_counter(), []
    for name in held:
        m = data.model_ids.index(name)
        scores = dict(zip(data.query_index[m].tolist(), data.scores[m].tolist(), strict=True))
        train = [q for q in split.train if q in scores]
        test = rng.permutation([q for q in split.test if q in scores])
        stream, heldout = test[: len(test) // 2], test[len(test) // 2:]
        truth = np.array([scores[q] for q in heldout], dtype=np.float32)
        first = rng.choice(train, size=args.register, replace=False)
        full = embed_models(model, data.phi, [np.array(train)], [np.array([scores[q] for q in train], np.float32)])[0]
        out = {"train_evaluations": len(train), "full_data_accuracy": accuracy(model, full, data.phi[heldout], truth)}
        for arm in ("by name", "routed"):
            model_id = f"{name}@{arm.replace(' ', '-')}"
            service.embed(EmbeddingRequest(model_id=model_id, evaluations=[
                {"query_id": data.query_ids[q], "score": scores[q]} for q in first]))
            fed: list[int] = []
            curve, waited = [], 0
            queue = list(stream)
            while True:
                z = service.pool.z[service.pool.position(model_id)]
                scratch_z = embed_models(model, data.phi, [np.array([*first, *fed])],
                                         [np.array([scores[q] for q in (*first, *fed)], dtype=np.float32)])[0]
                curve.append({"rows": len(fed), "questions_seen": waited,
                              "accuracy": accuracy(model, z, data.phi[heldout], truth),
                              "from_scratch": accuracy(model, scratch_z, data.phi[heldout], truth),
                              "max_abs_difference": float(np.abs(z - scratch_z).max())})
                print(name, arm, curve[-1], flush=True)
                target = next((b for b in BATCHES if b > len(fed)), None)
                if target is None or not queue:
                    break
                while len(fed) < target and queue:
                    size = 64 if arm == "routed" else target - len(fed)  # by name: every question is its own
                    batch, queue = queue[:size], queue[size:]
                    waited += len(batch)
                    if arm == "routed":  # the questions the pool sends to this model now
                        candidates = [c for c in service.pool.model_ids if "@" not in c] + [model_id]
                        routes = service.pool.route(data.phi[batch], candidates=candidates, k=1, min_evaluations=0)
                        batch = [q for q, r in zip(batch, routes, strict=True) if r.choice == model_id]
                    for q in batch[: target - len(fed)]:
                        tick = time.perf_counter()
                        service.feedback(model_id, texts[data.query_ids[q]], data.phi[q], scores[q])
                        latency.append(time.perf_counter() - tick)
                        fed.append(q)
            out[arm] = curve
        results["models"][name] = out
    results["seconds"] = time.perf_counter() - started
    results["feedback_seconds"] = {"median": float(np.median(latency)), "p95": float(np.quantile(latency, 0.95)),
                                   "rows": len(latency)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
