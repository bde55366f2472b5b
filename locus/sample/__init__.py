"""The bundled real sample: MMLU-Pro outputs of 29 LLMs on a random subset of questions.

Source and licence: see NOTICE and LICENSE in this folder (Apache-2.0, TIGER-AI-Lab/MMLU-Pro).
Rebuild with scripts/build_sample.py.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

FOLDER = Path(__file__).resolve().parent


def sample_tables() -> tuple[pa.Table, pa.Table]:
    """(queries, evaluations) of the bundled sample."""
    return pq.read_table(FOLDER / "queries.parquet"), pq.read_table(FOLDER / "evaluations.parquet")
