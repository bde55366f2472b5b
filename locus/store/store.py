"""All LOCUS tables under one root, each a Delta Lake table (see `locus.store.table`).

Layout under the root (local path or s3://bucket/prefix):
  queries/                          query_id unique
  query_embeddings/<encoder slug>/  one table per encoder; a query is encoded once
  evaluations/                      (model_id, query_id, scorer) unique; partitioned by model_bucket
  generations/                      (model_id, query_id) unique; partitioned by model_bucket
  models/                           model_id unique
  model_embeddings/                 (model_id, version) unique
  checkpoints/<version>/            encoder checkpoints (files: model.pt, checkpoint.json), LATEST
  runs/, logs/, report/             Ray Train runs, job logs, reports

Every write validates all of its input first and then makes one commit (a merge by the table's
key), or writes nothing. Model-keyed tables are partitioned by `model_bucket`, a stable hash of
the model id into BUCKETS partitions, so that upserting one model rewrites one small partition
while reading everything stays a scan of few large files.
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from locus import schemas
from locus.errors import LocusDataError
from locus.store.roots import DEFAULT_ROOT, check_table_scheme, filesystem, resolve_root, storage_options
from locus.store.table import Table
from locus.validation import require_non_null, require_unique, validate_evaluations, validate_queries, validate_vectors

BUCKETS = 64
"""Partitions of the model-keyed tables (evaluations, generations)."""

RETENTION_HOURS = 168.0
"""`compact` deletes unreferenced files older than this (time travel reaches at least this far back)."""

FIXED_TABLES = ("queries", "evaluations", "generations", "models", "model_embeddings", "responses")


def encoder_slug(encoder: str) -> str:
    """A directory-safe name for an encoder identifier (a model name or path)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", encoder.rstrip("/").split("/")[-1] or encoder)


