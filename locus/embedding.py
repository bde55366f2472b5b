"""Embedding models: one forward pass of the set encoder per model, no retraining.

The tokenizer's per-query projections are computed once for all queries and gathered per
model, so embedding many models on a shared query set costs O(d) per evaluation up front.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from locus.errors import LocusDataError
from locus.model import Locus


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
                 *, max_tokens: int | None = None, progress: bool = False,
                 names: list[str] | None = None) -> np.ndarray:
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
    order = np.argsort([len(i) for i in index], kind="stable")
    out = torch.empty((len(index), model.config.dim), device=device)
    bar = tqdm(total=len(index), desc="embedding models", disable=not progress)
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and len(index[order[stop]]) * (stop - start + 1) <= max_tokens:
            stop += 1
        chunk = order[start:stop]
        idx, val, mask = pad_batch([index[c] for c in chunk], [scores[c] for c in chunk])
        out[torch.as_tensor(chunk, device=device)] = model.embed_projected(
            projected[idx.to(device)], val.to(device), mask.to(device))
        bar.update(len(chunk))
        start = stop
    bar.close()
    return out.cpu().numpy()


@torch.no_grad()
def predict_matrix(model: Locus, z: np.ndarray, phi: np.ndarray | torch.Tensor) -> np.ndarray:
    """p(correct) for every (model, query): z [M, d], phi [Q, query_dim] -> [M, Q]."""
    model.eval()
    device = next(model.parameters()).device
    logits = model.logits_matrix(torch.as_tensor(z, device=device),
                                 torch.as_tensor(phi, dtype=torch.float32, device=device))
    return torch.sigmoid(logits).cpu().numpy()


def embed_store(store, version: str = "latest", *, model_ids: list[str] | None = None,
                scorer: str | None = None, progress: bool = False) -> tuple[str, list[str]]:
    """Embed models of the store (all, or `model_ids`) with a checkpoint from all their stored
    evaluations, and upsert the model-embedding table. Returns (version, embedded model ids)."""
    from locus.checkpoint import load_checkpoint
    from locus.data import load_evaluation_set
    from locus.validation import validate_vectors

    checkpoint = load_checkpoint(store, version)
    data = load_evaluation_set(store, checkpoint.encoder, model_ids=model_ids, scorer=scorer)
    validate_vectors(data.phi, checkpoint.model.config.query_dim, name=f"query_embeddings[{checkpoint.encoder}]")
    z = embed_models(checkpoint.model, data.phi, data.query_index, data.scores, progress=progress,
                     names=data.model_ids)
    store.write_model_embeddings(checkpoint.version, data.model_ids, z, [len(s) for s in data.scores])
    return checkpoint.version, data.model_ids
