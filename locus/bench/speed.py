"""`locus bench speed`: embedding throughput in models/s, next to the FLOPs of one embedding (forward
pass and refinement, counted by torch's FlopCounterMode) and the float32 matmul FLOP/s measured on the
same device."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from locus.embedding import embed_models
from locus.model import ModelConfig
from locus.model.locus import Locus

CASES = ((1000, 1024), (29, 9600))
QUERY_POOL = 12032


def cpu_name() -> str:
    """The processor's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_flops_per_second(device: str, size: int = 2048, repeats: int = 10) -> float:
    """Float32 matmul throughput: the machine's practical ceiling for this workload."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    (a @ b).sum().item()
    start = time.perf_counter()
    for _ in range(repeats):
        c = a @ b
    c.sum().item()
    return 2 * size**3 * repeats / (time.perf_counter() - start)


def forward_flops(model: Locus, n: int, device: str) -> float:
    """FLOPs to embed one model from n evaluations, tokenizer projections excluded (shared).

    Counted with autograd enabled: FlopCounterMode's module tracker fails under no_grad."""
    projected = torch.randn(1, n, 2, model.config.dim, device=device)
    features = torch.randn(1, n, model.config.dim, device=device)
    scores = torch.ones(1, n, device=device)
    mask = torch.ones(1, n, dtype=torch.bool, device=device)
    with FlopCounterMode(display=False) as counter:
        model.embed_projected(projected, features, scores, mask)
    return float(counter.get_total_flops())


def _evaluation_sets(models: int, n: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    index = [rng.choice(QUERY_POOL, size=n, replace=False) for _ in range(models)]
    return index, [rng.integers(0, 2, size=n).astype(np.float32) for _ in range(models)]


def _table(results: dict) -> Table:
    table = Table(title=f"embedding speed on {results['device']} ({results['threads']} threads; float32 matmul "
                        f"{results['matmul_flops_per_s'] / 1e9:.0f} GFLOP/s)")
    for column in ("models", "evaluations", "seconds", "models/s", "GFLOP/model", "GFLOP/s", "of matmul"):
        table.add_column(column, justify="right")
    for c in results["cases"]:
        table.add_row(str(c["models"]), str(c["evaluations"]), f"{c['seconds']:.2f}", f"{c['models_per_s']:.1f}",
                      f"{c['gflop_per_model']:.2f}", f"{c['achieved_flops_per_s'] / 1e9:.1f}",
                      f"{100 * c['fraction_of_matmul']:.0f}%")
    return table


def run_speed_benchmark(*, out: Path | None = None, repeats: int = 3, device: str | None = None,
                        config: ModelConfig | None = None, console=None) -> dict:
    """Time embed_models on the standard cases and report models/s and fraction of peak."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    model = Locus(config or ModelConfig()).to(device).eval()
    phi = torch.randn(QUERY_POOL, model.config.query_dim, device=device)
    peak = matmul_flops_per_second(device)
    results = {"device": torch.cuda.get_device_name() if device == "cuda" else cpu_name(),
               "threads": torch.get_num_threads(), "matmul_flops_per_s": peak, "cases": []}
    for models, n in CASES:
        index, scores = _evaluation_sets(models, n)
        flops = forward_flops(model, n, device)
        embed_models(model, phi, index[:2], scores[:2])  # warm-up
        times = []
        for _ in range(repeats):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            embed_models(model, phi, index, scores)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        seconds = float(np.median(times))
        achieved = flops * models / seconds
        case = {"models": models, "evaluations": n, "seconds": seconds, "models_per_s": models / seconds,
                "gflop_per_model": flops / 1e9, "achieved_flops_per_s": achieved, "fraction_of_matmul": achieved / peak}
        results["cases"].append(case)
    if console is not None:
        console.print(_table(results))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
    return results
