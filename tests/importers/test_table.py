import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from locus.errors import LocusDataError
from locus.importers.table import read_evaluations_file, read_queries_file


def test_csv_ids_stay_strings(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("query_id,text,benchmark\n007,What is 2+2?,toy\n8,Name a colour,toy\n")
    table = read_queries_file(path)
    assert table.column("query_id").to_pylist() == ["007", "8"]


def test_jsonl_and_parquet_evaluations(tmp_path):
    jsonl = tmp_path / "e.jsonl"
    jsonl.write_text("\n".join(json.dumps({"model_id": "m", "query_id": i, "score": s})
                               for i, s in [(1, 1), (2, 0.5)]))
    table = read_evaluations_file(jsonl, scorer="judge")
    assert table.column("query_id").to_pylist() == ["1", "2"]
    assert table.column("scorer").to_pylist() == ["judge", "judge"]
    parquet = tmp_path / "e.parquet"
    pq.write_table(pa.table({"model_id": ["m"], "query_id": ["1"], "score": [1.0]}), parquet)
    assert read_evaluations_file(parquet).column("source").to_pylist() == ["e.parquet"]


def test_missing_column_and_bad_extension(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("model_id,query_id\nm,1\n")
    with pytest.raises(LocusDataError, match="lacks required column.*score"):
        read_evaluations_file(path)
    other = tmp_path / "e.xlsx"
    other.write_text("x")
    with pytest.raises(LocusDataError, match="not .csv"):
        read_evaluations_file(other)
