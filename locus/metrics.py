"""Every quality metric LOCUS reports, defined once. `scores` are [models, queries] with
NaN for unobserved cells; `probs` are predicted p(correct) of the same shape."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score


def _observed_probs(probs: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Predictions with unobserved cells pushed below every real prediction."""
    return np.where(np.isnan(scores), -np.inf, probs)


def routing_accuracy(probs: np.ndarray, scores: np.ndarray) -> float:
    """Mean over ALL queries of the score of the model with the highest p(correct) among those
    observed on the query; queries no model solves count as misses."""
    return hit_at_k(probs, scores, 1)


def hit_at_k(probs: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Mean over queries of the best score among the k models ranked highest by p(correct)."""
    ranked = np.argsort(-_observed_probs(probs, scores), axis=0, kind="stable")[:k]
    picked = np.take_along_axis(np.nan_to_num(scores, nan=0.0), ranked, axis=0)
    return float(picked.max(axis=0).mean())


def correctness_accuracy(probs: np.ndarray, scores: np.ndarray) -> float:
    """Agreement of (p >= 0.5) with (score >= 0.5) over every observed cell."""
    seen = ~np.isnan(scores)
    return float(((probs[seen] >= 0.5) == (scores[seen] >= 0.5)).mean())


def log_loss(probs: np.ndarray, scores: np.ndarray, eps: float = 1e-7) -> float:
    """Binary cross-entropy over observed cells (continuous scores act as soft labels)."""
    seen = ~np.isnan(scores)
    p, y = np.clip(probs[seen], eps, 1 - eps), scores[seen]
    return float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())


def roc_auc(probs: np.ndarray, scores: np.ndarray) -> float:
    seen = ~np.isnan(scores)
    labels = scores[seen] >= 0.5
    return float(roc_auc_score(labels, probs[seen])) if 0 < labels.sum() < labels.size else float("nan")


def oracle_accuracy(scores: np.ndarray) -> float:
    """Routing accuracy of an oracle that always picks a model that is right, if any."""
    return float(np.nan_to_num(scores, nan=0.0).max(axis=0).mean())


def single_best_accuracy(train_scores: np.ndarray, test_scores: np.ndarray) -> float:
    """Route everything to the model with the best mean score on the train queries."""
    best = int(np.nanargmax(np.nanmean(train_scores, axis=1)))
    return float(np.nan_to_num(test_scores[best], nan=0.0).mean())


def disagreement_matrix(scores: np.ndarray, min_shared: int = 1) -> np.ndarray:
    """Mean over shared queries of y_a + y_b - 2 y_a y_b: |y_a - y_b| for 0/1 scores, the chance two
    draws disagree for soft scores. NaN for pairs sharing fewer than `min_shared` queries."""
    seen = (~np.isnan(scores)).astype(np.float64)
    y = np.nan_to_num(scores, nan=0.0).astype(np.float64)
    shared = seen @ seen.T
    diff = (y * seen) @ seen.T + seen @ (y * seen).T - 2 * (y @ y.T)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = diff / shared
    out[shared < min_shared] = np.nan
    return out


def predicted_disagreement(probs: np.ndarray) -> np.ndarray:
    """Mean over queries of p_a (1 - p_b) + p_b (1 - p_a), the predicted chance that exactly one of a
    pair is right. probs: [models, queries]."""
    p = probs.astype(np.float64)
    return (p @ (1 - p).T + (1 - p) @ p.T) / p.shape[1]


def distance_matrix(embeddings: np.ndarray) -> np.ndarray:
    diff = embeddings[:, None, :] - embeddings[None, :, :]
    return np.sqrt((diff ** 2).sum(-1))


def pair_correlation(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman correlation of two symmetric [n, n] matrices over the pairs a < b
    (pairs where either is NaN are left out)."""
    iu = np.triu_indices(len(x), k=1)
    a, b = x[iu], y[iu]
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 3:
        return {"pearson": float("nan"), "spearman": float("nan")}
    return {"pearson": float(stats.pearsonr(a[ok], b[ok])[0]), "spearman": float(stats.spearmanr(a[ok], b[ok])[0])}


def distance_disagreement_correlation(embeddings: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Correlation of embedding distance with measured disagreement over model pairs."""
    return pair_correlation(distance_matrix(embeddings), disagreement_matrix(scores))


def nearest_neighbour_agreement(embeddings: np.ndarray, scores: np.ndarray) -> float:
    """Mean agreement (1 - disagreement) of each model with its nearest neighbour in embedding space."""
    dist = distance_matrix(embeddings)
    np.fill_diagonal(dist, np.inf)
    nn = dist.argmin(axis=1)
    dis = disagreement_matrix(scores)
    return float(np.nanmean(1 - dis[np.arange(len(nn)), nn]))


def quality_report(probs: np.ndarray, scores: np.ndarray, route: np.ndarray | None = None) -> dict[str, float]:
    """The standard bundle printed by fit and every benchmark; routing ranks models by `route`
    (calibrated routing scores, same shape) where given, else by p(correct)."""
    route = probs if route is None else route
    return {
        "routing_acc": routing_accuracy(route, scores),
        "hit3": hit_at_k(route, scores, 3),
        "correctness_acc": correctness_accuracy(probs, scores),
        "auc": roc_auc(probs, scores),
        "log_loss": log_loss(probs, scores),
        "oracle": oracle_accuracy(scores),
    }
