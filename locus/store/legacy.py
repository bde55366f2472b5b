"""Stores written before the Delta Lake layout (plain Parquet files): detect them, convert them.

The old layout kept queries/queries.parquet, query_embeddings/<slug>/part-<n>.parquet,
evaluations/model_id=<quoted id>/data.parquet (and generations likewise), models/models.parquet
and model_embeddings/model_embeddings.parquet. `migrate` moves those folders under
<root>/pre-delta/ first, then writes every table anew; it can be re-run after an interruption
(every write is an idempotent merge) and leaves the moved files for the user to delete.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from locus.errors import LocusDataError

if TYPE_CHECKING:
    from locus.store.store import Store

OLD_FOLDERS = ("queries", "query_embeddings", "evaluations", "generations", "models", "model_embeddings")
MOVED = "pre-delta"
_MARKERS = ("queries/queries.parquet", "models/models.parquet", "model_embeddings/model_embeddings.parquet")


def is_legacy(store: Store) -> bool:
    """True when the root holds tables in the pre-Delta layout."""
    paths = [store.path(m) for m in _MARKERS] + [store.path("evaluations"), store.path("evaluations", "_delta_log")]
    found = [info.type != pafs.FileType.NotFound for info in store.fs.get_file_info(paths)]
    *markers, evaluations, delta_log = found
    return any(markers) or (evaluations and not delta_log)


def check_layout(store: Store) -> None:
    if is_legacy(store):
        raise LocusDataError(f"store {store.uri} uses the pre-Delta layout (plain Parquet files); convert it once "
                             f"with `locus store migrate --root {store.uri}`")


def _files(store: Store, folder: str) -> list[str]:
    selector = pafs.FileSelector(store.path(MOVED, folder), recursive=True, allow_not_found=True)
    return sorted(i.path for i in store.fs.get_file_info(selector)
                  if i.type == pafs.FileType.File and i.path.endswith(".parquet") and "/.tmp-" not in i.path)


def migrate(store: Store) -> dict[str, int]:
    """Convert the old layout under `store`'s root to Delta tables; returns rows written per table."""
    from locus.store.store import Store

    moved = store.exists(MOVED)
    if not is_legacy(store) and not moved:
        raise LocusDataError(f"store {store.uri}: nothing to migrate (no pre-Delta tables found)")
    store.fs.create_dir(store.path(MOVED), recursive=True)
    old = [f"query_embeddings/{slug}" for slug in store.listdir("query_embeddings")
           if not store.exists("query_embeddings", slug, "_delta_log")]
    old += [f for f in OLD_FOLDERS if f != "query_embeddings" and store.exists(f) and not store.exists(f, "_delta_log")]
    for folder in old:
        store.fs.create_dir(store.path(MOVED, folder).rsplit("/", 1)[0], recursive=True)
        store.fs.move(store.path(folder), store.path(MOVED, folder))
    new = Store(store.uri)
    written: dict[str, int] = {}

    def read(folder: str):
        files = _files(store, folder)
        return ds.dataset(files, format="parquet", filesystem=store.fs).to_table() if files else None

    if (queries := read("queries")) is not None:
        new.write_queries(queries)
        written["queries"] = queries.num_rows
    if (models := read("models")) is not None:
        new.write_models(models)
        written["models"] = models.num_rows
    for slug in sorted({p.split(f"/{MOVED}/query_embeddings/", 1)[1].split("/")[0]
                        for p in _files(store, "query_embeddings")}):
        parts = [pq.read_table(p, filesystem=store.fs) for p in _files(store, f"query_embeddings/{slug}")]
        for part in parts:
            vectors = part.column("vector").combine_chunks()
            matrix = np.asarray(vectors.flatten().to_numpy(), dtype=np.float32).reshape(-1, vectors.type.list_size)
            new.append_query_embeddings(part.column("encoder")[0].as_py(), part.column("query_id").to_pylist(), matrix)
        written[f"query_embeddings/{slug}"] = sum(p.num_rows for p in parts)
    if (evaluations := read("evaluations")) is not None:
        written["evaluations"] = new.write_evaluations(evaluations)
    if (generations := read("generations")) is not None:
        written["generations"] = new.write_generations(generations)
    if (embeddings := read("model_embeddings")) is not None:
        for version in sorted(set(embeddings.column("version").to_pylist())):
            rows = embeddings.filter(pc.equal(embeddings.column("version"), version))
            vectors = rows.column("vector").combine_chunks()
            matrix = np.asarray(vectors.flatten().to_numpy(), dtype=np.float32).reshape(-1, vectors.type.list_size)
            new.write_model_embeddings(version, rows.column("model_id").to_pylist(), matrix,
                                       rows.column("n_evaluations").to_pylist())
        written["model_embeddings"] = embeddings.num_rows
    return written
