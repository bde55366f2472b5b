"""Query encoding as a Ray Data job: the core's `encode_store` with its work on an actor pool, each
actor holding the sentence-transformers encoder; the driver appends the vectors chunk by chunk
(a killed job keeps every chunk already written; a re-run encodes only the rest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from locus.encoders import EncodeReport, encode_store, encode_texts
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
                 pending: pa.Table | None = None, progress: Advance = no_progress,
                 log_file: Path | None = None) -> EncodeReport:
    """Encode the store's queries that lack `encoder` vectors (or `pending`) with `actors` encoders;
    `progress(n)` follows each chunk written."""
    import ray
    from locus.jobs.ray_session import ray_session

    def actor_pool(todo: pa.Table) -> Iterator[tuple[list[str], np.ndarray]]:
        if todo.num_rows == 0:
            return
        with ray_session(address, log_file=log_file):
            # one block per actor task, and enough for every actor: Ray Data gives the first actor up
            # to 4 blocks at once and lets an actor go when no block is left for it
            size = max(1, min(block_size, -(-todo.num_rows // (4 * actors))))
            blocks = [todo.slice(i, size) for i in range(0, todo.num_rows, size)]
            dataset = ray.data.from_arrow(blocks).map_batches(
                QueryEncoderActor, fn_constructor_kwargs={"encoder": encoder}, batch_size=batch_size,
                batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=actors),
                # fractional CPUs: an actor pool holding every CPU starves Ray Data's own tasks (and hangs)
                num_cpus=0.5 if not gpu else 0, num_gpus=1 if gpu else 0)
            for chunk in dataset.iter_batches(batch_size=chunk_size, batch_format="numpy"):
                yield [str(q) for q in chunk["query_id"]], np.stack(chunk["vector"])

    return encode_store(Store(root), encoder, pending=pending, chunks=actor_pool, progress=progress)
