"""Matplotlib figures for the benchmarks (headless Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from locus.report.figures import pyplot


def line_panels(path: Path, x: list[float], panels: dict[str, dict[str, list[float]]], *, xlabel: str,
                title: str, logx: bool = False, spread: dict[str, dict[str, list[float]]] | None = None) -> Path:
    """One panel per metric, one line per series: panels = {metric: {series: values}}; `spread`
    (same shape) shades +- one standard deviation around each line."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (metric, series) in zip(axes[0], panels.items(), strict=True):
        for name, values in series.items():
            ax.plot(x, values, marker="o", label=name)
            if spread and name in spread.get(metric, {}):
                low, high = (np.asarray(values) + sign * np.asarray(spread[metric][name]) for sign in (-1, 1))
                ax.fill_between(x, low, high, alpha=0.2)
        if logx:
            ax.set_xscale("log", base=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
