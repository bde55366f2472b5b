"""A few training steps on a real slice beat chance on held-out cells; checkpoints round-trip."""

import numpy as np
import pytest
import torch
from scipy import stats

from locus.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
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
FAST = TrainConfig(max_batch_models=8, max_context=256, target_size=64, epoch_episodes=400, max_epochs=3,
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
    cfg = FAST.model_copy(update={"max_epochs": 1, "epoch_episodes": 40})
    epochs = [Trainer(data, split, ModelShape(**SMALL), cfg).run_epoch() for _ in range(2)]
    assert epochs[0]["train_loss"] == epochs[1]["train_loss"]
    # the epoch reports the loss's parts, which add up to it
    assert epochs[0]["train_bce"] + epochs[0]["train_consistency"] == pytest.approx(epochs[0]["train_loss"])


def test_fit_store_writes_a_loadable_checkpoint(encoded_store):
    cfg = FAST.model_copy(update={"max_epochs": 1, "epoch_episodes": 40})
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
    cfg = FAST.model_copy(update={"max_epochs": 2, "epoch_episodes": 80, "ema_decay": 0.99})
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


def test_early_stopping_waits_until_the_pool_has_been_seen_enough(encoded_store):
    data = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    split = split_queries(data.query_ids, seed=0)
    # patience 1 and a learning rate too small to improve anything: stale from epoch 2 on; an
    # epoch draws each of the 29 models once (a step of up to 8 may overshoot): 4 epochs to reach 4
    cfg = FAST.model_copy(update={"max_epochs": 8, "epoch_episodes": 16, "patience": 1, "lr": 1e-9,
                                  "min_exposure": 4.0})
    trainer = Trainer(data, split, ModelShape(**SMALL), cfg)
    result = trainer.fit()
    assert len(result.history) >= 4  # not before 4 epochs' episodes, though stale earlier
    assert result.history[-1]["exposure"] >= cfg.min_exposure
    assert result.history[-1]["episodes"] == result.history[-1]["exposure"] * len(data.model_ids)


def test_wall_time_budget_ends_training_and_the_schedule_decays_within_it(encoded_store):
    data = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    split = split_queries(data.query_ids, seed=0)
    cfg = FAST.model_copy(update={"max_epochs": 1000, "epoch_episodes": 10**6, "max_minutes": 0.05,
                                  "warmup_steps": 1, "min_lr_ratio": 0.1})
    trainer = Trainer(data, split, ModelShape(**SMALL), cfg)
    assert trainer.learning_rate(0.0) == pytest.approx(cfg.lr)
    assert trainer.learning_rate(1.5) == pytest.approx(cfg.lr * 0.55)  # half the budget: cosine midpoint
    result = trainer.fit()
    assert len(result.history) == 1 and 3.0 <= result.history[0]["seconds"] < 3.0 + 30
    assert result.history[0]["lr"] == pytest.approx(cfg.lr * 0.1) and result.history[0]["eta_seconds"] == 0


def test_consistency_term_adds_to_the_loss_and_its_gradient_reaches_the_encoder(encoded_store):
    data = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    split = split_queries(data.query_ids, seed=0)
    cfg = FAST.model_copy(update={"consistency": 1.0})
    trainer = Trainer(data, split, ModelShape(**SMALL), cfg)
    episode = trainer.sampler.sample(64, 8)
    assert episode.context_index.shape[0] == 16  # two views of 8 models
    trainer.network.eval()  # no dropout: the two losses differ by the term alone
    parts, grads = [], []
    for weight in (1.0, 0.0):
        trainer.config = cfg.model_copy(update={"consistency": weight})
        trainer.model.zero_grad()
        losses = trainer.losses(episode)
        sum(losses.values()).backward()
        parts.append({k: v.item() for k, v in losses.items()})
        grads.append(torch.cat([p.grad.flatten() for p in trainer.model.pool.parameters()]))
    assert parts[0]["consistency"] > 0 and parts[1]["consistency"] == 0  # InfoNCE is positive
    assert parts[0]["bce"] == pytest.approx(parts[1]["bce"])  # and the BCE part does not depend on it
    assert not torch.allclose(grads[0], grads[1])  # it trains the pooling (stability: `locus bench stability`)


def test_query_coordinates_are_fitted_on_training_queries_and_travel_with_the_version(encoded_store):
    data = load_evaluation_set(encoded_store, DEFAULT_ENCODER)
    split = split_queries(data.query_ids, seed=0)
    trainer = Trainer(data, split, ModelShape(**SMALL, query_components=8), FAST)
    train_phi = torch.as_tensor(data.phi[split.train])
    assert torch.allclose(trainer.model.queries.mean, train_phi.mean(0), atol=1e-5)  # no test query used
    assert trainer.model.queries(train_phi).shape == (len(split.train), 8)

    cfg = FAST.model_copy(update={"max_epochs": 1, "epoch_episodes": 40})
    summary = train_version(encoded_store, TrainRun(encoder=DEFAULT_ENCODER, train=cfg,
                                                    model=SMALL | {"query_components": 8}))
    loaded = load_checkpoint(encoded_store, summary.version)
    assert loaded.meta.network.query_components == 8
    assert torch.equal(loaded.model.queries.basis, summary.result.model.queries.basis)
    assert loaded.model.queries.mean.abs().sum() > 0  # fitted, not the initial zeros

    older = loaded.meta.model_dump(by_alias=True)  # as a release before query coordinates saved it
    older["model_config"].pop("query_components")
    assert CheckpointMeta.model_validate(older).network.query_components == 0


def test_versions_saved_before_refinement_embed_by_the_forward_pass_alone(encoded_store):
    cfg = FAST.model_copy(update={"max_epochs": 1, "epoch_episodes": 40})
    summary = train_version(encoded_store, TrainRun(encoder=DEFAULT_ENCODER, train=cfg, model=SMALL))
    meta = load_checkpoint(encoded_store, summary.version).meta
    assert meta.network.refine_steps == ModelShape().refine_steps > 0  # saved with the version
    older = meta.model_dump(by_alias=True)  # as a release before refinement saved it
    for key in ("refine_steps", "refine_lr", "refine_prior"):
        older["model_config"].pop(key)
    assert CheckpointMeta.model_validate(older).network.refine_steps == 0
