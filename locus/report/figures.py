"""The report's PNG figures (headless matplotlib)."""

from __future__ import annotations

from pathlib import Path

import numpy as np  # noqa: E402
from scipy.cluster.hierarchy import leaves_list, linkage  # noqa: E402
from scipy.spatial.distance import squareform  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402


def pyplot():
    """matplotlib's pyplot, headless, imported when a figure is drawn (the core does not need it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = pyplot()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _family_styles(families: list[str]) -> dict[str, tuple]:
    """A colour and marker per family: ten distinct hues first, then the same hues with other markers."""
    plt = pyplot()
    hues = plt.get_cmap("tab10")
    return {f: (hues(i % 10), "os^D"[i // 10 % 4]) for i, f in enumerate(sorted(set(families)))}


def _place_labels(ax, xy: np.ndarray, labels: list[str]) -> None:
    """Each label at the first of several offsets around its point where it overlaps no label placed
    before it (nor a point), so that no model hides under another's name."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    points = ax.transData.transform(xy)
    taken: list = []
    offsets = [(5, 4), (5, -11), (-8, 4), (-8, -11), (5, 14), (5, -21), (-8, 14), (-8, -21), (14, -4), (-16, -4),
               (5, 24), (5, -31)]
    for (x, y), label, (px, py) in zip(xy, labels, points, strict=True):
        best = None
        for dx, dy in offsets:
            ha = "left" if dx >= 0 else "right"
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=7, ha=ha)
            box = text.get_window_extent(renderer).expanded(1.05, 1.15)
            clash = any(box.overlaps(t) for t in taken) or any(
                box.contains(qx, qy) for qx, qy in points if (qx, qy) != (px, py))
            if not clash:
                best = (text, box)
                break
            text.remove()
        if best is None:  # crowded: the first offset, with a leader line
            text = ax.annotate(label, (x, y), xytext=offsets[len(taken) % len(offsets)], textcoords="offset points",
                               fontsize=7, arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5})
            best = (text, text.get_window_extent(renderer))
        taken.append(best[1])


def embedding_map(path: Path, z: np.ndarray, names: list[str], families: list[str]) -> list[float]:
    """Model embeddings projected to 2-D by PCA, coloured by family, every point labelled where no
    other label covers it; returns the variance each axis explains."""
    plt = pyplot()
    pca = PCA(n_components=2, random_state=0).fit(z)
    xy = pca.transform(z)
    explained = [float(v) for v in pca.explained_variance_ratio_]
    fig, ax = plt.subplots(figsize=(10, 7.5))
    styles = _family_styles(families)
    for family, (colour, marker) in styles.items():
        pick = [j for j, f in enumerate(families) if f == family]
        ax.scatter(xy[pick, 0], xy[pick, 1], color=colour, marker=marker, label=family, s=55, edgecolor="white",
                   linewidth=0.5, zorder=3)
    _place_labels(ax, xy, names)
    ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of the variance)")
    ax.set_ylabel(f"PC 2 ({explained[1]:.0%} of the variance)")
    ax.set_title("model embeddings (PCA): models close together answer alike")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), title="family", title_fontsize=8)
    ax.margins(0.12)
    ax.grid(alpha=0.2)
    _save(fig, path)
    return explained


def distance_heatmap(path: Path, distance: np.ndarray, names: list[str]) -> Path:
    """Pairwise embedding distances, rows and columns ordered by average-linkage clustering."""
    plt = pyplot()
    order = leaves_list(linkage(squareform(distance, checks=False), method="average")) if len(names) > 2 \
        else np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 8))
    image = ax.imshow(distance[np.ix_(order, order)], cmap="viridis")
    ax.set_xticks(range(len(names)), [names[i] for i in order], rotation=90, fontsize=6)
    ax.set_yticks(range(len(names)), [names[i] for i in order], fontsize=6)
    fig.colorbar(image, ax=ax, label="embedding distance")
    ax.set_title("distances between model embeddings (clustered)")
    return _save(fig, path)


def accuracy_curves(path: Path, curves: dict, baselines: dict[str, dict[str, float]]) -> Path:
    """LOCUS with every model embedded from n random training evaluations (line: mean over draws, band:
    +-1 std), against the baselines fitted on all training evaluations (horizontal lines)."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    lines = {"correctness_acc": ("mf", "irt", "knn"), "routing_acc": ("mf", "irt", "knn", "single_best", "oracle")}
    colours = {"mf": "tab:orange", "irt": "tab:green", "knn": "tab:purple", "single_best": "tab:red",
               "oracle": "0.4"}
    for ax, metric in zip(axes, ("correctness_acc", "routing_acc"), strict=True):
        mean, std = np.array(curves[metric]["mean"]), np.array(curves[metric]["std"])
        ax.plot(curves["sizes"], mean, marker="o", color="tab:blue", label="LOCUS (no retraining)")
        ax.fill_between(curves["sizes"], mean - std, mean + std, color="tab:blue", alpha=0.2,
                        label="LOCUS +-1 std over draws")
        for method in lines[metric]:
            if method in baselines:
                ax.axhline(baselines[method][metric], color=colours[method], linestyle="--", linewidth=1,
                           label=f"{method} (all training evaluations)")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("evaluations per model (random draw)")
        ax.set_ylabel(metric.replace("_acc", " accuracy").replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("test accuracy vs the evaluations each model is embedded from")
    return _save(fig, path)


def training_curves(path: Path, history: list[dict[str, float]], best_epoch: int | None) -> Path:
    """Training and validation BCE per epoch, validation routing and correctness, the kept epoch marked.
    The training curve is the BCE part of the training loss (without the consistency term, so it
    compares with the validation loss); versions trained before the parts were logged show the total."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    epochs = [h["epoch"] for h in history]
    axes[0].plot(epochs, [h.get("train_bce", h["train_loss"]) for h in history], marker="o", label="training loss")
    axes[0].plot(epochs, [h["val_loss"] for h in history], marker="o", label="validation loss")
    axes[0].set_ylabel("binary cross-entropy")
    axes[1].plot(epochs, [h["routing_acc"] for h in history], marker="o", label="validation routing accuracy")
    axes[1].plot(epochs, [h["correctness_acc"] for h in history], marker="o",
                 label="validation correctness accuracy")
    for ax in axes:
        if best_epoch is not None:
            ax.axvline(best_epoch, color="0.5", linestyle=":", label=f"kept: epoch {best_epoch}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("training")
    return _save(fig, path)


def portfolio_plot(path: Path, curve: dict, methods: tuple[str, ...]) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    styles = ({"marker": "o", "markersize": 9, "linewidth": 3, "alpha": 0.6}, {"marker": "s", "linestyle": "--"},
              {"marker": "^", "linestyle": ":"})
    for method, style in zip(methods, styles * len(methods), strict=False):  # equal curves stay visible
        ax.plot(curve["k"], curve[method], label=method, **style)
    mean, std = np.array(curve["random_mean"]), np.array(curve["random_std"])
    ax.plot(curve["k"], mean, linestyle="--", color="grey", label="random (mean +- std)")
    ax.fill_between(curve["k"], mean - std, mean + std, color="grey", alpha=0.2)
    ax.set_xlabel("portfolio size k")
    ax.set_ylabel("test routing accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("routing within a portfolio of k models")
    return _save(fig, path)
