"""Train LOCUS on the full MMLU-Pro outputs (29 models x 12,032 questions) and record how long
it takes to converge and the test quality reached, as JSON.

    python benchmarks/fit_mmlu_pro.py --data ../shared/data/mmlu-pro-outputs --root /tmp/mmlu-pro \
        --out benchmarks/results/fit-mmlu-pro.json

Imports and encodes only what the store lacks, so re-runs go straight to training.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from locus.encoders import DEFAULT_ENCODER, encode_store
from locus.importers import import_tables, read_mmlu_pro
from locus.store import Store
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version


def prepared_store(root: str, data: Path) -> tuple[Store, dict]:
    """The store at `root` with the MMLU-Pro outputs imported and encoded (only what it lacks)."""
    store, timings = Store(root), {}
    if not store.model_ids():
        start = time.perf_counter()
        import_tables(store, *read_mmlu_pro(sorted(data.glob("model_outputs_*.zip"))))
        timings["import_s"] = time.perf_counter() - start
    start = time.perf_counter()
    report = encode_store(store, DEFAULT_ENCODER)
    timings["encode_s"], timings["encoded"] = time.perf_counter() - start, report.encoded
    return store, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mmlu-pro-outputs"))
    parser.add_argument("--root", default="/tmp/locus-mmlu-pro")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/fit-mmlu-pro.json"))
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    args = parser.parse_args()
    store, timings = prepared_store(args.root, args.data)
    runs = []
    for seed in (int(s) for s in args.seeds.split(",")):
        summary = train_version(store, TrainRun(encoder=DEFAULT_ENCODER, train=TrainConfig(seed=seed)),
                                on_epoch=lambda m: print({k: round(v, 4) for k, v in m.items()}, flush=True))
        runs.append({"seed": seed, "version": summary.version, "best_epoch": summary.result.best_epoch,
                     "epochs_run": len(summary.result.history), "seconds": summary.result.seconds,
                     "seconds_to_best": summary.result.history[summary.result.best_epoch - 1]["seconds"],
                     "test": summary.meta.metrics.test, "history": summary.result.history})
        print(json.dumps({k: v for k, v in runs[-1].items() if k != "history"}, indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"timings": timings, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
