"""Build the bundled sample (locus/sample/) from the MMLU-Pro authors' published outputs.

Usage: python scripts/build_sample.py ../shared/data/mmlu-pro-outputs [--questions 3000]
Keeps every model and a seeded random subset of questions; writes zstd Parquet plus the
upstream LICENSE and a NOTICE with the attribution.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from locus.importers import read_mmlu_pro

SAMPLE = Path(__file__).resolve().parents[1] / "locus" / "sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="folder with model_outputs_*_5shots.zip, LICENSE, SOURCE.txt")
    parser.add_argument("--questions", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    queries, evaluations = read_mmlu_pro(sorted(args.source.glob("model_outputs_*.zip")))
    ids = np.asarray(queries.column("query_id").to_pylist())
    keep = pa.array(np.sort(np.random.default_rng(args.seed).choice(ids, size=args.questions, replace=False)).tolist())
    queries = queries.filter(pc.is_in(queries.column("query_id"), keep)).drop_columns(["choices"])
    evaluations = evaluations.filter(pc.is_in(evaluations.column("query_id"), keep)).drop_columns(["source"])
    for name, table in {"queries": queries, "evaluations": evaluations}.items():
        pq.write_table(table, SAMPLE / f"{name}.parquet", compression="zstd", compression_level=19)
    shutil.copy(args.source / "LICENSE", SAMPLE / "LICENSE")
    print(f"{queries.num_rows} queries, {evaluations.num_rows} evaluations of "
          f"{len(pc.unique(evaluations.column('model_id')))} models -> {SAMPLE}")


if __name__ == "__main__":
    main()
