"""The quality benchmark runs every method on one split and reports what the issue specifies."""

import json

import pytest
from typer.testing import CliRunner

from locus.bench.quality import run_quality_benchmark
from locus.cli import app
from locus.encoders import DEFAULT_ENCODER
from locus.training import TrainConfig

TINY = TrainConfig(max_batch_models=8, max_context=64, target_size=32, epoch_episodes=80, max_epochs=2, warmup_steps=5)


def test_locus_and_baselines_with_holdout(encoded_store):
    results = run_quality_benchmark(encoded_store, encoder=DEFAULT_ENCODER, budgets=[64], seed=0,
                                    methods=("locus", "knn", "single_best", "random", "oracle"),
                                    holdout_models=3, config=TINY, log=lambda _: None)
    for method in ("locus", "knn", "single_best", "random", "oracle"):
        row = results[method]["64"]
        trained = {"epochs", "best_epoch", "episodes_per_model"} if method == "locus" else set()
        assert set(row) == {"routing_acc", "hit3", "correctness_acc", "auc", "seconds"} | trained
        assert 0 <= row["routing_acc"] <= row["hit3"] <= results["oracle"]["64"]["routing_acc"] + 1e-9
    locus = results["locus"]["64"]  # how much training it had: every epoch draws every model once at least
    assert 1 <= locus["best_epoch"] <= locus["epochs"] == 2 and locus["episodes_per_model"] >= 2
    assert results["split"] == {"train": 480, "validation": 60, "test": 60, "test_cells": 1739, "models": 29,
                                "seed": 0}
    held = results["holdout"]["64"]
    assert len(held["models"]) == 3
    assert 0.3 < held["holdout_correctness_acc"] <= 1 and 0.3 < held["in_pool_correctness_acc"] <= 1


def test_cli_writes_json_and_rejects_unknown_methods(encoded_store, tmp_path):
    out = tmp_path / "quality.json"
    runner = CliRunner()
    args = ["bench", "quality", "--root", encoded_store.uri, "--budgets", "32,all", "--out", str(out)]
    result = runner.invoke(app, [*args, "--methods", "knn,single_best,random,oracle"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["knn"]) == {"32", "all"}
    assert data["oracle"]["all"]["routing_acc"] == pytest.approx(data["oracle"]["32"]["routing_acc"])
    result = runner.invoke(app, [*args, "--methods", "knn,gpt4"])
    assert result.exit_code == 2 and "unknown method(s) gpt4" in result.output
