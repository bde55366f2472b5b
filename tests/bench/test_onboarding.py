"""`locus bench onboarding` on the real slice: every strategy and budget measured, JSON and plot."""

from __future__ import annotations

import json

from locus.bench.onboarding import onboarding_benchmark
from locus.onboarding import STRATEGIES
from locus.training import TrainConfig
from tests.conftest import QUICK_TRAIN


def test_onboarding_benchmark_measures_every_strategy(encoded_store, tmp_path):
    results = onboarding_benchmark(encoded_store, tmp_path, encoder="all-MiniLM-L6-v2", holdout=3,
                                   budgets=(16, 32), seeds=(0, 1), config=TrainConfig(**QUICK_TRAIN),
                                   log=lambda _: None)
    assert len(results["held_out"]) == 3
    for strategy in STRATEGIES:
        curve = results["strategies"][strategy]
        assert len(curve["mean"]) == 2 and all(0.4 < v <= 1 for v in curve["mean"])
        assert len(curve["per_seed"]) == 2
    assert set(results["evaluations_to_match_random"]) == set(STRATEGIES) - {"random"}
    assert json.loads((tmp_path / "onboarding.json").read_text())["budgets"] == [16, 32]
    assert (tmp_path / "onboarding.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
