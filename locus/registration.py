"""Registering a model from evaluations sent to the API: everything is validated and the embedding
computed before the first commit, then the commits go in an order in which every prefix is a
consistent store (queries, their vectors, the evaluations that cite them, the models row, the
embedding). Each commit is an idempotent merge, so a registration cut short by a crash is
completed by sending it again, and a rejected one writes nothing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from locus import schemas
from locus.checkpoint import Checkpoint
from locus.data import one_score_per_pair
from locus.embedding import embed_models
from locus.errors import LocusDataError
from locus.store import Store
from locus.validation import validate_evaluations, validate_queries, validate_vectors

SCORER, SOURCE = "api", "serve"


@dataclass
class Registration:
    model_id: str
    embedding: np.ndarray  # [d]
    n_evaluations: int  # all of the model's stored evaluations it was embedded from


def register_model(store: Store, checkpoint: Checkpoint, model_id: str, query_ids: list[str], scores: list[float],
                   *, known: tuple[list[str], np.ndarray], new_queries: pa.Table, new_vectors: np.ndarray,
                   new_model: bool, scorer: str = SCORER, source: str = SOURCE) -> Registration:
    """Store `scores` of `model_id` on `query_ids` (known queries, or the `new_queries` with their
    `new_vectors`) and embed the model from all of its evaluations; `known` = (ids, vectors) of
    the store's encoded queries. The rows are stored as `scorer`'s (replacing that scorer's earlier
    scores of the same queries). Raises `LocusDataError` before writing anything on bad input."""
    evaluations = schemas.conform(pa.table({
        "model_id": [model_id] * len(query_ids), "query_id": query_ids, "score": pa.array(scores, pa.float32()),
        "scorer": [scorer] * len(query_ids), "source": [source] * len(query_ids)}), schemas.EVALUATIONS,
        name="evaluations")
    ids, phi = known
    new_queries = schemas.conform(new_queries, schemas.QUERIES, name="queries")
    if new_queries.num_rows:
        validate_queries(new_queries)
        validate_vectors(new_vectors, phi.shape[1], name="query vectors")
        ids, phi = [*ids, *new_queries.column("query_id").to_pylist()], np.vstack([phi, new_vectors])
    all_ids = pa.array(ids, pa.string())
    validate_evaluations(evaluations, all_ids)

    stored = store.read_evaluations([model_id], missing_ok=True)
    rows = evaluations
    if stored.num_rows:
        same = pc.and_(pc.equal(stored.column("scorer"), scorer),
                       pc.is_in(stored.column("query_id"), value_set=evaluations.column("query_id")))
        rows = pa.concat_tables([stored.filter(pc.invert(same)), evaluations])
    benchmarks = pa.concat_tables([store.read_queries(), new_queries]).select(["query_id", "benchmark"])
    rows = one_score_per_pair(rows, benchmarks)
    found = pc.index_in(rows.column("query_id"), value_set=all_ids)
    if found.null_count:
        raise LocusDataError(f"model_id={model_id!r}: stored evaluations cite queries without "
                             f"{checkpoint.encoder!r} embeddings; run `locus encode` first")
    z = embed_models(checkpoint.model, phi, [found.to_numpy().astype(np.int64)],
                     [rows.column("score").to_numpy(zero_copy_only=False).astype(np.float32)], names=[model_id])[0]

    if new_queries.num_rows:
        store.write_queries(new_queries)
        store.append_query_embeddings(checkpoint.encoder, new_queries.column("query_id").to_pylist(), new_vectors)
    store.write_evaluations(evaluations, queries=all_ids)
    if new_model:
        store.write_models(pa.table({"model_id": [model_id], "available": [True]}))
    store.write_model_embeddings(checkpoint.version, [model_id], z[None], [rows.num_rows])
    return Registration(model_id, z, rows.num_rows)


def adhoc_query_id(text: str) -> str:
    """A stable id for a query known only by its text (sent to the embeddings endpoint)."""
    import hashlib

    return "adhoc-" + hashlib.sha1(text.encode()).hexdigest()[:16]


def query_table(ids: list[str], texts: list[str]) -> pa.Table:
    return pa.table({"query_id": ids, "text": texts, "benchmark": ["adhoc"] * len(ids)})
