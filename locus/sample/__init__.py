"""The bundled real sample: MMLU-Pro outputs of 29 LLMs on a random subset of questions.

Source and licence: see NOTICE and LICENSE in this folder (Apache-2.0, TIGER-AI-Lab/MMLU-Pro).
Rebuild with scripts/build_sample.py.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

FOLDER = Path(__file__).resolve().parent


def sample_models() -> pa.Table:
    """Metadata of the sample's 29 models: display name, family, parameters (billions) and a price per
    1k tokens, each from the public source its `source` column names (see NOTICE)."""
    from pyarrow import csv

    return csv.read_csv(FOLDER / "models.csv")


def sample_tables(queries: int | None = None) -> tuple[pa.Table, pa.Table]:
    """(queries, evaluations) of the bundled sample; with `queries`, only the first that many
    questions and the evaluations on them (a quicker slice for tests and short runs)."""
    table, evaluations = pq.read_table(FOLDER / "queries.parquet"), pq.read_table(FOLDER / "evaluations.parquet")
    if queries is None:
        return table, evaluations
    table = table.slice(0, queries)
    keep = pc.is_in(evaluations.column("query_id"), value_set=table.column("query_id").combine_chunks())
    return table, evaluations.filter(keep)
