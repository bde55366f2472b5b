"""Checks on tables before they reach the store; each error names the field and the row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from locus.errors import LocusDataError


def _row(table: pa.Table, index: int, keys: tuple[str, ...]) -> str:
    values = ", ".join(f"{k}={table.column(k)[index].as_py()!r}" for k in keys)
    return f"row {index} ({values})"


def require_non_null(table: pa.Table, fields: tuple[str, ...], *, name: str,
                     keys: tuple[str, ...] = ()) -> None:
    """Fail on the first null in any of `fields`."""
    for field in fields:
        nulls = pc.is_null(table.column(field))
        if pc.any(nulls).as_py():
            index = int(np.flatnonzero(nulls.to_numpy(zero_copy_only=False))[0])
            raise LocusDataError(f"{name}: field '{field}' is null at {_row(table, index, keys)}")


def require_unique(table: pa.Table, keys: tuple[str, ...], *, name: str) -> None:
    """Fail on the first row whose key columns repeat an earlier row."""
    if table.num_rows == 0:
        return
    indexed = table.select(list(keys)).append_column("_row", pa.array(np.arange(table.num_rows)))
    counts = indexed.group_by(list(keys)).aggregate([("_row", "count"), ("_row", "max")])
    dup = counts.filter(pc.greater(counts.column("_row_count"), 1))
    if dup.num_rows:
        index = int(pc.min(dup.column("_row_max")).as_py())
        raise LocusDataError(f"{name}: duplicate ({', '.join(keys)}) at {_row(table, index, keys)}")


def validate_queries(table: pa.Table) -> None:
    """Queries need a unique, non-null query_id and non-empty text."""
    keys = ("query_id",)
    require_non_null(table, ("query_id", "text"), name="queries", keys=keys)
    empty = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table.column("text"))), 0)
    if pc.any(empty).as_py():
        index = int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0])
        raise LocusDataError(f"queries: field 'text' is empty at {_row(table, index, keys)}")
    require_unique(table, keys, name="queries")


def validate_evaluations(table: pa.Table, known_query_ids: set[str] | pa.Array) -> None:
    """Evaluations need scores in [0, 1], unique (model_id, query_id, scorer) and known queries."""
    keys = ("model_id", "query_id")
    if table.num_rows == 0:
        raise LocusDataError("evaluations: the evaluation set is empty")
    require_non_null(table, ("model_id", "query_id", "score", "scorer"), name="evaluations", keys=keys)
    scores = table.column("score").to_numpy(zero_copy_only=False)
    bad = ~((scores >= 0.0) & (scores <= 1.0))  # also true for NaN
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise LocusDataError(f"evaluations: field 'score' = {scores[index]!r} is not in [0, 1] at "
                             f"{_row(table, index, keys)}")
    require_unique(table, ("model_id", "query_id", "scorer"), name="evaluations")
    known = known_query_ids if isinstance(known_query_ids, pa.Array) else pa.array(sorted(known_query_ids),
                                                                                    pa.string())
    unknown = pc.invert(pc.is_in(table.column("query_id"), value_set=known))
    if pc.any(unknown).as_py():
        index = int(np.flatnonzero(unknown.to_numpy(zero_copy_only=False))[0])
        raise LocusDataError(f"evaluations: field 'query_id' is not a known query at "
                             f"{_row(table, index, keys)}; import its query first")


def validate_vectors(vectors: np.ndarray, dim: int, *, name: str) -> None:
    """Embedding matrices must be 2-D, `dim` wide and finite."""
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise LocusDataError(f"{name}: embeddings have shape {vectors.shape}, expected (n, {dim})")
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        raise LocusDataError(f"{name}: embedding at row {int(np.flatnonzero(~finite)[0])} is not finite")
