"""Embed every model in the store (or the ones named) with a registered version, as a Ray Data
batch job: an actor pool holds the network and the query embeddings, each actor reads the
evaluations of its batch of models from the store, and the driver upserts the model-embedding
table. Gives the same vectors as the single-process `locus embed`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from locus.checkpoint import load_checkpoint
from locus.data import load_evaluation_set
from locus.embedding import embed_models
from locus.errors import LocusDataError
from locus.progress import Advance, no_progress
from locus.store import Store
from locus.validation import validate_vectors


class ModelEmbedder:
    """Ray Data actor: one copy of the network and the query embeddings, many batches of models."""

    def __init__(self, root: str, version: str, scorer: str | None, gpu: bool) -> None:
        import torch

        self.store, self.scorer = Store(root), scorer
        checkpoint = load_checkpoint(self.store, version)
        self.encoder = checkpoint.encoder
        self.queries = self.store.read_query_embeddings(checkpoint.encoder)
        validate_vectors(self.queries[1], checkpoint.model.config.query_dim,
                         name=f"query_embeddings[{checkpoint.encoder}]")
        self.model = checkpoint.model.to(torch.device("cuda" if gpu else "cpu"))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        data = load_evaluation_set(self.store, self.encoder, model_ids=[str(m) for m in batch["model_id"]],
                                   scorer=self.scorer, queries=self.queries)
        z = embed_models(self.model, data.phi, data.query_index, data.scores, names=data.model_ids)
        return {"model_id": np.asarray(data.model_ids, dtype=object), "vector": z,
                "n_evaluations": np.asarray([len(s) for s in data.scores], dtype=np.int64)}


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

    from jobs.ray_session import ray_session

    store = Store(root)
    version = load_checkpoint(store, version).version  # resolves 'latest' and fails early if unusable
    known = store.model_ids()
    models = known if model_ids is None else model_ids
    if missing := sorted(set(models) - set(known)):
        raise LocusDataError(f"model_id={missing[0]!r} has no evaluations in {store.uri}")
    if not models:
        raise LocusDataError(f"store {store.uri}: no evaluations; nothing to embed")
    with ray_session(address, log_file=log_file):
        dataset = ray.data.from_items([{"model_id": m} for m in models])
        embedded = dataset.map_batches(
            ModelEmbedder, fn_constructor_kwargs={"root": store.uri, "version": version, "scorer": scorer, "gpu": gpu},
            batch_size=batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
            # fractional CPUs: an actor pool holding every CPU starves Ray Data's own tasks
            num_cpus=0 if gpu else 0.5, num_gpus=1 if gpu else 0)
        ids, vectors, counts = [], [], []
        for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
            ids += [str(m) for m in batch["model_id"]]
            vectors += list(batch["vector"])
            counts += [int(n) for n in batch["n_evaluations"]]
            progress(len(batch["model_id"]))
    store.write_model_embeddings(version, ids, np.stack(vectors).astype(np.float32), counts)
    return EmbedJobResult(version=version, model_ids=sorted(ids))
