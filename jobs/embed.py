"""Embed the models of a store with a registered version as a Ray Data batch job: the core's
`embed_store` with its work sharded over an actor pool, each actor holding one `StoreEmbedder`
(the network and the query vectors) and reading the evaluations of its batch of models from the
store; the driver upserts the model-embedding table. The same vectors as `locus embed`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from locus.embedding import Embedded, StoreEmbedder, embed_store
from locus.progress import Advance, no_progress
from locus.store import Store


class ModelEmbedder:
    """Ray Data actor: one `StoreEmbedder`, many batches of model ids."""

    def __init__(self, root: str, version: str, scorer: str | None, gpu: bool) -> None:
        self.embedder = StoreEmbedder(Store(root), version, scorer=scorer, device="cuda" if gpu else "cpu")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        done = self.embedder([str(m) for m in batch["model_id"]])
        return {"model_id": np.asarray(done.model_ids, dtype=object), "vector": done.vectors,
                "n_evaluations": np.asarray(done.n_evaluations, dtype=np.int64)}


@dataclass
class EmbedJobResult:
    version: str
    model_ids: list[str]


def run_embedding(root: str, version: str = "latest", *, model_ids: list[str] | None = None,
                  scorer: str | None = None, actors: int = 1, gpu: bool = False, batch_size: int = 64,
                  address: str | None = None, progress: Advance = no_progress,
                  log_file: Path | None = None) -> EmbedJobResult:
    """Embed the models with an actor pool of `actors` (one GPU each with `gpu`); upsert the table.
    `progress(n)` follows the models embedded."""
    import ray
    from locus.jobs.ray_session import ray_session

    store = Store(root)

    def actor_pool(version: str, models: list[str]) -> Iterator[Embedded]:
        with ray_session(address, log_file=log_file):
            embedded = ray.data.from_items([{"model_id": m} for m in models]).map_batches(
                ModelEmbedder, fn_constructor_kwargs={"root": store.uri, "version": version, "scorer": scorer,
                                                      "gpu": gpu},
                batch_size=batch_size, batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
                # fractional CPUs: an actor pool holding every CPU starves Ray Data's own tasks
                num_cpus=0 if gpu else 0.5, num_gpus=1 if gpu else 0)
            for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
                yield Embedded([str(m) for m in batch["model_id"]], np.stack(batch["vector"]),
                               [int(n) for n in batch["n_evaluations"]])

    version, ids = embed_store(store, version, model_ids=model_ids, scorer=scorer, shards=actor_pool,
                               progress=progress)
    return EmbedJobResult(version=version, model_ids=ids)
