"""Generic long-format importer: CSV, JSONL or Parquet files from any evaluation harness."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from locus.errors import LocusDataError

_STRING_COLUMNS = ("query_id", "model_id", "text", "benchmark", "answer", "scorer", "source", "output")


def read_table_file(path: str | Path, *, required: tuple[str, ...], name: str) -> pa.Table:
    """Read a CSV, JSONL or Parquet file; id and text columns are read as strings."""
    path = Path(path)
    if not path.exists():
        raise LocusDataError(f"{name}: file {path} does not exist")
    suffix = "".join(path.suffixes[-2:]) if path.suffix in {".gz", ".zst"} else path.suffix
    try:
        if suffix.startswith(".csv"):
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in _STRING_COLUMNS}))
        elif suffix.startswith((".jsonl", ".json", ".ndjson")):
            table = pajson.read_json(path)
        elif suffix.startswith((".parquet", ".pq")):
            table = pq.read_table(path)
        else:
            raise LocusDataError(f"{name}: {path} is not .csv, .jsonl or .parquet")
    except pa.ArrowInvalid as exc:
        raise LocusDataError(f"{name}: cannot parse {path}: {exc}") from exc
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise LocusDataError(f"{name}: {path} lacks required column(s) {', '.join(missing)} "
                             f"(has {', '.join(table.column_names)})")
    for column in _STRING_COLUMNS:
        if column in table.column_names and table.schema.field(column).type != pa.string():
            index = table.column_names.index(column)
            table = table.set_column(index, column, table.column(column).cast(pa.string()))
    return table


def write_table_file(table: pa.Table, path: str | Path) -> None:
    """Write CSV, JSONL or Parquet, chosen by the file's suffix."""
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        pacsv.write_csv(table, path)
    elif path.suffix in {".jsonl", ".json", ".ndjson"}:
        path.write_text("".join(json.dumps(row, default=str) + "\n" for row in table.to_pylist()))
    elif path.suffix in {".parquet", ".pq"}:
        pq.write_table(table, path)
    else:
        raise LocusDataError(f"--output: {path} is not .csv, .jsonl or .parquet")


def read_queries_file(path: str | Path) -> pa.Table:
    return read_table_file(path, required=("query_id", "text"), name="queries")


def read_evaluations_file(path: str | Path, *, scorer: str = "imported") -> pa.Table:
    """Evaluations need model_id, query_id and score; scorer and source default sensibly."""
    table = read_table_file(path, required=("model_id", "query_id", "score"), name="evaluations")
    if "scorer" not in table.column_names:
        table = table.append_column("scorer", pa.repeat(pa.scalar(scorer), table.num_rows))
    if "source" not in table.column_names:
        table = table.append_column("source", pa.repeat(pa.scalar(Path(path).name), table.num_rows))
    return table
