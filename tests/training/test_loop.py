"""A few training steps on a real slice beat chance on held-out cells; checkpoints round-trip."""

import numpy as np
import pytest
import torch
from scipy import stats

from locus.checkpoint import load_checkpoint, save_checkpoint
from locus.data import load_evaluation_set, split_queries
from locus.embedding import predict_matrix
from locus.encoders import DEFAULT_ENCODER
from locus.errors import LocusDataError
from locus.model import ModelShape
from locus.training import TrainConfig, TrainRun
from locus.training.loop import Trainer
from locus.training.run import train_version
from tests.conftest import unrun_meta

SMALL = {"dim": 64, "num_latents": 16}
FAST = TrainConfig(batch_models=8, max_context=256, target_size=64, steps_per_epoch=50, max_epochs=3,
                   patience=3, warmup_steps=10)


def test_few_steps_beat_chance_on_held_out_queries(encoded_store):
    data = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    split = split_queries(data.query_ids, seed=0)
    trainer = Trainer(data, split, ModelShape(**SMALL), FAST)
    test_scores = data.dense(split.test)
    before = trainer.evaluate(split.test, test_scores)
    result = trainer.fit()
    after = trainer.evaluate(split.test, test_scores)
    # held-out queries, embeddings built from training evaluations only; chance is AUC 0.5
    assert after["auc"] > 0.6
    assert after["log_loss"] < before["log_loss"]
    # the embeddings carry each model's ability: predicted and measured accuracy rank alike
    predicted = predict_matrix(trainer.model, trainer.embed_train(), data.phi[split.test]).mean(axis=1)
    assert stats.spearmanr(predicted, np.nanmean(data.dense(split.train), axis=1))[0] > 0.9
    assert [h["epoch"] for h in result.history] == list(range(1, len(result.history) + 1))


def test_training_is_reproducible_with_a_seed(encoded_store):
    data = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    split = split_queries(data.query_ids, seed=0)
    cfg = FAST.model_copy(update={"max_epochs": 1, "steps_per_epoch": 5})
    losses = []
    for _ in range(2):
        trainer = Trainer(data, split, ModelShape(**SMALL), cfg)
        losses.append([trainer.step() for _ in range(5)])
    assert losses[0] == losses[1]


def test_fit_store_writes_a_loadable_checkpoint(encoded_store):
    cfg = FAST.model_copy(update={"max_epochs": 1, "steps_per_epoch": 5})
    summary = train_version(encoded_store, TrainRun(encoder=DEFAULT_ENCODER, train=cfg, model=SMALL))
    loaded = load_checkpoint(encoded_store, "latest", encoder=DEFAULT_ENCODER)
    assert loaded.version == summary.version
    assert len(loaded.meta.snapshot.models) == 29
    assert loaded.meta.snapshot.n_queries == 600
    assert set(summary.meta.metrics.test) >= {"routing_acc", "hit3", "correctness_acc", "single_best", "oracle"}
    assert loaded.routing == summary.result.routing  # the routing calibration travels with the version


def test_checkpoint_from_another_encoder_or_corrupt_is_refused(encoded_store):
    data = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    trainer = Trainer(data, split_queries(data.query_ids), ModelShape(**SMALL), FAST)
    version = save_checkpoint(encoded_store, trainer.model, encoder="all-mpnet-base-v2",
                              **unrun_meta())
    with pytest.raises(LocusDataError, match="trained on query encoder 'all-mpnet-base-v2'"):
        load_checkpoint(encoded_store, version, encoder=DEFAULT_ENCODER)
    encoded_store.write_bytes(b"not a torch file", "checkpoints", version, "model.pt")
    with pytest.raises(LocusDataError, match="corrupt"):
        load_checkpoint(encoded_store, version)


def test_store_without_query_embeddings_is_refused(store):
    from tests.conftest import sample_slice

    queries, evaluations = sample_slice(20)
    store.write_queries(queries)
    store.write_evaluations(evaluations)
    with pytest.raises(LocusDataError, match="no query embeddings .* run `locus encode"):
        load_evaluation_set(store, DEFAULT_ENCODER)
    with pytest.raises(LocusDataError, match="no evaluations"):
        load_evaluation_set(store, DEFAULT_ENCODER, scorer="nonexistent")


def test_moving_average_is_validated_kept_and_resumed(encoded_store):
    data = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    split = split_queries(data.query_ids, seed=0)
    cfg = FAST.model_copy(update={"max_epochs": 2, "steps_per_epoch": 10, "ema_decay": 0.99})
    trainer = Trainer(data, split, ModelShape(**SMALL), cfg)
    trainer.run_epoch()
    raw, averaged = trainer.model.state_dict(), trainer.evaluated.state_dict()
    assert trainer.evaluated is not trainer.model
    assert any(not torch.equal(raw[k], averaged[k]) for k in raw)
    assert all(torch.equal(trainer.best_state[k], averaged[k]) for k in raw)  # epoch 1 is the best so far
    resumed = Trainer(data, split, ModelShape(**SMALL), cfg)
    resumed.load_state_dict(trainer.state_dict())
    assert all(torch.equal(resumed.evaluated.state_dict()[k], averaged[k]) for k in raw)
    result = trainer.fit()
    assert all(torch.equal(result.model.state_dict()[k], trainer.best_state[k]) for k in raw)
    assert result.routing.reference and set(result.routing.reference) <= {data.query_ids[q] for q in split.validation}
