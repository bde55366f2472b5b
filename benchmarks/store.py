"""The Delta Lake store against the plain-Parquet store it replaced, on the same data in one run:
an import of 3M evaluations (6,000 models x 500 queries), loading every evaluation for training,
a single-model upsert (median of 20), 100 incremental appends (a new model's 500 evaluations
each, one commit each) and then a full read, 100 appends of 10 query vectors and then a read;
files before and after compaction.

    python benchmarks/store.py --out benchmarks/results/store.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from parquet_store import ParquetStore  # this folder: the script runs as `python benchmarks/store.py`

from locus.store import Store


def _evaluations(models: list[str], queries: list[str], seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({"model_id": pa.array(np.repeat(np.array(models, dtype=object), len(queries)), pa.string()),
                     "query_id": pa.array(queries * len(models), pa.string()),
                     "score": pa.array(rng.integers(0, 2, len(models) * len(queries)).astype(np.float32)),
                     "scorer": pa.array(["exact"] * (len(models) * len(queries))), "source": ["bench"] * (
                         len(models) * len(queries))})


def _timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def _files(root: Path) -> int:
    return sum(1 for p in root.rglob("*.parquet") if "_delta_log" not in p.parts)


def run(store, root: Path, models: int, queries: int) -> dict:
    qids = [f"q{j:05d}" for j in range(queries)]
    names = [f"gen-model-{i:05d}" for i in range(models)]
    store.write_queries(pa.table({"query_id": qids, "text": [f"question {q}?" for q in qids]}))
    table = _evaluations(names, qids, 0)
    out = {}
    out["import_s"], _ = _timed(lambda: store.write_evaluations(table))
    out["load_all_s"], loaded = _timed(store.read_evaluations)
    assert loaded.num_rows == table.num_rows
    upserts = [_timed(lambda m=m: store.write_evaluations(_evaluations([m], qids, 1)))[0] for m in names[17:6000:300]]
    out["upsert_one_model_s"] = float(np.median(upserts))  # the median of 20 models' upserts
    start = time.perf_counter()
    for k in range(100):
        store.write_evaluations(_evaluations([f"new-model-{k:03d}"], qids, 2 + k))
    out["append_100_models_s"] = time.perf_counter() - start
    out["read_after_appends_s"], loaded = _timed(store.read_evaluations)
    assert loaded.num_rows == table.num_rows + 100 * queries
    out["appends_then_read_s"] = out["append_100_models_s"] + out["read_after_appends_s"]
    start = time.perf_counter()
    for k in range(100):
        store.append_query_embeddings("bench-encoder", [f"q{k * 10 + j:05d}" for j in range(10)],
                                      np.random.default_rng(k).normal(size=(10, 384)).astype(np.float32))
    out["append_100_vector_chunks_s"] = time.perf_counter() - start
    out["read_vectors_s"], (ids, _) = _timed(lambda: store.read_query_embeddings("bench-encoder"))
    assert len(ids) == 1000
    out["data_files"] = _files(root)
    rows = table.num_rows
    out["import_rows_per_s"] = rows / out["import_s"]
    out["load_rows_per_s"] = loaded.num_rows / out["load_all_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=6000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/store.json"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="locus-store-bench-"))
    try:
        old = run(ParquetStore(work / "parquet"), work / "parquet", args.models, args.queries)
        new_store = Store(work / "delta")
        new = run(new_store, work / "delta", args.models, args.queries)
        new["compact_s"], report = _timed(lambda: new_store.compact(retention_hours=0))
        new["data_files_after_compaction"] = _files(work / "delta")
        new["load_all_after_compaction_s"], _ = _timed(new_store.read_evaluations)
        new["compaction"] = report
    finally:
        shutil.rmtree(work, ignore_errors=True)
    keys = [k for k in old if k.endswith("_s")]
    ratios = {k: new[k] / old[k] for k in keys}  # > 1: the new store is slower
    result = {"models": args.models, "queries": args.queries, "evaluations": args.models * args.queries,
              "parquet": old, "delta": new, "delta_over_parquet": ratios}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print("| step | Parquet (s) | Delta (s) | Delta / Parquet |\n| --- | --- | --- | --- |")
    for k in keys:
        print(f"| {k[:-2].replace('_', ' ')} | {old[k]:.3f} | {new[k]:.3f} | {ratios[k]:.2f} |")
    print(f"| data files | {old['data_files']} | {new['data_files']} -> {new['data_files_after_compaction']} "
          f"after compaction | |")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
