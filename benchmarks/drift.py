"""Drift on MMLU-Pro: each of the 29 models is "re-asked" a probe set of questions it was evaluated
on, and answers as itself (unchanged), as its nearest neighbour in embedding space, or as its
farthest (a silently swapped model): their published correctness is its fresh scores. For each
probe size, the share of checks flagged by each rule of `locus drift` (the embedding rule: its
answers embed over `ratio` spreads from its stored ones; the answer rule: over `max_changed` of its
scores changed), over `--repeats` random probe sets per model.

    python benchmarks/drift.py --root /tmp/locus-mmlu-pro --out benchmarks/results/drift.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from fit_mmlu_pro import prepared_store

from locus.data import load_evaluation_set
from locus.drift import MAX_CHANGED, RATIO, check_drift, probe_positions
from locus.encoders import DEFAULT_ENCODER
from locus.routing import ModelPool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mmlu-pro-outputs"))
    parser.add_argument("--root", default="/tmp/locus-mmlu-pro")
    parser.add_argument("--version", default="latest", help="a trained version of the store")
    parser.add_argument("--probes", default="8,16,32,64,128", help="probe sizes")
    parser.add_argument("--repeats", type=int, default=10, help="probe sets per model and size")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/drift.json"))
    args = parser.parse_args()
    store, _ = prepared_store(args.root, args.data)
    pool = ModelPool.load(store, args.version)
    data = load_evaluation_set(store, DEFAULT_ENCODER, model_ids=pool.model_ids)
    z = pool.z[[pool.position(m) for m in data.model_ids]]
    distance = np.linalg.norm(z[:, None] - z[None], axis=2)
    np.fill_diagonal(distance, np.inf)
    nearest = distance.argmin(axis=1)
    np.fill_diagonal(distance, -np.inf)
    farthest = distance.argmax(axis=1)
    scores_of = [dict(zip(q.tolist(), s.tolist(), strict=True)) for q, s in zip(data.query_index, data.scores,
                                                                                 strict=True)]
    results = {"version": pool.version, "models": len(data.model_ids), "repeats": args.repeats, "ratio": RATIO,
               "max_changed": MAX_CHANGED, "sizes": {}}
    started = time.perf_counter()
    for n in (int(s) for s in args.probes.split(",")):
        rows = {arm: [] for arm in ("unchanged", "nearest", "farthest")}
        for m in range(len(data.model_ids)):
            shared = [i for i, q in enumerate(data.query_index[m].tolist())
                      if q in scores_of[nearest[m]] and q in scores_of[farthest[m]]]
            for seed in range(args.repeats):
                probe = np.array(shared, dtype=np.int64)[probe_positions(len(shared), n, seed=seed)]
                for arm, other in (("unchanged", m), ("nearest", nearest[m]), ("farthest", farthest[m])):
                    fresh = np.array([scores_of[other][q] for q in data.query_index[m][probe].tolist()],
                                     dtype=np.float32)
                    report = check_drift(pool.checkpoint.model, data.phi, data.query_index[m], data.scores[m],
                                         z[m], probe, fresh, model_id=data.model_ids[m], seed=seed)
                    rows[arm].append((report.ratio, report.changed))
        summary = {}
        for arm, values in rows.items():
            ratio, changed = np.array(values).T
            summary[arm] = {"embedding_rule": float(np.mean(ratio > RATIO)),
                            "answer_rule": float(np.mean(changed > MAX_CHANGED)),
                            "either": float(np.mean((ratio > RATIO) | (changed > MAX_CHANGED))),
                            "median_ratio": float(np.median(ratio)), "median_changed": float(np.median(changed))}
        results["sizes"][n] = summary
        print(f"probes {n:4d}: flagged unchanged {summary['unchanged']['either']:.3f}, as nearest "
              f"{summary['nearest']['either']:.3f} (embedding {summary['nearest']['embedding_rule']:.3f}, answers "
              f"{summary['nearest']['answer_rule']:.3f}), as farthest {summary['farthest']['either']:.3f}; "
              f"median ratio {summary['nearest']['median_ratio']:.2f} / {summary['farthest']['median_ratio']:.2f}",
              flush=True)
    results["seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
