"""The report's PNG figures (headless matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.cluster.hierarchy import leaves_list, linkage  # noqa: E402
from scipy.spatial.distance import squareform  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def embedding_map(path: Path, z: np.ndarray, names: list[str], families: list[str]) -> Path:
    """Model embeddings projected to 2-D by PCA, coloured by family and labelled."""
    xy = PCA(n_components=2, random_state=0).fit_transform(z) if len(z) > 2 else np.c_[z[:, :1], z[:, 1:2]]
    fig, ax = plt.subplots(figsize=(9, 7))
    palette = plt.get_cmap("tab20")
    for i, family in enumerate(sorted(set(families))):
        pick = [j for j, f in enumerate(families) if f == family]
        ax.scatter(xy[pick, 0], xy[pick, 1], color=palette(i % 20), label=family, s=50)
    for (x, y), name in zip(xy, names, strict=True):
        ax.annotate(name, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("model embeddings (PCA)")
    ax.legend(fontsize=7, loc="best", ncol=2)
    return _save(fig, path)


def distance_heatmap(path: Path, distance: np.ndarray, names: list[str]) -> Path:
    """Pairwise embedding distances, rows and columns ordered by average-linkage clustering."""
    order = leaves_list(linkage(squareform(distance, checks=False), method="average")) if len(names) > 2 \
        else np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 8))
    image = ax.imshow(distance[np.ix_(order, order)], cmap="viridis")
    ax.set_xticks(range(len(names)), [names[i] for i in order], rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), [names[i] for i in order], fontsize=6)
    fig.colorbar(image, ax=ax, label="embedding distance")
    ax.set_title("distances between model embeddings (clustered)")
    return _save(fig, path)


def accuracy_curves(path: Path, curves: dict) -> Path:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("correctness_acc", "routing_acc"), strict=True):
        mean, std = np.array(curves[metric]["mean"]), np.array(curves[metric]["std"])
        ax.plot(curves["sizes"], mean, marker="o")
        ax.fill_between(curves["sizes"], mean - std, mean + std, alpha=0.2)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("evaluations per model (random)")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
    fig.suptitle("test accuracy vs evaluations per model")
    return _save(fig, path)


def portfolio_plot(path: Path, curve: dict, methods: tuple[str, ...]) -> Path:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for method in methods:
        ax.plot(curve["k"], curve[method], marker="o", label=method)
    mean, std = np.array(curve["random_mean"]), np.array(curve["random_std"])
    ax.plot(curve["k"], mean, linestyle="--", color="grey", label="random (mean +- std)")
    ax.fill_between(curve["k"], mean - std, mean + std, color="grey", alpha=0.2)
    ax.set_xlabel("portfolio size k")
    ax.set_ylabel("test routing accuracy")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("routing within a portfolio")
    return _save(fig, path)
