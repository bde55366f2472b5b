"""A pool of embedded models and what applications ask of it: route a query to the model most
likely to answer it (with the nearest available neighbour as proxy when that model is down),
nearest neighbours, and pairwise distance with predicted disagreement. Ray-free; Serve wraps it.

Routing weighs each model's prediction by the evidence its embedding rests on: a model embedded
from n evaluations keeps n / (n + prior_strength) of its own (calibrated) score and takes the rest
from the candidates' evidence-weighted average for that query, and models below `min_evaluations`
are held back unless the request lowers the minimum. Without this, a model registered from 41
evaluations, 40 of them right, was predicted best on every query (benchmarks/evidence_routing.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from locus.calibration import REFERENCE_SIZE, ability
from locus.checkpoint import Checkpoint, load_checkpoint
from locus.embedding import predict_matrix
from locus.errors import ConflictError, LocusDataError, UnknownModelError
from locus.metrics import distance_matrix, predicted_disagreement
from locus.store import Store

MIN_EVALUATIONS = 100
"""Models embedded from fewer evaluations are not routed to unless a request asks."""

PRIOR_STRENGTH = 64.0
"""Evaluations' worth of weight on the pool's average in a model's routing score."""


@dataclass
class Ranked:
    model_id: str
    p_correct: float
    p_calibrated: float
    utility: float
    n_evaluations: int
    evidence: float


@dataclass
class Route:
    """The ranking of the candidates for one query and the model chosen to answer it."""

    ranked: list[Ranked]
    choice: str
    p_correct: float
    proxy_for: str | None = None  # the best model, when it was unavailable and `choice` stands in
    fallbacks: list[str] = field(default_factory=list)  # where to send the query if `choice` fails, in order


