"""Which query features let LOCUS learn which model suits which query (the open problem of the
scale benchmark): the same data and split, LOCUS reading

- `raw`: the all-MiniLM-L6-v2 vectors as they are (`query_components` 0: training before the
  query coordinates),
- `coords`: the network's query coordinates (opt-in, `--query-components`): those vectors centred and projected on
  the top `--components` principal directions of the training queries (no labels used),
- `topic`: the generator's topic as a one-hot (plus a little noise), an upper bound that only
  the synthetic pool has,

each trained for `--max-minutes` at `--batch-tokens`, next to matrix factorisation, kNN and the
per-model success rate fitted on the raw vectors.

    python benchmarks/query_features.py --pool synthetic --out benchmarks/results/query-features-synthetic.json
    python benchmarks/query_features.py --pool sample --budget 0 --out benchmarks/results/query-features-sample.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from scale import TOPICS, generate

from locus.bench.quality import run_method
from locus.data import EvaluationSet, load_evaluation_set, split_queries
from locus.encoders import DEFAULT_ENCODER, encode_store
from locus.importers import import_tables
from locus.importers.table import read_evaluations_file, read_queries_file
from locus.metrics import quality_report
from locus.model import ModelShape
from locus.sample import sample_tables
from locus.store import Store
from locus.training import TrainConfig


def build_store(pool: str, work: Path, models: int) -> Store:
    store = Store(work / "store")
    if not store.model_ids():
        if pool == "synthetic":
            import_tables(store, *(f(p) for f, p in zip((read_queries_file, read_evaluations_file),
                                                         generate(work, models, 700, 0.714, seed=0), strict=True)))
        else:
            import_tables(store, *sample_tables())
        encode_store(store, DEFAULT_ENCODER)
    return store


def topic_features(store: Store, data: EvaluationSet) -> np.ndarray:
    queries = store.read_queries()
    text = dict(zip(queries.column("query_id").to_pylist(), queries.column("text").to_pylist(), strict=True))
    onehot = np.array([[float(text[q].startswith(f"In {t},")) for t in TOPICS] for q in data.query_ids])
    return onehot + 0.01 * np.random.default_rng(0).normal(size=onehot.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", choices=("synthetic", "sample"), default="synthetic",
                        help="synthetic: the scale benchmark's generator; sample: the bundled MMLU-Pro sample")
    parser.add_argument("--models", type=int, default=600, help="models of the synthetic pool")
    parser.add_argument("--budget", type=int, default=128, help="training evaluations per model (0: all)")
    parser.add_argument("--features", default="raw,coords", help="comma-separated: raw, coords, topic (synthetic "
                        "only)")
    parser.add_argument("--components", type=int, default=16,
                        help="principal directions of the query coordinates")
    parser.add_argument("--batch-tokens", type=int, default=4096, help="LOCUS's evaluations per optimiser step")
    parser.add_argument("--max-minutes", type=float, default=3.0, help="wall time of each LOCUS fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=None, help="where the store is built (default /tmp/...)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    store = build_store(args.pool, args.work or Path(f"/tmp/locus-query-features-{args.pool}"), args.models)
    data = load_evaluation_set(store, DEFAULT_ENCODER)
    split = split_queries(data.query_ids, args.seed, method="permutation")
    test = data.dense(split.test)
    features = {"raw": lambda: data.phi, "coords": lambda: data.phi, "topic": lambda: topic_features(store, data)}
    shapes = {"raw": ModelShape(query_components=0), "coords": ModelShape(query_components=args.components),
              "topic": ModelShape(query_components=0)}
    config = TrainConfig(max_minutes=args.max_minutes, batch_tokens=args.batch_tokens)
    budget = args.budget or None
    runs = [(m, "raw") for m in ("single_best", "knn", "mf")] + [("locus", f) for f in args.features.split(",")]
    results: dict[str, dict] = {}
    for method, feature in runs:
        start = time.perf_counter()
        varied = dataclasses.replace(data, phi=np.asarray(features[feature](), dtype=np.float32))
        probs, trainer = run_method(method, varied, split, budget, args.seed, config, shape=shapes[feature])
        report = quality_report(probs, test, route=trainer.route_scores(probs) if trainer else None)
        name = f"{method}:{feature}" if method == "locus" else method
        results[name] = {k: round(float(report[k]), 4) for k in ("correctness_acc", "auc", "routing_acc")}
        results[name] |= {"seconds": round(time.perf_counter() - start, 1)}
        print(name, results[name], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"pool": args.pool, "models": len(data.model_ids), "budget": budget,
                                    "components": args.components, "train": config.model_dump(),
                                    "results": results}, indent=2))


if __name__ == "__main__":
    main()
