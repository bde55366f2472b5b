"""In-memory view of a store for training and embedding: query embeddings plus ragged
per-model evaluations (models need not share queries)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from locus.errors import LocusDataError
from locus.store import Store


@dataclass
class EvaluationSet:
    """Evaluations of models over a shared query index.

    `phi[q]` embeds query `query_ids[q]`; model `model_ids[m]` was evaluated on queries
    `query_index[m]` with `scores[m]` (float32 in [0, 1]).
    """

    encoder: str
    model_ids: list[str]
    query_ids: list[str]
    phi: np.ndarray
    query_index: list[np.ndarray]
    scores: list[np.ndarray]

    @property
    def num_evaluations(self) -> int:
        return int(sum(len(s) for s in self.scores))

    def restrict(self, queries: np.ndarray) -> EvaluationSet:
        """Keep only evaluations on the given query positions (e.g. one split)."""
        keep = np.zeros(len(self.query_ids), dtype=bool)
        keep[queries] = True
        index, scores = [], []
        for qi, s in zip(self.query_index, self.scores, strict=True):
            sel = keep[qi]
            index.append(qi[sel])
            scores.append(s[sel])
        return EvaluationSet(self.encoder, self.model_ids, self.query_ids, self.phi, index, scores)

    def select_models(self, models: list[int] | np.ndarray) -> EvaluationSet:
        """Keep only the models at the given positions (same query index)."""
        return EvaluationSet(self.encoder, [self.model_ids[m] for m in models], self.query_ids, self.phi,
                             [self.query_index[m] for m in models], [self.scores[m] for m in models])

    def subsample(self, budget: int, seed: int) -> EvaluationSet:
        """At most `budget` evaluations per model, drawn uniformly at random."""
        rng = np.random.default_rng(seed)
        index, scores = [], []
        for qi, s in zip(self.query_index, self.scores, strict=True):
            pick = np.sort(rng.permutation(len(qi))[:budget])
            index.append(qi[pick])
            scores.append(s[pick])
        return EvaluationSet(self.encoder, self.model_ids, self.query_ids, self.phi, index, scores)

    def dense(self, queries: np.ndarray) -> np.ndarray:
        """Score matrix [models, len(queries)] with NaN where a model was not evaluated."""
        column = np.full(len(self.query_ids), -1, dtype=np.int64)
        column[queries] = np.arange(len(queries))
        out = np.full((len(self.model_ids), len(queries)), np.nan, dtype=np.float32)
        for m, (qi, s) in enumerate(zip(self.query_index, self.scores, strict=True)):
            col = column[qi]
            sel = col >= 0
            out[m, col[sel]] = s[sel]
        return out


def trainable_models(store: Store, encoder: str, exclude: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The models a training run uses (every model with evaluations, less `exclude`), checked from
    the store's listing alone (no table is read, no torch): fails clearly when there are no
    evaluations, `encoder` has encoded no query, or an excluded model is unknown."""
    from locus.store import encoder_slug

    models = store.model_ids()
    if not models:
        raise LocusDataError(f"store {store.uri}: no evaluations to train on; import some with `locus import`")
    if encoder_slug(encoder) not in store.query_encoders():
        raise LocusDataError(f"store {store.uri}: no query embeddings for encoder {encoder!r}; "
                             f"run `locus encode --encoder {encoder}` first")
    if unknown := sorted(set(exclude) - set(models)):
        raise LocusDataError(f"exclude: model_id={unknown[0]!r} has no evaluations in {store.uri}")
    return [m for m in models if m not in set(exclude)]


def one_score_per_pair(evaluations: pa.Table, benchmarks: pa.Table) -> pa.Table:
    """Where a (model, query) pair has scores from several scorers, keep the score of the scorer
    that scored the most evaluations of that query's benchmark in the store (the benchmark's
    own scorer, when an evaluation job wrote them), ties going to the scorer name first in
    alphabetical order. One model's extra rows (say, a registration's `api` scores) thus never
    stop training or embedding for the others."""
    if pc.count_distinct(evaluations.column("scorer")).as_py() <= 1:
        return evaluations
    names = evaluations.column_names
    rows = evaluations.append_column("_row", pa.array(np.arange(evaluations.num_rows)))
    rows = rows.join(benchmarks.select(["query_id", "benchmark"]), "query_id", join_type="left outer")
    rows = rows.set_column(rows.schema.get_field_index("benchmark"), "benchmark",
                           pc.fill_null(rows.column("benchmark"), ""))
    counts = rows.group_by(["benchmark", "scorer"]).aggregate([("_row", "count")])
    counts = counts.sort_by([("benchmark", "ascending"), ("_row_count", "descending"), ("scorer", "ascending")])
    counts = counts.append_column("_rank", pa.array(np.arange(counts.num_rows)))
    rows = rows.join(counts.select(["benchmark", "scorer", "_rank"]), ["benchmark", "scorer"])
    rows = rows.sort_by([("model_id", "ascending"), ("query_id", "ascending"), ("_rank", "ascending")])
    model, query = rows.column("model_id").to_numpy(zero_copy_only=False), \
        rows.column("query_id").to_numpy(zero_copy_only=False)
    first = np.ones(rows.num_rows, dtype=bool)
    first[1:] = (model[1:] != model[:-1]) | (query[1:] != query[:-1])
    keep = np.sort(rows.column("_row").to_numpy()[first])
    return evaluations.take(pa.array(keep)).select(names)


