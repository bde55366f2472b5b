"""The two model-holding deployments: the query encoder (sentence-transformers, @serve.batch)
and LOCUS (network + model embeddings, vectorised over every model, refreshed from the registry)."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
from locus.serve.settings import ServeSettings
from ray import serve

from locus.errors import LocusDataError
from locus.registration import register_model
from locus.routing import ModelPool, adhoc_query_id, query_table
from locus.store import Store


@serve.deployment(ray_actor_options={"num_cpus": 0.5})
class QueryEncoder:
    """Encodes query texts; concurrent requests are batched into one forward pass. Routing uses the
    fast encoder (truncated, int8 by default); texts that become stored queries of a registered
    model use the exact one, as training did."""

    def __init__(self, encoder: str, settings: dict) -> None:
        import torch

        from locus.encoders import load_serving_encoder

        config = ServeSettings.model_validate(settings)
        torch.set_num_threads(config.encoder_threads)
        self.model = load_serving_encoder(encoder, max_tokens=config.encoder_max_tokens, int8=config.encoder_int8)
        self.encoder = encoder
        self.encode_batch.set_max_batch_size(config.encoder_batch_size)
        self.encode_batch.set_batch_wait_timeout_s(config.encoder_batch_wait_s)

    @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
    async def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return list(np.asarray(self.model.encode(texts, convert_to_numpy=True), dtype=np.float32))

    async def __call__(self, texts: list[str]) -> np.ndarray:
        return np.stack(await asyncio.gather(*(self.encode_batch(t) for t in texts)))

    def exact(self, texts: list[str]) -> np.ndarray:
        """Vectors from the full encoder, identical to `locus encode`'s (for texts that get stored)."""
        from locus.encoders import encode_texts

        return encode_texts(texts, self.encoder)