@dataclass
class ModelPool:
    """A version's network, the model embeddings it made, the models table, and the reference
    queries: the routing calibration's ability term and predicted disagreement average over them."""

    checkpoint: Checkpoint
    model_ids: list[str]
    z: np.ndarray
    n_evaluations: np.ndarray
    models: dict[str, dict] = field(default_factory=dict)
    reference_phi: np.ndarray | None = None

    @classmethod
    def load(cls, store: Store, version: str = "latest", *, queries: tuple[list[str], np.ndarray] | None = None,
             reference_queries: int = REFERENCE_SIZE) -> ModelPool:
        """Load a version and its model embeddings (read-only: `locus embed` makes them). The reference
        queries are the version's calibration set, else a seeded sample of `reference_queries` of the
        store's queries (`queries` = (ids, vectors), when the caller has read them already)."""
        checkpoint = load_checkpoint(store, version)
        table = store.read_model_embeddings(checkpoint.version)
        if table.num_rows == 0:
            raise LocusDataError(f"version {checkpoint.version} has no model embeddings in {store.uri}; make them with "
                                 f"`locus embed --version {checkpoint.version}`")
        models = {row["model_id"]: row for row in store.read_models().to_pylist()}
        ids, phi = queries or store.read_query_embeddings(checkpoint.encoder)
        position = {q: i for i, q in enumerate(ids)}
        picked = [position[q] for q in checkpoint.routing.reference if q in position]
        if not picked:
            picked = np.sort(np.random.default_rng(0).permutation(len(ids))[:reference_queries]).tolist()
        return cls(checkpoint, table.column("model_id").to_pylist(),
                   np.stack(table.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32),
                   table.column("n_evaluations").to_numpy().copy(), models, np.asarray(phi)[picked])

    @property
    def version(self) -> str:
        return self.checkpoint.version

    def __post_init__(self) -> None:
        self.index = {m: i for i, m in enumerate(self.model_ids)}
        self.ability = self.abilities(self.z)

    def abilities(self, z: np.ndarray) -> np.ndarray | None:
        """Mean logit over the reference queries of the models embedded as z [n, d], for calibrated routing."""
        if self.checkpoint.routing.shrinkage >= 1 or self.reference_phi is None or len(self.reference_phi) == 0:
            return None
        return ability(predict_matrix(self.checkpoint.model, z, self.reference_phi))

    def position(self, model_id: str) -> int:
        try:
            return self.index[model_id]
        except KeyError:
            raise UnknownModelError(f"model_id={model_id!r} is not embedded in version {self.version}") from None

    def describe(self, model_id: str) -> dict:
        meta = self.models.get(model_id, {})
        available = meta.get("available")
        return {"model_id": model_id, "display_name": meta.get("display_name") or model_id,
                "family": meta.get("family"), "params_b": meta.get("params_b"),
                "cost_per_1k_tokens": meta.get("cost_per_1k_tokens"), "served_at": meta.get("served_at"),
                "available": True if available is None else bool(available),
                "n_evaluations": int(self.n_evaluations[self.position(model_id)])}

    def predict(self, phi: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
        """p(correct) [queries, models] for query embeddings phi [queries, query_dim]."""
        z = self.z if positions is None else self.z[positions]
        return predict_matrix(self.checkpoint.model, z, phi).T

    def held_back(self, model_ids: list[str], min_evaluations: int) -> list[str]:
        """Those of `model_ids` embedded from fewer than `min_evaluations` evaluations."""
        return [m for m in model_ids if self.n_evaluations[self.position(m)] < min_evaluations]

    def evidence(self, positions: np.ndarray, prior_strength: float) -> np.ndarray:
        """n / (n + prior_strength) per model: how much of its routing score is its own."""
        n = self.n_evaluations[positions].astype(np.float64)
        return n / (n + prior_strength) if prior_strength > 0 else np.ones_like(n)

    def route(self, phi: np.ndarray, *, candidates: list[str] | None = None, unavailable: list[str] = (),
              cost_weight: float = 0.0, min_p: float | None = None, k: int = 5, min_evaluations: int = 0,
              prior_strength: float = 0.0) -> list[Route]:
        """Rank the candidates with at least `min_evaluations` by q - cost_weight * cost (cost per 1k
        tokens, 0 if unknown), where q is p(correct) shrunk towards each model's average by the
        version's routing calibration and towards the candidates' average by the model's evidence.
        With `min_p`, the choice is the cheapest model whose q reaches it (the best-ranked when none
        does). When the choice is unavailable its nearest available neighbour in embedding space
        answers. Each route lists its fallbacks: the choice's nearest available neighbour first, then
        the other available candidates by rank."""
        ids = list(dict.fromkeys(candidates)) if candidates else self.model_ids
        held = set(self.held_back(ids, min_evaluations))
        ids = [m for m in ids if m not in held]
        down = set(unavailable) | {m for m in ids if self.models.get(m, {}).get("available") is False}
        if all(m in down for m in ids):
            why = f" or embedded from fewer than min_evaluations={min_evaluations} evaluations" if held else ""
            raise ConflictError(f"every candidate model is unavailable{why}; nothing to route to")
        positions = np.array([self.position(m) for m in ids])
        cost = np.array([self.models.get(m, {}).get("cost_per_1k_tokens") or 0.0 for m in ids])
        probs = self.predict(phi, positions)
        scores = self.checkpoint.routing.scores(probs.T, None if self.ability is None else self.ability[positions])
        weight = self.evidence(positions, prior_strength)
        prior = (weight[:, None] * scores).sum(axis=0) / weight.sum()
        calibrated = 1 / (1 + np.exp(-(weight[:, None] * scores + (1 - weight[:, None]) * prior).T))
        utility = calibrated - cost_weight * cost
        n = self.n_evaluations[positions]
        up = np.array([m not in down for m in ids])
        routes = []
        for p, q, u in zip(probs, calibrated, utility, strict=True):
            order = np.argsort(-u, kind="stable")
            best = int(order[0])
            if min_p is not None and (q >= min_p).any():
                best = int(np.lexsort((-u, cost, q < min_p))[0])  # reaching min_p, then cheapest, then rank
            ranked = [Ranked(ids[i], float(p[i]), float(q[i]), float(u[i]), int(n[i]), float(weight[i]))
                      for i in order[:k]]
            choice = best if up[best] else int(np.flatnonzero(up)[nearest(self.z[positions[up]],
                                                                          self.z[positions[best]])])
            rest = [int(i) for i in order if up[i] and i != choice]
            if rest:
                first = rest[nearest(self.z[positions[rest]], self.z[positions[choice]])]
                rest = [first] + [i for i in rest if i != first]
            routes.append(Route(ranked, ids[choice], float(p[choice]), proxy_for=None if choice == best else ids[best],
                                fallbacks=[ids[i] for i in rest]))
        return routes

    def neighbours(self, model_id: str, k: int = 5) -> list[tuple[str, float]]:
        """The k nearest models to `model_id` by embedding distance."""
        distances = np.linalg.norm(self.z - self.z[self.position(model_id)], axis=1)
        order = [int(i) for i in np.argsort(distances, kind="stable") if self.model_ids[i] != model_id]
        return [(self.model_ids[i], float(distances[i])) for i in order[:k]]

    def compare(self, model_ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Embedding distances [n, n] and predicted disagreement over the reference queries."""
        positions = np.array([self.position(m) for m in model_ids])
        return distance_matrix(self.z[positions]), predicted_disagreement(self.predict(self.reference_phi, positions).T)

    def costs(self, column: str) -> np.ndarray:
        """Each model's price from the models table (params_b or cost_per_1k_tokens), NaN if unknown."""
        return np.array([self.models.get(m, {}).get(column) or np.nan for m in self.model_ids], dtype=float)

    def portfolio(self, method: str, *, k: int | None = None, budget: float | None = None,
                  cost: str = "params_b") -> tuple[list[str], float]:
        """Models chosen by a portfolio method and their predicted routing accuracy over the reference queries."""
        from locus.portfolio import select

        probs = self.predict(self.reference_phi)
        chosen = select(method, self.z, probs, k=k, cost=self.costs(cost), budget=budget)
        return [self.model_ids[c] for c in chosen], float(probs[:, chosen].max(axis=1).mean())

    def embed(self, phi: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """An embedding from evaluations given as query embeddings [n, query_dim] and scores [n]."""
        with torch.no_grad():
            model = self.checkpoint.model
            z = model.embed(torch.as_tensor(phi, dtype=torch.float32)[None], torch.as_tensor(scores)[None])
        return z[0].numpy()

    def upsert(self, model_id: str, z: np.ndarray, n_evaluations: int) -> None:
        if model_id in self.index:
            i = self.index[model_id]
            self.z[i], self.n_evaluations[i] = z, n_evaluations
            if self.ability is not None:
                self.ability[i] = self.abilities(z[None])[0]
        else:
            self.index[model_id] = len(self.model_ids)
            self.model_ids.append(model_id)
            self.z = np.vstack([self.z, z[None]])
            self.n_evaluations = np.append(self.n_evaluations, n_evaluations)
            if self.ability is not None:
                self.ability = np.append(self.ability, self.abilities(z[None]))


def nearest(candidates: np.ndarray, target: np.ndarray) -> int:
    """Position among `candidates` [n, d] of the embedding closest to `target` [d]: the proxy of an
    unavailable model is its nearest available neighbour."""
    return int(np.argmin(np.linalg.norm(candidates - target, axis=1)))
