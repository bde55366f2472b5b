"""How well embedding geometry tracks behaviour on held-out questions: embedding distance and
predicted disagreement against measured disagreement, and each model's nearest neighbours."""

from __future__ import annotations

import numpy as np

from locus.heldout import HeldOut
from locus.metrics import (
    disagreement_matrix,
    distance_matrix,
    nearest_neighbour_agreement,
    pair_correlation,
    predicted_disagreement,
)


def explore(held: HeldOut, *, k: int = 3) -> dict:
    """Distances, measured and predicted disagreement on the test split, their correlations, and
    the k nearest neighbours of every model with the agreement measured between them."""
    ids = held.model_ids
    distance = distance_matrix(held.z)
    measured = disagreement_matrix(held.scores)
    predicted = predicted_disagreement(held.probs)
    ranked = np.argsort(np.where(np.eye(len(ids), dtype=bool), np.inf, distance), axis=1, kind="stable")[:, :k]
    most_alike = np.nanargmin(np.where(np.eye(len(ids), dtype=bool), np.inf, measured), axis=1)
    off = ~np.eye(len(ids), dtype=bool)
    return {
        "version": held.checkpoint.version,
        "models": ids,
        "test_queries": int(held.scores.shape[1]),
        "distance": distance.tolist(),
        "measured_disagreement": measured.tolist(),
        "predicted_disagreement": predicted.tolist(),
        "distance_vs_disagreement": pair_correlation(distance, measured),
        "predicted_vs_measured": pair_correlation(predicted, measured),
        "nearest_neighbour_agreement": nearest_neighbour_agreement(held.z, held.scores),
        "mean_pair_agreement": float(np.nanmean(1 - measured[off])),
        "nearest_is_most_alike": float(np.mean(ranked[:, 0] == most_alike)),
        "neighbours": {m: [{"model_id": ids[j], "distance": float(distance[i, j]),
                            "agreement": float(1 - measured[i, j])} for j in ranked[i]]
                       for i, m in enumerate(ids)},
    }
