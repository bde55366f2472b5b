"""Embedding models: the set encoder's forward pass per model, refined on the model's own
evaluations (`Locus.refine`); no retraining.

The tokenizer's per-query projections are computed once for all queries and gathered per
model, so embedding many models on a shared query set costs O(d) per evaluation up front.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from locus.errors import LocusDataError
from locus.model.locus import Locus
from locus.progress import Advance, no_progress
from locus.store import Store


def pad_batch(index: list[np.ndarray], scores: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Ragged (query positions, scores) lists -> padded index [B, n], scores [B, n], mask [B, n]."""
    n = max(len(i) for i in index)
    idx = np.zeros((len(index), n), dtype=np.int64)
    val = np.zeros((len(index), n), dtype=np.float32)
    mask = np.zeros((len(index), n), dtype=bool)
    for row, (i, s) in enumerate(zip(index, scores, strict=True)):
        idx[row, :len(i)], val[row, :len(i)], mask[row, :len(i)] = i, s, True
    return torch.from_numpy(idx), torch.from_numpy(val), torch.from_numpy(mask)


@torch.no_grad()
def embed_models(model: Locus, phi: np.ndarray | torch.Tensor, index: list[np.ndarray], scores: list[np.ndarray],
                 *, max_tokens: int | None = None, names: list[str] | None = None) -> np.ndarray:
    """Embed each model from its evaluations (query positions into `phi`, scores) -> [M, d].

    Models are batched by similar set size so that padding stays small; `max_tokens` bounds
    the padded evaluations per forward pass. The default suits the device: small batches stay
    in CPU caches (measured fastest at 2-4k tokens on 2 cores), a GPU wants large ones.
    """
    for m, i in enumerate(index):
        if len(i) == 0:
            name = names[m] if names else m
            raise LocusDataError(f"model {name!r}: the evaluation set is empty; it cannot be embedded")
    model.eval()
    device = next(model.parameters()).device
    phi_t = torch.as_tensor(phi, dtype=torch.float32, device=device)
    if max_tokens is None:
        max_tokens = 4096 if device.type == "cpu" else 1 << 20
    projected = model.project_queries(phi_t)  # once per query, shared by every model
    features = model.query_features(phi_t)
    order = np.argsort([len(i) for i in index], kind="stable")
    out = torch.empty((len(index), model.config.dim), device=device)
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and len(index[order[stop]]) * (stop - start + 1) <= max_tokens:
            stop += 1
        chunk = order[start:stop]
        idx, val, mask = pad_batch([index[c] for c in chunk], [scores[c] for c in chunk])
        idx = idx.to(device)
        out[torch.as_tensor(chunk, device=device)] = model.embed_projected(
            projected[idx], features[idx], val.to(device), mask.to(device))
        start = stop
    return out.cpu().numpy()


@torch.no_grad()
def predict_matrix(model: Locus, z: np.ndarray, phi: np.ndarray | torch.Tensor) -> np.ndarray:
    """p(correct) for every (model, query): z [M, d], phi [Q, query_dim] -> [M, Q]."""
    model.eval()
    device = next(model.parameters()).device
    logits = model.logits_matrix(torch.as_tensor(z, device=device),
                                 torch.as_tensor(phi, dtype=torch.float32, device=device))
    return torch.sigmoid(logits).cpu().numpy()


@dataclass
class Embedded:
    """Embeddings of some models, with the number of evaluations each was embedded from."""

    model_ids: list[str]
    vectors: np.ndarray  # [models, d]
    n_evaluations: list[int]


class StoreEmbedder:
    """A version's network and its encoder's query vectors, loaded once, embedding models of a store
    from all of their stored evaluations: the work of `locus embed` in one process, and of each
    actor of the Ray Data job (locus.jobs.embed)."""

    def __init__(self, store: Store, version: str = "latest", *, scorer: str | None = None,
                 device: str = "cpu") -> None:
        from locus.checkpoint import load_checkpoint
        from locus.validation import validate_vectors

        self.store, self.scorer = store, scorer
        self.checkpoint = load_checkpoint(store, version)
        self.queries = store.read_query_embeddings(self.checkpoint.encoder)
        validate_vectors(self.queries[1], self.checkpoint.model.config.query_dim,
                         name=f"query_embeddings[{self.checkpoint.encoder}]")
        self.model = self.checkpoint.model.to(torch.device(device))

    def __call__(self, model_ids: list[str]) -> Embedded:
        from locus.data import load_evaluation_set

        data = load_evaluation_set(self.store, self.checkpoint.encoder, model_ids=model_ids, scorer=self.scorer,
                                   queries=self.queries)
        z = embed_models(self.model, data.phi, data.query_index, data.scores, names=data.model_ids)
        return Embedded(data.model_ids, z, [len(s) for s in data.scores])


def models_to_embed(store: Store, model_ids: list[str] | None = None) -> list[str]:
    """The models to embed (all with evaluations, or `model_ids`); fails clearly on an unknown one."""
    known = store.model_ids()
    models = known if model_ids is None else list(model_ids)
    if missing := sorted(set(models) - set(known)):
        raise LocusDataError(f"no evaluations stored for model_id={missing[0]!r} in {store.uri}")
    if not models:
        raise LocusDataError(f"store {store.uri}: no evaluations; nothing to embed")
    return models


Shards = Callable[[str, list[str]], Iterable[Embedded]]  # (version, models) -> embeddings, part by part
BATCH_MODELS = 256  # models read and embedded together in one process (a partition-pruned read each)


def embed_store(store: Store, version: str = "latest", *, model_ids: list[str] | None = None,
                scorer: str | None = None, shards: Shards | None = None,
                progress: Advance = no_progress) -> tuple[str, list[str]]:
    """Embed models of the store (all, or `model_ids`) with a version from all their stored
    evaluations, and upsert the model-embedding table in one commit. `shards` decides where the
    work runs (the Ray Data job passes an actor pool); by default this process, in batches.
    Returns (version, embedded model ids)."""
    from locus.checkpoint import resolve_version

    version = resolve_version(store, version)  # 'latest' resolved once: every part uses the same version
    models = models_to_embed(store, model_ids)
    parts = []
    for part in (shards or _here(store, scorer))(version, models):
        parts.append(part)
        progress(len(part.model_ids))
    ids = [m for p in parts for m in p.model_ids]
    store.write_model_embeddings(version, ids, np.concatenate([p.vectors for p in parts]).astype(np.float32),
                                 [n for p in parts for n in p.n_evaluations])
    return version, sorted(ids)


def _here(store: Store, scorer: str | None) -> Shards:
    def run(version: str, models: list[str]) -> Iterator[Embedded]:
        embedder = StoreEmbedder(store, version, scorer=scorer)
        for start in range(0, len(models), BATCH_MODELS):
            yield embedder(models[start:start + BATCH_MODELS])

    return run
