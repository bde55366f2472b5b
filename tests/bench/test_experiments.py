"""The paper's experiments run end to end on the sample slice and write JSON and PNG."""

import json

import numpy as np
import pytest

from locus.bench.experiments import (
    evaluations_to_match,
    latent_count,
    mutual_nearest,
    query_overlap,
    sample_efficiency,
    stability,
)
from locus.encoders import DEFAULT_ENCODER
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version

TINY = TrainConfig(max_batch_models=8, max_context=64, target_size=32, epoch_episodes=80, max_epochs=2, warmup_steps=5)
PNG = b"\x89PNG\r\n\x1a\n"


def _outputs(out_dir, name):
    assert (out_dir / f"{name}.png").read_bytes().startswith(PNG)
    return json.loads((out_dir / f"{name}.json").read_text())


def test_evaluations_to_match_interpolates_on_log_scale():
    assert evaluations_to_match([32, 128], [0.6, 0.7], 0.65) == pytest.approx(64)
    assert evaluations_to_match([32, 128], [0.6, 0.7], 0.55) == 32
    assert evaluations_to_match([32, 128], [0.6, 0.7], 0.9) is None


def test_sample_efficiency(encoded_store, tmp_path):
    results = sample_efficiency(encoded_store, tmp_path, encoder=DEFAULT_ENCODER, budgets=[16, 64, 100_000],
                                methods=("locus", "irt"), config=TINY, log=lambda _: None)
    assert results["budgets"] == [16, 64]  # budgets beyond the data are dropped
    assert _outputs(tmp_path, "sample_efficiency")["methods"].keys() == {"locus", "irt"}
    assert set(results["factor_to_match_locus"]["irt"]) == {"16", "64"}


def test_query_overlap_and_stability_from_a_checkpoint(encoded_store, tmp_path):
    train_version(encoded_store, TrainRun(encoder=DEFAULT_ENCODER, train=TINY, model={"dim": 32, "num_latents": 8}))
    overlap = query_overlap(encoded_store, tmp_path, size=64, fractions=(0.0, 1.0), log=lambda _: None)
    assert [r["overlap"] for r in _outputs(tmp_path, "query_overlap")["rows"]] == [0.0, 1.0]
    assert 0 <= overlap["correctness_spread"] < 0.2
    stable = stability(encoded_store, tmp_path, sizes=(16, 128), log=lambda _: None)
    rows = _outputs(tmp_path, "stability")["rows"]
    assert [r["size"] for r in rows] == [16, 128]
    assert all(0 <= r["fraction_stable"] <= 1 for r in stable["rows"])
    # larger evaluation sets give closer repeat embeddings
    assert rows[1]["mean_self_distance"] < rows[0]["mean_self_distance"]
    assert all(set(r["references"]) == {"success rate", "kNN profile"} for r in rows)


def test_mutual_nearest_counts_models_whose_two_representations_find_each_other():
    first = np.array([[0.0], [1.0], [2.0], [10.0]])
    assert mutual_nearest(first, first + 0.1) == 1.0
    # model 2's second representation lands next to model 3's: both lose, 0 and 1 keep theirs
    second = np.array([[0.1], [1.1], [10.05], [10.1]])
    assert mutual_nearest(first, second) == 0.5


def test_latent_count(encoded_store, tmp_path):
    results = latent_count(encoded_store, tmp_path, encoder=DEFAULT_ENCODER, counts=(4, 8), config=TINY,
                           log=lambda _: None)
    assert [r["num_latents"] for r in _outputs(tmp_path, "latent_count")["rows"]] == [4, 8]
    assert all(r["embed_seconds"] > 0 and 0 < r["routing_acc"] <= 1 for r in results["rows"])
