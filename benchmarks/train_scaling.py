"""Ray Train against `locus fit` on the full MMLU-Pro store: wall time per epoch and to
convergence with 1 and 2 workers, the validation routing accuracy reached, and the overhead of
Ray Train (cluster start, checkpoints, reporting) over the same work in one process.

    python benchmarks/train_scaling.py --root /tmp/locus-mmlu-pro --out benchmarks/results/train-scaling.json

The store must already hold the imported and encoded data (see benchmarks/fit_mmlu_pro.py).
Each worker gets cpus_per_worker CPUs and as many torch threads, so 1 worker x 2 CPUs and
2 workers x 1 CPU use the same 2 cores as `locus fit`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from locus.jobs.train import TrainJobConfig, run_training

from locus.encoders import DEFAULT_ENCODER
from locus.store import Store
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version


def summarise(kind: str, wall: float, metrics: dict) -> dict:
    history = metrics["history"]
    epoch_seconds = np.diff([0.0] + [h["seconds"] for h in history])
    best = metrics["best_epoch"]
    return {"kind": kind, "wall_seconds": wall, "epochs": len(history), "best_epoch": best,
            "train_seconds_per_epoch": float(np.mean(epoch_seconds)),
            "wall_seconds_per_epoch": wall / len(history),
            "seconds_to_best": float(sum(epoch_seconds[:best])),
            "val_routing_acc": metrics["validation"]["routing_acc"],
            "val_correctness_acc": metrics["validation"]["correctness_acc"],
            "test_routing_acc": metrics["test"]["routing_acc"],
            "test_correctness_acc": metrics["test"]["correctness_acc"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="/tmp/locus-mmlu-pro")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/train-scaling.json"))
    parser.add_argument("--max-epochs", type=int, default=30)
    args = parser.parse_args()
    config = TrainConfig(max_epochs=args.max_epochs)
    results = []

    start = time.perf_counter()
    summary = train_version(Store(args.root), TrainRun(encoder=DEFAULT_ENCODER, train=config))
    metrics = {"history": summary.result.history, "best_epoch": summary.result.best_epoch,
               "validation": summary.result.best_metrics, "test": summary.meta.metrics.test}
    results.append(summarise("locus fit (1 process, 2 threads)", time.perf_counter() - start, metrics))
    print(results[-1], flush=True)

    for workers, cpus in ((1, 2.0), (2, 1.0)):
        job = TrainJobConfig(root=args.root, train=config,
                             scaling={"workers": workers, "cpus_per_worker": cpus}, max_failures=0)
        start = time.perf_counter()
        result = run_training(job)
        results.append(summarise(f"locus train ({workers} worker(s) x {cpus:g} CPU)", time.perf_counter() - start,
                                 result.metrics))
        print(results[-1], flush=True)

    fit, one = results[0], results[1]
    report = {"runs": results,
              "ray_overhead_seconds": one["wall_seconds"] - fit["wall_seconds"],
              "ray_overhead_fraction": one["wall_seconds"] / fit["wall_seconds"] - 1}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
