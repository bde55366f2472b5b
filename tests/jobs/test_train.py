"""Ray Train for real (local cluster, CPU workers, gloo): registration, agreement with `locus fit`,
resume after a lost worker, and the checks that run before any worker starts."""

from __future__ import annotations

import numpy as np
import pytest
from locus.jobs.train import TrainJobConfig, run_training
from typer.testing import CliRunner

from locus.checkpoint import list_checkpoints, load_checkpoint
from locus.cli import app
from locus.errors import LocusDataError
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version
from tests.jobs.conftest import heldout_predictions as predictions

pytestmark = pytest.mark.slow  # starts Ray (and vLLM, Serve or a training run)

TRAIN = TrainConfig(max_batch_models=8, max_context=256, target_size=64, epoch_episodes=120, max_epochs=4, patience=10,
                    warmup_steps=10)
MODEL = {"dim": 32, "num_latents": 8}


def _job(store, workers: int) -> TrainJobConfig:
    return TrainJobConfig(root=str(store.uri), train=TRAIN, model=MODEL, scaling={"workers": workers},
                          max_failures=1)


def test_one_worker_reproduces_fit_and_registers_a_version(encoded_store):
    local = train_version(encoded_store, TrainRun(encoder="all-MiniLM-L6-v2", train=TRAIN, model=MODEL))
    result = run_training(_job(encoded_store, workers=1))
    meta = load_checkpoint(encoded_store, result.version).meta
    assert meta.encoder == "all-MiniLM-L6-v2"
    assert meta.snapshot.models == encoded_store.model_ids()
    local_meta = load_checkpoint(encoded_store, local.version).meta
    assert meta.snapshot.n_train_evaluations == local_meta.snapshot.n_train_evaluations
    assert [h["epoch"] for h in meta.metrics.history] == [1, 2, 3, 4]
    # same loop, same seeds, one worker: the same network up to float summation order (measured 0 to 1e-6)
    gap = np.abs(predictions(encoded_store, result.version) - predictions(encoded_store, local.version)).max()
    assert gap < 1e-4
    assert {e.version for e in list_checkpoints(encoded_store)} == {local.version, result.version}


def test_two_workers_resume_after_a_lost_worker(encoded_store, tmp_path, monkeypatch):
    clean = run_training(_job(encoded_store, workers=2))
    single = train_version(encoded_store, TrainRun(encoder="all-MiniLM-L6-v2", train=TRAIN, model=MODEL))
    reseeded = train_version(encoded_store, TrainRun(encoder="all-MiniLM-L6-v2",
                                                     train=TRAIN.model_copy(update={"seed": 1}), model=MODEL))
    # two workers draw their own episodes: a different network, as far from the one-process run
    # as another seed is (measured: mean |dp| 0.052 vs 0.05-0.07 between seeds; same test quality)
    p_single = predictions(encoded_store, single.version)
    seed_gap = np.abs(predictions(encoded_store, reseeded.version) - p_single).mean()
    worker_gap = np.abs(predictions(encoded_store, clean.version) - p_single).mean()
    assert worker_gap < 1.5 * seed_gap + 0.01, (worker_gap, seed_gap)
    assert abs(clean.meta.metrics.test["correctness_acc"] - single.meta.metrics.test["correctness_acc"]) < 0.03

    marker = tmp_path / "killed"
    monkeypatch.setenv("LOCUS_FAIL_AFTER_EPOCH", "2")
    monkeypatch.setenv("LOCUS_FAIL_MARKER", str(marker))
    resumed = run_training(_job(encoded_store, workers=2))
    assert marker.exists(), "the fault hook never fired"
    epochs = [h["epoch"] for h in resumed.meta.metrics.history]
    assert epochs == [1, 2, 3, 4]  # complete, none repeated
    # epochs 3-4 ran on restarted workers from the epoch-2 checkpoint; seeded per epoch, they
    # reproduce the uninterrupted run
    gap = np.abs(predictions(encoded_store, resumed.version) - predictions(encoded_store, clean.version)).max()
    assert gap < 1e-4

    listing = CliRunner().invoke(app, ["runs", "--root", str(encoded_store.uri)])
    assert listing.exit_code == 0, listing.output
    assert resumed.version in listing.output and clean.version in listing.output


def test_empty_store_fails_before_workers_start(store):
    with pytest.raises(LocusDataError, match="no evaluations"):
        run_training(_job(store, workers=2))


def test_store_without_query_embeddings_fails_clearly(encoded_store):
    encoded_store.fs.delete_dir(encoded_store.path("query_embeddings"))
    with pytest.raises(LocusDataError, match="no query embeddings.*locus encode"):
        run_training(_job(encoded_store, workers=2))


def test_unwritable_run_location_fails_clearly(encoded_store):
    encoded_store.write_bytes(b"a file where the runs folder should be", "runs")
    with pytest.raises(LocusDataError, match="cannot write runs"):
        run_training(_job(encoded_store, workers=2))


def test_train_command_reads_a_yaml_config_and_flags_override_it(tmp_path, store):
    config = tmp_path / "train.yaml"
    config.write_text(f"root: {store.uri}\nscaling:\n  workers: 3\ntrain:\n  max_epochs: 2\n")
    result = CliRunner().invoke(app, ["train", "--config", str(config), "--workers", "1"])
    assert result.exit_code == 2
    assert "no evaluations" in result.output  # validated, merged, and stopped before Ray started
    bad = CliRunner().invoke(app, ["train", "--root", str(store.uri), "--monitor", "accuracy"])
    assert bad.exit_code == 2 and "monitor" in bad.output