@serve.deployment(ray_actor_options={"num_cpus": 0.25})
class LocusModel:
    """A registry version's network and model embeddings; sees new registrations without a restart."""

    def __init__(self, settings: dict) -> None:
        self.settings = ServeSettings.model_validate(settings)
        self.store = Store(self.settings.root)
        self._writes = threading.Lock()  # registrations run on Serve's threads; one at a time per replica
        self._load()

    # -- registry ----------------------------------------------------------------------------
    def _stamp(self) -> tuple:
        """Changes whenever a version is registered or the model-embedding or models table commits."""
        latest = self.store.fs.get_file_info(self.store.path("checkpoints", "LATEST"))
        return ((latest.mtime_ns, latest.size), self.store.table("model_embeddings").version(),
                self.store.table("models").version())

    def _load(self) -> None:
        self.stamp, self.checked = self._stamp(), time.monotonic()
        self.pool = ModelPool.load(self.store, self.settings.version)
        ids, phi = self.store.read_query_embeddings(self.pool.checkpoint.encoder)
        self.query_ids, self.phi = list(ids), np.array(phi)  # writable: torch refuses read-only arrays
        self.query_pos = {q: i for i, q in enumerate(ids)}
        pick = np.random.default_rng(0).permutation(len(ids))[:self.settings.reference_queries]
        self.reference = phi[np.sort(pick)]

    def _refresh(self) -> None:
        if time.monotonic() - self.checked < self.settings.refresh_seconds:
            return
        self.checked = time.monotonic()
        if self._stamp() != self.stamp:
            self._load()

    def info(self) -> dict:
        self._refresh()
        return {"version": self.pool.version, "encoder": self.pool.checkpoint.encoder,
                "models": len(self.pool.model_ids)}

    # -- reads -------------------------------------------------------------------------------
    async def route(self, phi: np.ndarray, candidates: list[str] | None, unavailable: list[str],
                    cost_weight: float, k: int) -> dict:
        """async though it never awaits: the hot path runs on the replica's event loop (well under a
        millisecond) instead of paying a hop to Serve's thread pool, as the other methods do."""
        self._refresh()
        phi = np.array(phi)  # Ray delivers arrays read-only; torch wants them writable
        routes = self.pool.route(phi, candidates=candidates, unavailable=unavailable, cost_weight=cost_weight, k=k)
        return {"version": self.pool.version, "results": [
            {"choice": r.choice, "p_correct": r.p_correct, "proxy_for": r.proxy_for,
             "ranked": [vars(x) for x in r.ranked]} for r in routes]}

    def models(self) -> list[dict]:
        self._refresh()
        return [self.pool.describe(m) for m in self.pool.model_ids]

    def model(self, model_id: str) -> dict:
        self._refresh()
        return self.pool.describe(model_id) | {
            "version": self.pool.version, "embedding": self.pool.z[self.pool.position(model_id)].tolist()}

    def neighbours(self, model_id: str, k: int) -> dict:
        self._refresh()
        return {"model_id": model_id, "neighbors": [{"model_id": m, "distance": d}
                                                    for m, d in self.pool.neighbours(model_id, k)]}

    def compare(self, model_ids: list[str]) -> dict:
        self._refresh()
        distance, disagreement = self.pool.compare(model_ids, self.reference)
        return {"version": self.pool.version, "models": model_ids, "distance": distance.tolist(),
                "predicted_disagreement": disagreement.tolist()}

    def portfolio(self, method: str, k: int | None, budget: float | None, cost: str) -> dict:
        self._refresh()
        chosen, predicted = self.pool.portfolio(self.reference, method, k=k, budget=budget, cost=cost)
        prices = dict(zip(self.pool.model_ids, self.pool.costs(cost), strict=True))
        return {"version": self.pool.version, "method": method,
                "models": [{"model_id": m, "cost": None if np.isnan(prices[m]) else float(prices[m])} for m in chosen],
                "predicted_routing_acc": predicted,
                "predicted_pool_routing_acc": float(self.pool.predict(self.reference).max(axis=1).mean()),
                "unpriced": [] if budget is None else sorted(m for m, p in prices.items() if np.isnan(p))}

    # -- embedding and registration ------------------------------------------------------------
    def _phi(self, query_ids: list[str | None], text_phi: np.ndarray) -> np.ndarray:
        """Query embeddings in request order: known ids from the store, texts from the encoder."""
        out = np.empty((len(query_ids), self.phi.shape[1]), dtype=np.float32)
        texts = 0
        for i, q in enumerate(query_ids):
            if q is None:
                out[i] = text_phi[texts]
                texts += 1
            elif q in self.query_pos:
                out[i] = self.phi[self.query_pos[q]]
            else:
                raise LocusDataError(f"evaluations[{i}].query_id={q!r} is not a query of this store; "
                                     f"send its text as 'query' instead")
        return out

    def embed(self, query_ids: list[str | None], texts: list[str | None], scores: list[float],
              text_phi: np.ndarray, model_id: str | None) -> dict:
        self._refresh()
        phi = self._phi(query_ids, text_phi)
        if model_id is None:
            z = self.pool.embed(phi, np.asarray(scores, dtype=np.float32))
            return {"version": self.pool.version, "model_id": None, "registered": False,
                    "n_evaluations": len(scores), "embedding": z.tolist()}
        return self._register(model_id, query_ids, texts, scores, phi)

    def _register(self, model_id: str, query_ids: list[str | None], texts: list[str | None], scores: list[float],
                  phi: np.ndarray) -> dict:
        """Store the evaluations (texts become queries) and the model's embedding from all of its
        stored evaluations; nothing is written unless the whole registration is valid."""
        ids = [q if q is not None else adhoc_query_id(t) for q, t in zip(query_ids, texts, strict=True)]
        texts_of = {i: (t, phi[n]) for n, (i, q, t) in enumerate(zip(ids, query_ids, texts, strict=True)) if q is None}
        with self._writes:
            return self._commit(model_id, ids, scores, texts_of)

    def _commit(self, model_id: str, ids: list[str], scores: list[float], texts_of: dict) -> dict:
        new = {i: tv for i, tv in texts_of.items() if i not in self.query_pos}  # texts not yet stored as queries
        vectors = np.stack([v for _, v in new.values()]) if new else np.zeros((0, self.phi.shape[1]), np.float32)
        done = register_model(self.store, self.pool.checkpoint, model_id, ids, scores,
                              known=(self.query_ids, self.phi), new_queries=query_table(list(new), [t for t, _ in
                                                                                                   new.values()]),
                              new_vectors=vectors, new_model=model_id not in self.pool.models)
        if new:
            self.query_ids += list(new)
            self.phi = np.vstack([self.phi, vectors])
            self.query_pos = {q: i for i, q in enumerate(self.query_ids)}
        self.pool.models.setdefault(model_id, {"model_id": model_id, "available": True})
        self.pool.upsert(model_id, done.embedding, done.n_evaluations)
        self.stamp = self._stamp()  # our own writes: nothing to reload
        return {"version": self.pool.version, "model_id": model_id, "registered": True,
                "n_evaluations": done.n_evaluations, "embedding": done.embedding.tolist()}
