"""What the Serve app answers, Ray-free: `PoolService` holds a registry version's model pool and the
store's query index, follows new registrations, and answers routing, model pages, comparisons,
portfolios, embeddings and registrations with the API's typed bodies (locus.api). The Serve
deployments are thin adapters around one instance each; tests drive it without a cluster."""

from __future__ import annotations

import threading
import time

import numpy as np

from locus.api import (
    CompareRequest,
    CompareResponse,
    EmbeddingRequest,
    EmbeddingResponse,
    HeldBack,
    ModelInfo,
    ModelPage,
    Neighbour,
    NeighboursResponse,
    PortfolioModel,
    PortfolioRequest,
    PortfolioResponse,
    RankedModel,
    RouteRequest,
    RouteResponse,
    RouteResult,
    ServiceInfo,
)
from locus.calibration import REFERENCE_SIZE
from locus.checkpoint import load_checkpoint
from locus.errors import NotFoundError
from locus.registration import adhoc_query_id, query_table, register_model
from locus.routing import MIN_EVALUATIONS, PRIOR_STRENGTH, ModelPool
from locus.store import Store

FEEDBACK_SCORER, FEEDBACK_SOURCE = "feedback", "gateway"


class PoolService:
    """A registry version's pool (`version="latest"` follows new versions) with the store's encoded
    queries, reloaded when the registry changes (checked at most every `refresh_seconds`). Routing
    holds back models embedded from fewer than `min_evaluations` evaluations (a request may lower
    it) and weighs the rest by their evidence (`prior_strength`, see locus.routing)."""

    def __init__(self, store: Store, *, version: str = "latest", reference_queries: int = REFERENCE_SIZE,
                 refresh_seconds: float = 1.0, min_evaluations: int = MIN_EVALUATIONS,
                 prior_strength: float = PRIOR_STRENGTH) -> None:
        self.store, self.version, self.refresh_seconds = store, version, refresh_seconds
        self.reference_queries = reference_queries
        self.min_evaluations, self.prior_strength = min_evaluations, prior_strength
        self._writes = threading.Lock()  # registrations come on several threads; one at a time
        self._load()

    # -- the registry --------------------------------------------------------------------------
    def _stamp(self) -> tuple:
        """Changes whenever a version is registered or the model-embedding or models table commits."""
        latest = self.store.fs.get_file_info(self.store.path("checkpoints", "LATEST"))
        return ((latest.mtime_ns, latest.size), self.store.table("model_embeddings").version(),
                self.store.table("models").version())

    def _load(self) -> None:
        self.stamp, self.checked = self._stamp(), time.monotonic()
        checkpoint = load_checkpoint(self.store, self.version)
        ids, phi = self.store.read_query_embeddings(checkpoint.encoder)
        self.query_ids, self.phi = list(ids), np.array(phi)  # writable: torch refuses read-only arrays
        self.query_pos = {q: i for i, q in enumerate(self.query_ids)}
        self.pool = ModelPool.load(self.store, checkpoint.version, queries=(self.query_ids, self.phi),
                                   reference_queries=self.reference_queries)

    def refresh(self, *, models: list[str] = ()) -> None:
        """Reload when the registry changed, checking at most every `refresh_seconds`, or at once when
        one of `models` is not in the pool (it may have been registered by another replica just now:
        a client that registered a model and names it next finds it, whichever replica answers)."""
        unknown = any(m not in self.pool.index for m in models)
        if not unknown and time.monotonic() - self.checked < self.refresh_seconds:
            return
        self.checked = time.monotonic()
        if self._stamp() != self.stamp:
            self._load()

    # -- reads ---------------------------------------------------------------------------------
    def info(self) -> ServiceInfo:
        self.refresh()
        return ServiceInfo(version=self.pool.version, encoder=self.pool.checkpoint.encoder,
                           models=len(self.pool.model_ids))

    def route(self, request: RouteRequest, phi: np.ndarray) -> RouteResponse:
        """Route each query of `request`, embedded as `phi` [queries, query_dim]."""
        self.refresh(models=request.candidates or ())
        minimum = self.min_evaluations if request.min_evaluations is None else request.min_evaluations
        routes = self.pool.route(np.array(phi), candidates=request.candidates, unavailable=request.unavailable,
                                 cost_weight=request.cost_weight, min_p=request.min_p, k=request.k,
                                 min_evaluations=minimum, prior_strength=self.prior_strength)
        held = self.pool.held_back(list(dict.fromkeys(request.candidates or self.pool.model_ids)), minimum)
        return RouteResponse(version=self.pool.version, min_evaluations=minimum, results=[
            RouteResult(choice=r.choice, p_correct=r.p_correct, proxy_for=r.proxy_for, fallbacks=r.fallbacks,
                        ranked=[RankedModel(**vars(x)) for x in r.ranked]) for r in routes],
            held_back=[HeldBack(model_id=m, n_evaluations=int(self.pool.n_evaluations[self.pool.position(m)]))
                       for m in held])

    def models(self) -> list[ModelInfo]:
        self.refresh()
        return [ModelInfo(**self.pool.describe(m)) for m in self.pool.model_ids]

    def model(self, model_id: str) -> ModelPage:
        self.refresh(models=[model_id])
        return ModelPage(**self.pool.describe(model_id), version=self.pool.version,
                         embedding=self.pool.z[self.pool.position(model_id)].tolist())

    def neighbours(self, model_id: str, k: int) -> NeighboursResponse:
        self.refresh(models=[model_id])
        return NeighboursResponse(model_id=model_id, neighbors=[
            Neighbour(model_id=m, distance=d) for m, d in self.pool.neighbours(model_id, k)])

    def compare(self, request: CompareRequest) -> CompareResponse:
        self.refresh(models=request.models)
        distance, disagreement = self.pool.compare(request.models)
        return CompareResponse(version=self.pool.version, models=request.models, distance=distance.tolist(),
                               predicted_disagreement=disagreement.tolist())

    def portfolio(self, request: PortfolioRequest) -> PortfolioResponse:
        self.refresh()
        pool = self.pool
        chosen, predicted = pool.portfolio(request.method, k=request.k, budget=request.budget, cost=request.cost)
        prices = dict(zip(pool.model_ids, pool.costs(request.cost), strict=True))
        return PortfolioResponse(
            version=pool.version, method=request.method,
            models=[PortfolioModel(model_id=m, cost=None if np.isnan(prices[m]) else float(prices[m])) for m in chosen],
            predicted_routing_acc=predicted,
            predicted_pool_routing_acc=float(pool.predict(pool.reference_phi).max(axis=1).mean()),
            unpriced=[] if request.budget is None else sorted(m for m, p in prices.items() if np.isnan(p)))

    # -- embedding and registration --------------------------------------------------------------
    def _phi(self, request: EmbeddingRequest, text_phi: np.ndarray | None) -> np.ndarray:
        """Query embeddings in request order: known ids from the store, texts from `text_phi`."""
        out = np.empty((len(request.evaluations), self.phi.shape[1]), dtype=np.float32)
        texts = 0
        for i, e in enumerate(request.evaluations):
            if e.query_id is None:
                out[i] = text_phi[texts]
                texts += 1
            elif e.query_id in self.query_pos:
                out[i] = self.phi[self.query_pos[e.query_id]]
            else:
                raise NotFoundError(f"evaluations[{i}].query_id={e.query_id!r} is not a query of this store; "
                                     f"send its text as 'query' instead")
        return out

    def embed(self, request: EmbeddingRequest, text_phi: np.ndarray | None = None) -> EmbeddingResponse:
        """Embed a model from the request's evaluations (`text_phi`: the vectors of its query texts, in
        order); with `model_id`, register it: store the evaluations (texts become queries) and embed
        it from all of its stored evaluations (a query sent more than once counts once, with its mean
        score). Nothing is written unless the whole request is valid."""
        self.refresh()
        phi = self._phi(request, text_phi)
        scores = [e.score for e in request.evaluations]
        if request.model_id is None:
            z = self.pool.embed(phi, np.asarray(scores, dtype=np.float32))
            return EmbeddingResponse(version=self.pool.version, model_id=None, registered=False,
                                     n_evaluations=len(scores), embedding=z.tolist())
        ids = [e.query_id or adhoc_query_id(e.query) for e in request.evaluations]
        texts = {i: (e.query, phi[n]) for n, (i, e) in enumerate(zip(ids, request.evaluations, strict=True))
                 if e.query_id is None}
        repeats: dict[str, list[float]] = {}
        for i, score in zip(ids, scores, strict=True):
            repeats.setdefault(i, []).append(score)
        with self._writes:
            return self._register(request.model_id, list(repeats), [float(np.mean(v)) for v in repeats.values()], texts)

    def feedback(self, model_id: str, text: str, vector: np.ndarray, score: float) -> EmbeddingResponse:
        """Feedback on an answer of `model_id` to `text` (its exact query vector `vector`): stored as
        the model's evaluation on that text as a query (scorer "feedback"; feedback again on the
        same text replaces it), and the model embedded again from all of its evaluations, so that a
        few rows move a model embedded from few evaluations and barely move one embedded from many.
        Other replicas see the new embedding within `refresh_seconds`."""
        self.refresh(models=[model_id])
        query_id = adhoc_query_id(text)
        with self._writes:
            return self._register(model_id, [query_id], [float(score)], {query_id: (text, np.asarray(vector))},
                                  scorer=FEEDBACK_SCORER, source=FEEDBACK_SOURCE)

    def _register(self, model_id: str, ids: list[str], scores: list[float],
                  texts: dict[str, tuple[str, np.ndarray]], **stored_as: str) -> EmbeddingResponse:
        new = {i: tv for i, tv in texts.items() if i not in self.query_pos}  # texts not yet stored as queries
        vectors = np.stack([v for _, v in new.values()]) if new else np.zeros((0, self.phi.shape[1]), np.float32)
        done = register_model(self.store, self.pool.checkpoint, model_id, ids, scores,
                              known=(self.query_ids, self.phi),
                              new_queries=query_table(list(new), [t for t, _ in new.values()]),
                              new_vectors=vectors, new_model=model_id not in self.pool.models, **stored_as)
        if new:
            self.query_ids += list(new)
            self.phi = np.vstack([self.phi, vectors])
            self.query_pos = {q: i for i, q in enumerate(self.query_ids)}
        self.pool.models.setdefault(model_id, {"model_id": model_id, "available": True})
        self.pool.upsert(model_id, done.embedding, done.n_evaluations)
        # the stamp stays as it was: other replicas may have committed beside these writes, and
        # taking the new stamp as "seen" would hide theirs until the next change
        return EmbeddingResponse(version=self.pool.version, model_id=model_id, registered=True,
                                 n_evaluations=done.n_evaluations, embedding=done.embedding.tolist())
