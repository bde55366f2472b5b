"""The store as it was before Delta Lake (plain Parquet files, rewritten whole on every write,
no lock, no transaction), kept only as the baseline of `benchmarks/store.py`.

Layout under the root:
  queries/queries.parquet
  query_embeddings/<encoder slug>/part-<n>.parquet
  evaluations/model_id=<quoted id>/data.parquet
  models/models.parquet
  model_embeddings/model_embeddings.parquet
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from locus import schemas
from locus.errors import LocusDataError
from locus.store import Store, encoder_slug
from locus.validation import validate_evaluations, validate_queries, validate_vectors

_COMPRESSION = "zstd"


def _without(existing: pa.Table, new: pa.Table, key: str) -> pa.Table:
    """Rows of `existing` whose `key` does not occur in `new` (the part an upsert keeps)."""
    replaced = pc.is_in(existing.column(key), value_set=new.column(key).combine_chunks())
    return existing.filter(pc.invert(replaced))


class ParquetStore:
    """Queries, evaluations and query embeddings under a local root, as the old store kept them."""

    def __init__(self, root: str | Path) -> None:
        files = Store(str(root), check_layout=False)  # the new store's file helpers: paths, listing
        self.uri, self.fs = files.uri, files.fs
        self.path, self.exists, self.listdir = files.path, files.exists, files.listdir

    def write_table(self, table: pa.Table, *parts: str) -> None:
        """Write a Parquet file atomically: to a hidden temporary name, then move into place."""
        target = self.path(*parts)
        parent = target.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}.parquet"
        pq.write_table(table, tmp, filesystem=self.fs, compression=_COMPRESSION)
        self.fs.move(tmp, target)

    def read_table(self, *parts: str, schema: pa.Schema | None = None) -> pa.Table:
        if not self.exists(*parts):
            if schema is None:
                raise FileNotFoundError(self.path(*parts))
            return schema.empty_table()
        return pq.read_table(self.path(*parts), filesystem=self.fs, schema=schema)

    # -- queries ----------------------------------------------------------------------------
    def read_queries(self) -> pa.Table:
        return self.read_table("queries", "queries.parquet", schema=schemas.QUERIES)

    def write_queries(self, table: pa.Table) -> int:
        """Upsert queries by query_id; returns how many are new."""
        table = schemas.conform(table, schemas.QUERIES, name="queries")
        validate_queries(table)
        existing = self.read_queries()
        merged = pa.concat_tables([_without(existing, table, "query_id"), table]).sort_by("query_id")
        self.write_table(merged, "queries", "queries.parquet")
        return merged.num_rows - existing.num_rows

    # -- evaluations ------------------------------------------------------------------------
    def _model_dir(self, model_id: str) -> str:
        return "model_id=" + quote(model_id, safe="")

    def model_ids(self) -> list[str]:
        """Models that have evaluations in the store."""
        return sorted(unquote(d.split("=", 1)[1]) for d in self.listdir("evaluations") if d.startswith("model_id="))

    def read_evaluations(self, model_ids: Iterable[str] | None = None) -> pa.Table:
        """Evaluations of all models (or those named), read in parallel from their partitions."""
        if model_ids is None:
            ids = self.model_ids()
        else:
            ids = list(model_ids)
            for model_id in ids:
                if not self.exists("evaluations", self._model_dir(model_id), "data.parquet"):
                    raise LocusDataError(f"evaluations: no evaluations stored for model_id={model_id!r}")
        if not ids:
            return schemas.EVALUATIONS.empty_table()
        paths = [self.path("evaluations", self._model_dir(m), "data.parquet") for m in ids]
        return ds.dataset(paths, format="parquet", filesystem=self.fs, schema=schemas.EVALUATIONS).to_table()

    def write_evaluations(self, table: pa.Table, *, queries: pa.Table | None = None) -> int:
        """Upsert evaluations by (model_id, query_id, scorer), one partition per model.

        Everything is validated before the first partition is written. Returns rows written.
        """
        table = schemas.conform(table, schemas.EVALUATIONS, name="evaluations")
        query_ids = (queries if queries is not None else self.read_queries()).column("query_id")
        validate_evaluations(table, query_ids.combine_chunks() if isinstance(query_ids, pa.ChunkedArray)
                             else query_ids)
        self._upsert_by_model(table, "evaluations", ["model_id", "query_id", "scorer"], schemas.EVALUATIONS)
        return table.num_rows

    def _upsert_by_model(self, table: pa.Table, folder: str, keys: list[str], schema: pa.Schema) -> None:
        """Replace rows with the same `keys` in each model's partition; one atomic write per model."""
        table = table.sort_by([(k, "ascending") for k in keys])
        counts = pc.value_counts(table.column("model_id"))  # in order of appearance: sorted
        ends = np.cumsum(counts.field("counts").to_numpy())
        rest = [(k, "ascending") for k in keys[1:]]
        for model_id, end, size in zip(counts.field("values").to_pylist(), ends, counts.field("counts").to_numpy(),
                                       strict=True):
            new = table.slice(int(end - size), int(size))
            part = (folder, self._model_dir(model_id), "data.parquet")
            old = self.read_table(*part, schema=schema)
            if old.num_rows:
                old_keys = old.join(new.select(keys).append_column("_new", pa.repeat(True, new.num_rows)),
                                    keys=keys, join_type="left outer")
                old = old_keys.filter(pc.is_null(old_keys.column("_new"))).select(schema.names).cast(schema)
            self.write_table(pa.concat_tables([old, new]).sort_by(rest), *part)

    # -- query embeddings -------------------------------------------------------------------
    def query_encoders(self) -> list[str]:
        return self.listdir("query_embeddings")

    def read_query_embeddings(self, encoder: str) -> tuple[list[str], np.ndarray]:
        """(query ids, float32 matrix) of every query encoded with `encoder` (empty if none)."""
        slug = encoder_slug(encoder)
        parts = [p for p in self.listdir("query_embeddings", slug) if p.endswith(".parquet")]
        if not parts:
            return [], np.zeros((0, 0), dtype=np.float32)
        table = pa.concat_tables(pq.read_table(self.path("query_embeddings", slug, p), filesystem=self.fs)
                                 for p in parts)
        vectors = table.column("vector").combine_chunks()
        dim = vectors.type.list_size
        matrix = np.array(vectors.flatten().to_numpy(), dtype=np.float32).reshape(-1, dim)  # writable copy
        return table.column("query_id").to_pylist(), matrix

    def append_query_embeddings(self, encoder: str, query_ids: list[str], vectors: np.ndarray) -> None:
        """Add embeddings of new queries as one more part file."""
        slug = encoder_slug(encoder)
        existing, old = self.read_query_embeddings(encoder)
        dim = old.shape[1] if len(existing) else vectors.shape[1]
        validate_vectors(vectors, dim, name=f"query_embeddings[{slug}]")
        clash = set(existing).intersection(query_ids)
        if clash:
            raise LocusDataError(f"query_embeddings[{slug}]: query_id={sorted(clash)[0]!r} is already encoded")
        schema = schemas.query_embeddings(dim)
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
        table = pa.Table.from_arrays(
            [pa.array(query_ids, pa.string()), pa.array([encoder] * len(query_ids), pa.string()),
             pa.FixedSizeListArray.from_arrays(flat, dim)], schema=schema)
        index = len([p for p in self.listdir("query_embeddings", slug) if p.endswith(".parquet")])
        self.write_table(table, "query_embeddings", slug, f"part-{index:05d}.parquet")
