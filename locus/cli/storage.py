"""`locus store`: what the store holds (info, history), its upkeep (compact) and conversion of the
pre-Delta layout (migrate)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from locus.cli.common import DEFAULT_ROOT, Root, console, reports_errors

store_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                        help="Inspect and maintain the store's Delta tables.")

Json = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


@store_app.command()
@reports_errors
def info(root: Root = DEFAULT_ROOT, json_: Json = False) -> None:
    """Each table's rows, version (commits so far), data files and size."""
    from locus.store import Store

    tables = Store(root).info()
    if json_:
        print(json.dumps(tables, indent=2))
        return
    table = Table(title=f"store {root}")
    for column in ("table", "rows", "version", "files", "size"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for t in tables:
        table.add_row(t["table"], f"{t['rows']:,}", "-" if t["version"] is None else str(t["version"]),
                      str(t["files"]), _size(t["bytes"]))
    console.print(table)


_CHANGES = {"num_target_rows_inserted": "inserted", "num_target_rows_updated": "updated",
            "num_target_files_added": "files+", "num_target_files_removed": "files-",
            "numFilesAdded": "files+", "numFilesRemoved": "files-"}


@store_app.command()
@reports_errors
def history(root: Root = DEFAULT_ROOT,
            table: Annotated[str | None, typer.Option(help="only this table (e.g. evaluations, "
                                                           "query_embeddings/all-MiniLM-L6-v2)")] = None,
            limit: Annotated[int, typer.Option(min=1, help="newest commits per table")] = 10,
            json_: Json = False) -> None:
    """The newest commits of each table: version, time, operation and what it changed."""
    from locus.errors import LocusDataError
    from locus.store import Store

    store = Store(root)
    names = store.table_names()
    if table is not None and table not in names:
        raise LocusDataError(f"--table: {table!r} is not a table of this store; choose from {', '.join(names)}")
    rows = []
    for name in [table] if table else names:
        for commit in store.table(name).history(limit):
            metrics = commit.get("operationMetrics", {})
            changed = {short: metrics[key] for key, short in _CHANGES.items() if metrics.get(key)}
            rows.append({"table": name, "version": commit.get("version"), "operation": commit.get("operation"),
                         "time": datetime.fromtimestamp(commit.get("timestamp", 0) / 1000, UTC).isoformat(),
                         "changed": changed})
    if json_:
        print(json.dumps(rows, indent=2))
        return
    out = Table(title=f"commits in {root}")
    for column in ("table", "version", "time", "operation", "changed"):
        out.add_column(column)
    for r in rows:
        out.add_row(r["table"], str(r["version"]), r["time"][:16].replace("T", " "), str(r["operation"]),
                    ", ".join(f"{k}={v}" for k, v in r["changed"].items()))
    console.print(out)


@store_app.command()
@reports_errors
def compact(root: Root = DEFAULT_ROOT,
            retention_hours: Annotated[float, typer.Option(
                min=0, help="delete unreferenced files older than this; time travel and concurrent writers "
                            "need them until then (default: 168, one week)")] = 168.0) -> None:
    """Merge the small files that incremental jobs leave into large ones, checkpoint each table's
    log, and delete files no recent version refers to (such as those a killed writer left)."""
    from locus.store import Store

    results = Store(root).compact(retention_hours=retention_hours)
    out = Table(title=f"compacted {root}")
    for column in ("table", "files before", "files after", "files deleted"):
        out.add_column(column, justify="left" if column == "table" else "right")
    for r in results:
        out.add_row(r["table"], str(r["files_before"]), str(r["files_after"]), str(r["files_deleted"]))
    console.print(out)


@store_app.command()
@reports_errors
def migrate(root: Root = DEFAULT_ROOT) -> None:
    """Convert a store of the pre-Delta layout (plain Parquet files) into Delta tables, in place.
    The old files are moved to <root>/pre-delta/ first; delete that folder once satisfied."""
    from locus.store import Store
    from locus.store.legacy import MOVED
    from locus.store.legacy import migrate as run

    written = run(Store(root, check_layout=False))
    for name, rows in written.items():
        console.print(f"{name}: {rows:,} rows")
    console.print(f"migrated; the old files are in {Store(root).path(MOVED)}")
