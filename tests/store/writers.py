"""Writers for the concurrency and kill tests: each runs in its own process (spawned, or as a
script: `python -m tests.store.writers KIND ROOT [INDEX]`), exactly as users' jobs write."""

from __future__ import annotations

import os
import sys

import numpy as np
import pyarrow as pa

SHARED = [f"c-shared-{k:03d}" for k in range(400)]


def own_queries(i: int) -> list[str]:
    return [f"c-own-{i}-{k:02d}" for k in range(50)]


def _queries(ids: list[str]) -> pa.Table:
    texts = [f"concurrent question {q}?" for q in ids]
    return pa.table({"query_id": ids, "text": texts, "benchmark": ["c"] * len(ids)})


def _evals(model: str, ids: list[str], seed: int) -> pa.Table:
    scores = np.random.default_rng(seed).integers(0, 2, len(ids)).astype(np.float32)
    return pa.table({"model_id": [model] * len(ids), "query_id": ids, "score": scores, "scorer": ["exact"] * len(ids)})


def import_disjoint(root: str, i: int) -> None:
    """400 shared questions plus 50 of its own, and one model of its own evaluated on all 450."""
    from locus.importers import import_tables
    from locus.store import Store

    ids = SHARED + own_queries(i)
    import_tables(Store(root), _queries(ids), _evals(f"imp-{i}", ids, i))


def import_overlapping(root: str, i: int) -> None:
    """Two of these import the same two models on the shared questions (different scores: the
    last commit wins, never a duplicate), plus a model of their own on 50 questions of their own."""
    from locus.importers import import_tables
    from locus.store import Store

    evaluations = pa.concat_tables([_evals("shared-a", SHARED, 10 + i), _evals("shared-b", SHARED, 20 + i),
                                    _evals(f"ovl-{i}", own_queries(i), i)])
    import_tables(Store(root), _queries(SHARED + own_queries(i)), evaluations)


def register(root: str, i: int, rounds: int = 4) -> None:
    """What `POST /v1/embeddings` with a model_id does: 5 new texts per round for model reg-<i>."""
    from locus.checkpoint import load_checkpoint
    from locus.registration import adhoc_query_id, query_table, register_model
    from locus.store import Store

    store = Store(root)
    checkpoint = load_checkpoint(store)
    known = store.read_query_embeddings(checkpoint.encoder)
    for r in range(rounds):
        texts = [f"registration {i} round {r} text {k}?" for k in range(5)]
        ids = [adhoc_query_id(t) for t in texts]
        vectors = np.random.default_rng(100 * i + r).normal(size=(5, known[1].shape[1])).astype(np.float32)
        register_model(store, checkpoint, f"reg-{i}", ids, [1.0, 0.0, 1.0, 0.0, 1.0], known=known,
                       new_queries=query_table(ids, texts), new_vectors=vectors, new_model=r == 0)
        known = (known[0] + ids, np.vstack([known[1], vectors]))


def model_embeddings(root: str, i: int, count: int = 20) -> None:
    """One commit per model embedding, as many embedding jobs or replicas would make."""
    from locus.store import Store

    store = Store(root)
    for k in range(count):
        store.write_model_embeddings("v-concurrent", [f"emb-{i}-{k}"], np.full((1, 32), k, np.float32), [k + 1])


def query_vectors(root: str, i: int, count: int = 20, width: int = 384) -> None:
    """Appends of 5 query vectors at a time, as an encoding job's chunks."""
    from locus.encoders import DEFAULT_ENCODER
    from locus.store import Store

    store = Store(root)
    for k in range(count):
        ids = [f"vec-{i}-{k}-{j}" for j in range(5)]
        store.append_query_embeddings(DEFAULT_ENCODER, ids, np.full((5, width), k, np.float32))


WRITERS = {"import_disjoint": import_disjoint, "import_overlapping": import_overlapping, "register": register,
           "model_embeddings": model_embeddings, "query_vectors": query_vectors}


def run(kind: str, root: str, i: int, start=None) -> None:
    """Import what the writers use, wait at the `start` barrier (so that every process writes at
    once, whatever its start-up took), then write."""
    import faulthandler

    import locus.importers  # noqa: F401
    import locus.registration  # noqa: F401

    faulthandler.enable()  # a native crash prints where it happened
    if start is not None:
        start.wait(timeout=300)
    WRITERS[kind](root, i)
    # every write is committed: leave without tearing down pyarrow's and delta-rs's native thread
    # pools. A writer died once in CI with SIGSEGV and no traceback; a crash in that teardown at
    # interpreter exit is known (apache/arrow#36980), and one anywhere else now prints its stack
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
