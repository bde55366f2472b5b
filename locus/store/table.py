"""One Delta Lake table (delta-rs): whole commits, retried when another writer got there first.

Every write is a single Delta commit: its Parquet files are written under new names first and
become visible only when the commit's log entry is put (atomically, put-if-absent), so a killed
writer leaves the table at its last commit, with at most unreferenced files that `vacuum` removes.
Concurrent writers are detected by delta-rs's conflict checker; the loser re-reads the table and
applies its write again (merges are idempotent upserts), with exponential backoff and jitter.

Schemas grow by nullable columns only: a table written before a column existed reads that column
as nulls, and the first write with it adds it to the table (in that write's commit).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from locus.errors import LocusDataError

TABLE_PROPERTIES = {"delta.checkpointInterval": "10"}
"""A checkpoint every 10 commits keeps opening a table with many small commits cheap."""

RETRY_SECONDS = 300.0
"""How long a writer keeps retrying conflicting commits before it gives up (and writes nothing)."""


class Table:
    """A Delta table at `uri` holding rows of `schema` (keyword-only options below).

    `version` pins reads to an earlier commit (time travel); a pinned table refuses writes.
    """

    def __init__(self, uri: str, schema: pa.Schema, *, name: str, options: dict[str, str] | None = None,
                 partition_by: list[str] | None = None, version: int | None = None) -> None:
        self.uri, self.schema, self.name = uri, schema, name
        self.options = options or {}
        self.partition_by = partition_by
        self.pinned = version
        self._opened = threading.local()  # one DeltaTable per thread (Serve replicas use several)

    # -- opening ----------------------------------------------------------------------------
    def open(self, *, create: bool = False) -> DeltaTable | None:
        """The table at its pinned or latest version; None when it does not exist (yet). The
        table is opened once per thread and then brought up to date by reading only new commits."""
        table = getattr(self._opened, "table", None)
        if table is not None:
            if self.pinned is None:
                table.update_incremental()
            return table
        try:
            table = DeltaTable(self.uri, version=self.pinned, storage_options=self.options)
        except TableNotFoundError:
            if not create:
                return None
            with contextlib.suppress(CommitFailedError, DeltaError):  # another writer created it first
                DeltaTable.create(self.uri, self.schema, mode="ignore", partition_by=self.partition_by,
                                  storage_options=self.options, name=self.name, configuration=TABLE_PROPERTIES)
            table = DeltaTable(self.uri, storage_options=self.options)
        self._opened.table = table
        return table

    def version(self) -> int | None:
        table = self.open()
        return None if table is None else table.version()

    # -- reading ----------------------------------------------------------------------------
    def read(self, *, columns: list[str] | None = None,
             partitions: list[tuple[str, str, Any]] | None = None) -> pa.Table:
        """Rows (optionally only some columns, or partitions) cast to the table's schema."""
        schema = self.schema if columns is None else pa.schema([self.schema.field(c) for c in columns])
        table = self.open()
        if table is None:
            return schema.empty_table()
        stored = set(table.schema().to_arrow().names)
        data = table.to_pyarrow_table(columns=[c for c in schema.names if c in stored], filters=partitions)
        return pa.Table.from_arrays([data.column(f.name) if f.name in stored else pa.nulls(data.num_rows, f.type)
                                     for f in schema], schema=schema)

    # -- writing ----------------------------------------------------------------------------
    def commit(self, action, *, what: str) -> Any:
        """Run `action(delta_table)` until it commits without conflict; each try starts from the
        latest version, so a lost race never overwrites the winner's rows."""
        if self.pinned is not None:
            raise LocusDataError(f"{self.name}: pinned to version {self.pinned}; it is read-only")
        deadline, delay, tries = time.monotonic() + RETRY_SECONDS, 0.02, 0
        while True:
            tries += 1
            try:
                return action(self.open(create=True))
            except CommitFailedError as exc:
                if time.monotonic() > deadline:
                    raise LocusDataError(f"{self.name}: {what} still conflicted with other writers after "
                                         f"{tries} tries in {RETRY_SECONDS:.0f} s; nothing was written") from exc
                time.sleep(random.uniform(delay / 2, delay))
                delay = min(delay * 2, 2.0)

    def merge(self, source: pa.Table, *, keys: list[str], prune: str | None = None, update: bool = True,
              check: Callable[[DeltaTable], None] | None = None) -> dict[str, Any]:
        """Upsert `source` by `keys` in one commit (`update=False`: insert new keys only, keep the
        stored rows). `prune` is an extra predicate on the target (t.<column>) that lets delta-rs
        skip partitions; `check(table)` validates against the version about to be merged into
        (raising writes nothing). Returns delta-rs's merge metrics."""
        predicate = " AND ".join([*([prune] if prune else []), *(f"t.{k} = s.{k}" for k in keys)])

        def action(table: DeltaTable) -> dict[str, Any]:
            if check is not None:
                check(table)
            merger = table.merge(source, predicate=predicate, source_alias="s", target_alias="t",
                                 merge_schema=True)  # adds the schema's columns this table predates
            if update:
                merger = merger.when_matched_update_all()
            return merger.when_not_matched_insert_all().execute()

        return self.commit(action, what=f"a merge of {source.num_rows} rows")

    # -- maintenance ------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """Rows, version, data files and bytes at the current version."""
        table = self.open()
        if table is None:
            return {"table": self.name, "rows": 0, "version": None, "files": 0, "bytes": 0}
        adds = pa.table(table.get_add_actions(flatten=True))
        return {"table": self.name, "rows": int(pc.sum(adds.column("num_records")).as_py() or 0),
                "version": table.version(), "files": adds.num_rows,
                "bytes": int(pc.sum(adds.column("size_bytes")).as_py() or 0)}

    def history(self, limit: int | None = None) -> list[dict[str, Any]]:
        table = self.open()
        return [] if table is None else table.history(limit)

    def compact(self, *, retention_hours: float) -> dict[str, Any]:
        """Rewrite small files into large ones (one commit), checkpoint the log, and delete files
        no version younger than `retention_hours` refers to (including leftovers of killed writers)."""
        table = self.open()
        if table is None:
            return {"table": self.name, "files_before": 0, "files_after": 0, "files_deleted": 0}
        before = len(table.file_uris())
        self.commit(lambda t: t.optimize.compact(), what="a compaction")
        table = self.open()
        table.create_checkpoint()
        deleted = table.vacuum(retention_hours=int(retention_hours), dry_run=False, enforce_retention_duration=False)
        table.cleanup_metadata()
        return {"table": self.name, "files_before": before, "files_after": len(table.file_uris()),
                "files_deleted": len(deleted), "version": table.version()}
