"""Adaptive onboarding: which queries to evaluate a new model on next, so that its embedding is
good after few evaluations. Each strategy proposes a batch from candidate queries given the
evaluations made so far; run it in rounds (evaluate the batch, propose again).

- random: uniform over the candidates not evaluated yet (the baseline).
- stratified: one query from each of n equal strata of difficulty (the pool's mean predicted
  p(correct)), so that a small sample spans easy to hard queries as the whole set does.
- coverage: farthest-first in query-embedding space, away from every evaluated query.
- disagreement: where the model's likely neighbours disagree most. Before any evaluation the
  whole pool counts; afterwards the pool models nearest to the current embedding do.
- uncertainty: where the current embedding predicts p(correct) closest to 1/2 (disagreement
  until there is an embedding to ask).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from locus.api import OnboardingStrategy
from locus.embedding import predict_matrix
from locus.errors import LocusDataError
from locus.model.locus import Locus
from locus.store import Store

STRATEGIES: tuple[str, ...] = get_args(OnboardingStrategy)
NEIGHBOURS = 5  # pool models whose disagreement steers the choice once the model has an embedding


@dataclass
class Candidates:
    """The queries a new model could be evaluated on, and the pool it joins."""

    phi: np.ndarray  # [queries, query_dim]
    pool_z: np.ndarray  # [pool models, d]
    pool_probs: np.ndarray  # [pool models, queries] predicted p(correct)

    @classmethod
    def build(cls, model: Locus, phi: np.ndarray, pool_z: np.ndarray) -> Candidates:
        return cls(phi, pool_z, predict_matrix(model, pool_z, phi))


def _embed(model: Locus, phi: np.ndarray, scores: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        model.eval()
        z = model.embed(torch.as_tensor(phi, dtype=torch.float32)[None], torch.as_tensor(scores)[None])
    return z[0].numpy()


def _farthest_first(phi: np.ndarray, known: np.ndarray, free: np.ndarray, n: int, rng: np.random.Generator
                    ) -> list[int]:
    """n free queries, each the farthest (cosine) from every query evaluated or picked before it."""
    unit = phi / np.maximum(np.linalg.norm(phi, axis=1, keepdims=True), 1e-12)
    nearest = (1 - unit[free] @ unit[known].T).min(axis=1) if len(known) else None
    picked: list[int] = []
    for _ in range(n):
        i = int(rng.integers(len(free))) if nearest is None else int(np.argmax(nearest))
        picked.append(int(free[i]))
        distance = 1 - unit[free] @ unit[free[i]]
        nearest = distance if nearest is None else np.minimum(nearest, distance)
    return picked


def _stratified(difficulty: np.ndarray, free: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """One query at random from each of n equal-sized strata of predicted difficulty."""
    order = np.argsort(difficulty, kind="stable")
    return np.array([free[rng.choice(stratum)] for stratum in np.array_split(order, n)], dtype=np.int64)


def propose(strategy: str, model: Locus, candidates: Candidates, known: np.ndarray, known_scores: np.ndarray,
            n: int, *, seed: int = 0) -> np.ndarray:
    """Positions (into `candidates`) of the next `n` queries to evaluate; `known` are the positions
    already evaluated, with `known_scores`."""
    if strategy not in STRATEGIES:
        raise LocusDataError(f"--strategy: unknown onboarding strategy {strategy!r}; choose from "
                             f"{', '.join(STRATEGIES)}")
    rng = np.random.default_rng(seed)
    free = np.setdiff1d(np.arange(len(candidates.phi)), known)
    n = min(n, len(free))
    if strategy == "random":
        return rng.choice(free, size=n, replace=False)
    if strategy == "stratified":
        return _stratified(candidates.pool_probs[:, free].mean(axis=0), free, n, rng)
    if strategy == "coverage":
        return np.array(_farthest_first(candidates.phi, known, free, n, rng), dtype=np.int64)
    probs = candidates.pool_probs[:, free]
    if len(known) == 0:
        value = probs.var(axis=0)
    else:
        z = _embed(model, candidates.phi[known], known_scores)
        if strategy == "uncertainty":
            p = predict_matrix(model, z[None], candidates.phi[free])[0]
            value = p * (1 - p)
        else:
            nearest = np.argsort(np.linalg.norm(candidates.pool_z - z, axis=1))[:NEIGHBOURS]
            value = probs[nearest].var(axis=0)
    value = value + rng.uniform(0, 1e-9, len(value))  # break ties at random
    return free[np.argsort(-value, kind="stable")[:n]]


def rounds(first: int, budget: int) -> list[int]:
    """Batch sizes that double the evaluations each round: first, first, 2 first, ... up to budget."""
    sizes, total = [], 0
    while total < budget:
        size = min(max(first, total), budget - total)
        sizes.append(size)
        total += size
    return sizes


def plan(store: Store, model_id: str, n: int, *, strategy: str = "stratified", version: str = "latest",
         seed: int = 0, benchmarks: list[str] | None = None) -> pa.Table:
    """The next `n` queries of the store to evaluate `model_id` on (query_id, benchmark, text), given
    the evaluations of it already stored; only queries of `benchmarks` when given (those an
    evaluation config can prompt and score). The pool is every other embedded model of the version."""
    from locus.routing import ModelPool

    if n < 1:
        raise LocusDataError(f"--budget: {n} must be at least 1")
    pool = ModelPool.load(store, version)
    others = np.array([i for i, m in enumerate(pool.model_ids) if m != model_id], dtype=np.int64)
    if len(others) == 0:
        raise LocusDataError(f"version {pool.version} embeds no model other than {model_id!r}: nothing to compare with")
    ids, phi = store.read_query_embeddings(pool.checkpoint.encoder)
    queries = store.read_queries()
    if benchmarks is not None:
        allowed = set(queries.filter(pc.is_in(queries.column("benchmark"), value_set=pa.array(benchmarks, pa.string())))
                      .column("query_id").to_pylist())
        keep = np.array([i for i, q in enumerate(ids) if q in allowed], dtype=np.int64)
        if len(keep) == 0:
            raise LocusDataError(f"no encoded queries of benchmark {', '.join(benchmarks)} in the store to pick from")
        ids, phi = [ids[i] for i in keep], np.asarray(phi)[keep]
    position = {q: i for i, q in enumerate(ids)}
    done = store.read_evaluations([model_id]) if model_id in store.model_ids() else None
    known, known_scores = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    if done is not None and done.num_rows:
        rows = [(position[q], s) for q, s in zip(done.column("query_id").to_pylist(), done.column("score").to_pylist(),
                                                  strict=True) if q in position]
        known = np.array([r[0] for r in rows], dtype=np.int64)
        known_scores = np.array([r[1] for r in rows], dtype=np.float32)
    phi = np.asarray(phi, dtype=np.float32)
    candidates = Candidates.build(pool.checkpoint.model, phi, pool.z[others])
    picked = propose(strategy, pool.checkpoint.model, candidates, known, known_scores, n, seed=seed)
    rows = {q: i for i, q in enumerate(queries.column("query_id").to_pylist())}
    take = queries.take([rows[ids[p]] for p in picked])
    return pa.table({"query_id": take.column("query_id"), "benchmark": take.column("benchmark"),
                     "text": take.column("text")})