def load_evaluation_set(store: Store, encoder: str, *, model_ids: list[str] | None = None,
                        scorer: str | None = None,
                        queries: tuple[list[str], np.ndarray] | None = None) -> EvaluationSet:
    """Join the store's evaluations with `encoder`'s query embeddings (read from the store, or
    `queries` = (ids, vectors) already read, when loading many shards).

    A (model, query) pair scored by several scorers keeps one score: `scorer`'s when given (other
    scorers' rows are left out), else the one `one_score_per_pair` picks. Fails with a clear
    message when there are no evaluations or when queries lack embeddings.
    """
    evaluations = store.read_evaluations(model_ids)
    if scorer is not None:
        evaluations = evaluations.filter(pc.equal(evaluations.column("scorer"), scorer))
    else:
        evaluations = one_score_per_pair(evaluations, store.read_queries().select(["query_id", "benchmark"]))
    if evaluations.num_rows == 0:
        raise LocusDataError(f"store {store.uri}: no evaluations" + (f" with scorer={scorer!r}" if scorer else "")
                             + "; import some with `locus import`")
    ids, phi = queries if queries is not None else store.read_query_embeddings(encoder)
    if not ids:
        raise LocusDataError(f"store {store.uri}: no query embeddings for encoder {encoder!r}; "
                             f"run `locus encode --encoder {encoder}`")
    # vectorised joins: query id -> embedding row, model id -> rank among the sorted model ids
    qid = evaluations.column("query_id")
    found = pc.index_in(qid, value_set=pa.array(ids, pa.string()))
    q = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    if (q < 0).any():
        missing = qid[int(np.flatnonzero(q < 0)[0])].as_py()
        raise LocusDataError(f"query_id={missing!r} has evaluations but no {encoder!r} embedding; "
                             f"run `locus encode --encoder {encoder}` ({int((q < 0).sum())} evaluations affected)")
    encoded = evaluations.column("model_id").combine_chunks().dictionary_encode()
    names = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    order_names = np.argsort(names)
    rank = np.empty(len(names), dtype=np.int64)
    rank[order_names] = np.arange(len(names))
    model_ids_sorted = names[order_names]
    m = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    scores = evaluations.column("score").to_numpy(zero_copy_only=False).astype(np.float32)
    order = np.lexsort((q, m))
    m, q, scores = m[order], q[order], scores[order]
    bounds = np.searchsorted(m, np.arange(len(model_ids_sorted) + 1))
    return EvaluationSet(
        encoder=encoder, model_ids=[str(x) for x in model_ids_sorted], query_ids=list(ids), phi=phi,
        query_index=[q[bounds[i]:bounds[i + 1]] for i in range(len(model_ids_sorted))],
        scores=[scores[bounds[i]:bounds[i + 1]] for i in range(len(model_ids_sorted))],
    )


@dataclass(frozen=True)
class QuerySplit:
    """Positions (into EvaluationSet.query_ids) of the train, validation and test queries."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray


SplitMethod = Literal["hash", "permutation"]


def split_queries(query_ids: list[str], seed: int = 0, *, method: SplitMethod = "hash", train: float = 0.8,
                  validation: float = 0.1) -> QuerySplit:
    """Train / validation / test positions, reproducible from the ids and the seed alone.

    "hash" (the default): each query's part follows from blake2b(seed, query_id) alone, so adding
    queries never moves an existing one to another part (parts are 80/10/10 in expectation).
    "permutation": sort the ids, permute with default_rng(seed), cut 80/10/10 exactly; this is the
    published LOCUS split that the reference figures use, and it moves queries when ids are added.
    """
    if method == "permutation":
        order = np.argsort(np.asarray(query_ids, dtype=object), kind="stable")
        n = len(order)
        perm = order[np.random.default_rng(seed).permutation(n)]
        a, b = int(np.floor(train * n)), int(np.floor((train + validation) * n))
        return QuerySplit(train=perm[:a], validation=perm[a:b], test=perm[b:])
    if method != "hash":
        raise LocusDataError(f"split: unknown method {method!r}; choose hash or permutation")
    salt = str(seed).encode() + b"\0"
    u = np.array([int.from_bytes(hashlib.blake2b(salt + q.encode(), digest_size=8).digest(), "big")
                  for q in query_ids], dtype=np.float64) / 2.0 ** 64
    cut = train + validation
    return QuerySplit(train=np.flatnonzero(u < train), validation=np.flatnonzero((u >= train) & (u < cut)),
                      test=np.flatnonzero(u >= cut))