def model_bucket(model_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The partition of each model id: crc32 of its UTF-8 bytes modulo BUCKETS (hashed once per id)."""
    encoded = (model_ids.combine_chunks() if isinstance(model_ids, pa.ChunkedArray) else model_ids).dictionary_encode()
    buckets = np.array([zlib.crc32(m.encode()) % BUCKETS for m in encoded.dictionary.to_pylist()], dtype=np.int32)
    return pa.array(buckets[encoded.indices.to_numpy(zero_copy_only=False)], pa.int32())


def response_day(response_id: str) -> str:
    """The day partition of a gateway response id (locus-<yyyymmdd>-<hex>); "unknown" for other ids."""
    parts = response_id.split("-")
    return parts[1] if len(parts) == 3 and parts[0] == "locus" and parts[1].isdigit() and len(parts[1]) == 8 \
        else "unknown"


def _bucketed(schema: pa.Schema) -> pa.Schema:
    return schema.append(pa.field("model_bucket", pa.int32(), nullable=False))


def _vectors_schema(schema: pa.Schema) -> pa.Schema:
    """Delta has no fixed-size lists: vectors are stored as list<float32>, their width checked on write."""
    return pa.schema([pa.field(f.name, pa.list_(pa.float32()), f.nullable) if pa.types.is_fixed_size_list(f.type)
                      else f for f in schema])


def _matrix(vectors: pa.ChunkedArray | pa.Array, *, name: str) -> np.ndarray:
    """list<float32> column -> [n, dim] float32 (a writable copy)."""
    vectors = vectors.combine_chunks() if isinstance(vectors, pa.ChunkedArray) else vectors
    if len(vectors) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    lengths = pc.list_value_length(vectors).to_numpy(zero_copy_only=False)
    if (lengths != lengths[0]).any():
        raise LocusDataError(f"{name}: stored vectors have different widths ({sorted(set(lengths.tolist()))})")
    return np.array(vectors.flatten().to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, int(lengths[0]))


def _vector_column(vectors: np.ndarray) -> pa.Array:
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).ravel())
    offsets = pa.array(np.arange(0, len(flat) + 1, vectors.shape[1], dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, flat, type=pa.list_(pa.float32()))


PRUNE_LITERALS = 256
"""Up to this many key values are spelled out in a merge's predicate, so that delta-rs skips every
file whose min/max statistics exclude them (appends of a model or of a chunk of queries)."""


def _prune(column: str, values: list) -> str | None:
    """`t.<column> IN (...)` for the distinct `values` (SQL-quoted), or None when there are too many."""
    distinct = sorted(set(values))
    if len(distinct) > PRUNE_LITERALS:
        return None
    quoted = (str(int(v)) if isinstance(v, int | np.integer) else "'" + str(v).replace("'", "''") + "'"
              for v in distinct)
    return f"t.{column} IN ({', '.join(quoted)})"


class Store:
    """All LOCUS tables under one root; `Store("s3://bucket/prefix")` works like a local path.

    `versions` pins tables to earlier commits ({table name: version}, e.g. what a checkpoint
    trained on; None: the latest): reads see the store as it was then, and writes to pinned
    tables are refused.
    """

    def __init__(self, root: str = DEFAULT_ROOT, *, versions: dict[str, int] | None = None,
                 check_layout: bool = True) -> None:
        self.uri = resolve_root(root)
        check_table_scheme(self.uri)
        self.fs, self.base = filesystem(self.uri)
        self.options = storage_options(self.uri)
        self.versions = dict(versions or {})
        self._tables: dict[str, Table] = {}
        if check_layout:
            from locus.store.legacy import check_layout as check

            check(self)

    def at(self, versions: dict[str, int]) -> Store:
        """This store with its tables pinned to `versions` (time travel)."""
        return Store(self.uri, versions=versions, check_layout=False)

    # -- files (checkpoints, runs) ----------------------------------------------------------
    def path(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def exists(self, *parts: str) -> bool:
        return self.fs.get_file_info(self.path(*parts)).type != pafs.FileType.NotFound

    def listdir(self, *parts: str) -> list[str]:
        if not self.exists(*parts):
            return []
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(*parts)))
        return sorted(info.base_name for info in infos if not info.base_name.startswith((".", "_")))

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """Write a file atomically: to a hidden temporary name, then move it into place."""
        target = self.path(*parts)
        parent = target.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        with self.fs.open_output_stream(tmp) as out:
            out.write(data)
        self.fs.move(tmp, target)

    def read_bytes(self, *parts: str) -> bytes:
        with self.fs.open_input_file(self.path(*parts)) as f:
            return f.read()

    # -- tables -----------------------------------------------------------------------------
    def table_uri(self, *parts: str) -> str:
        """Where delta-rs finds a table: the local path, or the root's URI (s3://...) extended."""
        return self.path(*parts) if "://" not in self.uri else "/".join([self.uri.rstrip("/"), *parts])

    def table(self, name: str) -> Table:
        """The Delta table `name` ("queries", "evaluations", ..., or "query_embeddings/<slug>")."""
        if name not in self._tables:
            self._tables[name] = self._new_table(name)
        return self._tables[name]

    def _new_table(self, name: str) -> Table:
        if name.startswith("query_embeddings/"):
            schema = _vectors_schema(schemas.query_embeddings(1))
            return Table(self.table_uri(*name.split("/")), schema, name=name, options=self.options,
                         version=self.versions.get(name))
        schema, partition = {
            "queries": (schemas.QUERIES, None),
            "evaluations": (_bucketed(schemas.EVALUATIONS), ["model_bucket"]),
            "generations": (_bucketed(schemas.GENERATIONS), ["model_bucket"]),
            "models": (schemas.MODELS, None),
            "model_embeddings": (_vectors_schema(schemas.model_embeddings(1)), None),
            "responses": (schemas.RESPONSES.append(pa.field("day", pa.string(), nullable=False)), ["day"]),
        }[name]
        return Table(self.table_uri(name), schema, name=name, options=self.options, partition_by=partition,
                     version=self.versions.get(name))

    def table_names(self) -> list[str]:
        """The store's tables: the fixed ones and one query-embedding table per encoder used."""
        return [*FIXED_TABLES, *(f"query_embeddings/{slug}" for slug in self.query_encoders())]

    def table_versions(self) -> dict[str, int | None]:
        """The current (or pinned) version of every table; None where a table was never written."""
        return {name: self.table(name).version() for name in self.table_names()}

    def info(self) -> list[dict[str, Any]]:
        return [self.table(name).info() for name in self.table_names()]

    def compact(self, *, retention_hours: float = RETENTION_HOURS) -> list[dict[str, Any]]:
        return [self.table(name).compact(retention_hours=retention_hours) for name in self.table_names()]

    # -- queries ----------------------------------------------------------------------------
    def read_queries(self) -> pa.Table:
        return self.table("queries").read().sort_by("query_id")

    def query_ids(self) -> pa.Array:
        return self.table("queries").read(columns=["query_id"]).column("query_id").combine_chunks()

    def write_queries(self, table: pa.Table) -> int:
        """Upsert queries by query_id; returns how many are new."""
        table = schemas.conform(table, schemas.QUERIES, name="queries")
        validate_queries(table)
        metrics = self.table("queries").merge(table, keys=["query_id"])
        return int(metrics["num_target_rows_inserted"])

    # -- evaluations and generations ---------------------------------------------------------
    def model_ids(self) -> list[str]:
        """Models that have evaluations in the store."""
        ids = self.table("evaluations").read(columns=["model_id"]).column("model_id")
        return sorted(pc.unique(ids).to_pylist())

    def _read_models_of(self, name: str, model_ids: list[str] | None) -> pa.Table:
        table = self.table(name)
        if model_ids is None:
            return table.read().drop_columns(["model_bucket"])
        buckets = sorted(set(model_bucket(pa.array(model_ids, pa.string())).to_pylist())) if model_ids else []
        if not buckets:
            return table.read().drop_columns(["model_bucket"]).slice(0, 0)
        data = table.read(partitions=[("model_bucket", "in", [str(b) for b in buckets])])
        data = data.filter(pc.is_in(data.column("model_id"), value_set=pa.array(model_ids, pa.string())))
        return data.drop_columns(["model_bucket"])

    def read_evaluations(self, model_ids: Iterable[str] | None = None, *, missing_ok: bool = False) -> pa.Table:
        """Evaluations of all models, or of those named (each must have some unless `missing_ok`)."""
        ids = None if model_ids is None else list(model_ids)
        data = self._read_models_of("evaluations", ids)
        if ids and not missing_ok:
            missing = set(ids).difference(pc.unique(data.column("model_id")).to_pylist())
            if missing:
                raise LocusDataError(f"evaluations: no evaluations stored for model_id={sorted(missing)[0]!r}")
        return data

    def _upsert_models_of(self, name: str, table: pa.Table, keys: list[str]) -> None:
        buckets = model_bucket(table.column("model_id"))
        prune = [_prune("model_bucket", buckets.to_pylist()),
                 _prune("model_id", pc.unique(table.column("model_id")).to_pylist())]
        self.table(name).merge(table.append_column("model_bucket", buckets), keys=keys,
                               prune=" AND ".join(p for p in prune if p) or None)

    def write_evaluations(self, table: pa.Table, *, queries: pa.Array | None = None) -> int:
        """Upsert evaluations by (model_id, query_id, scorer) in one commit; every row is validated
        first (scores in [0, 1], unique keys, known queries: `queries` or the store's). Returns rows."""
        table = schemas.conform(table, schemas.EVALUATIONS, name="evaluations")
        validate_evaluations(table, queries if queries is not None else self.query_ids())
        self._upsert_models_of("evaluations", table, ["model_id", "query_id", "scorer"])
        return table.num_rows

    def write_generations(self, table: pa.Table) -> int:
        """Upsert generations by (model_id, query_id) in one commit."""
        table = schemas.conform(table, schemas.GENERATIONS, name="generations")
        require_non_null(table, ("model_id", "query_id"), name="generations")
        require_unique(table, ("model_id", "query_id"), name="generations")
        self._upsert_models_of("generations", table, ["model_id", "query_id"])
        return table.num_rows

    def read_generations(self, model_ids: Iterable[str] | None = None) -> pa.Table:
        return self._read_models_of("generations", None if model_ids is None else list(model_ids))

    # -- query embeddings -------------------------------------------------------------------
    def query_encoders(self) -> list[str]:
        """Slugs of the encoders that have a query-embedding table."""
        return [slug for slug in self.listdir("query_embeddings")
                if self.exists("query_embeddings", slug, "_delta_log")]

    def read_query_embeddings(self, encoder: str) -> tuple[list[str], np.ndarray]:
        """(query ids, float32 matrix) of every query encoded with `encoder` (empty if none)."""
        slug = encoder_slug(encoder)
        table = self.table(f"query_embeddings/{slug}").read().sort_by("query_id")
        return table.column("query_id").to_pylist(), _matrix(table.column("vector"), name=f"query_embeddings[{slug}]")

    def encoded_query_ids(self, encoder: str) -> pa.Array:
        """Ids of the queries `encoder` has encoded (vectors are not read)."""
        table = self.table(f"query_embeddings/{encoder_slug(encoder)}")
        return table.read(columns=["query_id"]).column("query_id").combine_chunks()

    @staticmethod
    def _width_check(dim: int, *, name: str) -> Callable[[Any], None]:
        """A merge check: the vectors being added are as wide as those the table already holds."""

        def check(delta) -> None:
            head = delta.to_pyarrow_dataset().head(1, columns=["vector"])
            if head.num_rows and len(head.column("vector")[0]) != dim:
                raise LocusDataError(f"{name}: vectors are {dim}-d but the table holds "
                                     f"{len(head.column('vector')[0])}-d ones")

        return check

    def append_query_embeddings(self, encoder: str, query_ids: list[str], vectors: np.ndarray) -> int:
        """Add embeddings of queries not yet encoded with `encoder`, in one commit; a query that
        another writer encoded meanwhile keeps its stored vector. Returns how many were added."""
        slug = encoder_slug(encoder)
        name, label = f"query_embeddings/{slug}", f"query_embeddings[{slug}]"
        validate_vectors(vectors, vectors.shape[1] if vectors.ndim == 2 else -1, name=label)
        table = pa.table({"query_id": pa.array(query_ids, pa.string()),
                          "encoder": pa.array([encoder] * len(query_ids), pa.string()),
                          "vector": _vector_column(vectors)}, schema=self.table(name).schema)
        require_unique(table, ("query_id",), name=label)
        metrics = self.table(name).merge(table, keys=["query_id"], update=False, prune=_prune("query_id", query_ids),
                                         check=self._width_check(vectors.shape[1], name=label))
        return int(metrics["num_target_rows_inserted"])

    # -- models -----------------------------------------------------------------------------
    def read_models(self) -> pa.Table:
        return self.table("models").read().sort_by("model_id")

    def write_models(self, table: pa.Table) -> None:
        """Upsert model metadata by model_id."""
        table = schemas.conform(table, schemas.MODELS, name="models")
        require_non_null(table, ("model_id",), name="models")
        require_unique(table, ("model_id",), name="models")
        self.table("models").merge(table, keys=["model_id"])

    # -- the gateway's responses -------------------------------------------------------------
    def log_responses(self, table: pa.Table) -> None:
        """Keep answered responses (response_id, model_id, text, created_at) for feedback, in one
        commit; a response id already kept is left as it is (a retried flush writes nothing twice)."""
        table = schemas.conform(table, schemas.RESPONSES, name="responses")
        require_non_null(table, ("response_id", "model_id", "text", "created_at"), name="responses")
        require_unique(table, ("response_id",), name="responses")
        days = pa.array([response_day(r) for r in table.column("response_id").to_pylist()], pa.string())
        self.table("responses").merge(table.append_column("day", days), keys=["response_id"],
                                      prune=_prune("day", days.to_pylist()), update=False)

    def find_response(self, response_id: str) -> dict[str, Any] | None:
        """The kept response `response_id` (response_id, model_id, text, created_at), or None."""
        day = response_day(response_id)
        rows = self.table("responses").read(partitions=[("day", "=", day)])
        rows = rows.filter(pc.equal(rows.column("response_id"), response_id)).drop_columns(["day"])
        return rows.to_pylist()[0] if rows.num_rows else None

    # -- model embeddings -------------------------------------------------------------------
    def read_model_embeddings(self, version: str | None = None) -> pa.Table:
        """Model embeddings (of one checkpoint `version`, or all), vectors as fixed-size lists."""
        table = self.table("model_embeddings").read()
        if version is not None:
            table = table.filter(pc.equal(table.column("version"), version))
        table = table.sort_by([("version", "ascending"), ("model_id", "ascending")])
        if table.num_rows == 0:
            return table
        matrix = _matrix(table.column("vector"), name="model_embeddings")
        fixed = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), matrix.shape[1])
        return table.set_column(table.schema.get_field_index("vector"), "vector", fixed)

    def write_model_embeddings(self, version: str, model_ids: list[str], vectors: np.ndarray,
                               n_evaluations: list[int]) -> None:
        """Upsert embeddings of `model_ids` made by checkpoint `version`, in one commit."""
        if not model_ids:
            raise LocusDataError("model_embeddings: no models to write")
        dim = vectors.shape[1] if vectors.ndim == 2 else -1
        validate_vectors(vectors, dim, name="model_embeddings")
        now = pa.scalar(np.datetime64("now", "us"), pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
        table = pa.table({"model_id": pa.array(model_ids, pa.string()),
                          "version": pa.array([version] * len(model_ids), pa.string()),
                          "vector": _vector_column(vectors), "n_evaluations": pa.array(n_evaluations, pa.int64()),
                          "updated_at": pa.repeat(now, len(model_ids))}, schema=self.table("model_embeddings").schema)
        require_unique(table, ("model_id",), name="model_embeddings")
        self.table("model_embeddings").merge(table, keys=["model_id", "version"],
                                             check=self._width_check(dim, name="model_embeddings"))
