"""Query encoding as a Ray Data job: an actor pool holding the sentence-transformers encoder embeds
the queries that have no vector yet, and the driver appends them to the store chunk by chunk
(a killed job keeps every chunk already written; a re-run encodes only the rest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from locus.encoders import encode_texts, queries_to_encode
from locus.progress import Advance, no_progress
from locus.store import Store


class QueryEncoderActor:
    """Ray Data actor: loads the encoder once, encodes batches of query texts."""

    def __init__(self, encoder: str) -> None:
        self.encoder = encoder

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = encode_texts(list(batch["text"]), self.encoder, batch_size=len(batch["text"]))
        return {"query_id": batch["query_id"], "vector": vectors}


def run_encoding(root: str, encoder: str, *, actors: int = 1, batch_size: int = 64, chunk_size: int = 1024,
                 block_size: int = 256, gpu: bool = False, address: str | None = None,
                 todo: pa.Table | None = None, progress: Advance = no_progress,
                 log_file: Path | None = None) -> tuple[int, int]:
    """Encode the store's queries that lack `encoder` vectors (or `todo`, from `queries_to_encode`);
    returns (newly encoded, total). `progress(n)` follows each chunk written."""
    import ray

    from jobs.ray_session import ray_session

    store = Store(root)
    total = store.read_queries().num_rows
    todo = queries_to_encode(store, encoder) if todo is None else todo
    if todo.num_rows == 0:
        return 0, total
    done = 0
    with ray_session(address, log_file=log_file):
        blocks = [todo.slice(i, block_size) for i in range(0, todo.num_rows, block_size)]  # one per actor task
        dataset = ray.data.from_arrow(blocks).map_batches(
            QueryEncoderActor, fn_constructor_kwargs={"encoder": encoder}, batch_size=batch_size,
            batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
            # fractional CPUs: an actor pool holding every CPU starves Ray Data's own tasks (and hangs)
            num_cpus=0.5 if not gpu else 0, num_gpus=1 if gpu else 0)
        for chunk in dataset.iter_batches(batch_size=chunk_size, batch_format="numpy"):
            store.append_query_embeddings(encoder, [str(q) for q in chunk["query_id"]], np.stack(chunk["vector"]))
            done += len(chunk["query_id"])
            progress(len(chunk["query_id"]))
    return done, total
