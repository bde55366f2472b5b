"""Judge-style scores in [0, 1] train, embed and route end to end, and the values themselves (not
their rounding) reach the encoder and shape the predictor."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from locus.data import load_evaluation_set
from locus.embedding import embed_models, embed_store
from locus.routing import ModelPool
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version

ENCODER = "all-MiniLM-L6-v2"


def _soften(store) -> None:
    """Rewrite every evaluation as a judge score: each model has its own scale, so its mean score
    (and the labels) sit anywhere in [0.05, 0.95] while 0/1 rounding hides most of the difference."""
    table = store.read_evaluations()
    models = sorted(set(table.column("model_id").to_pylist()))
    scale = {m: 0.1 + 0.8 * i / (len(models) - 1) for i, m in enumerate(models)}
    y = table.column("score").to_numpy()
    factor = np.array([scale[m] for m in table.column("model_id").to_pylist()])
    soft = np.clip(0.05 + factor * y + 0.05 * (1 - y), 0, 1).astype(np.float32)
    for model in models:
        keep = pc.equal(table.column("model_id"), model)
        rows = table.filter(keep)
        values = soft[np.asarray(keep)]
        store.write_evaluations(pa.table({"model_id": rows.column("model_id"), "query_id": rows.column("query_id"),
                                          "score": pa.array(values, pa.float32()),
                                          "scorer": ["judge"] * rows.num_rows}))


def test_judge_scores_train_embed_and_route(encoded_store):
    _soften(encoded_store)
    data = load_evaluation_set(encoded_store, ENCODER, scorer="judge")
    values = np.concatenate(data.scores)
    assert len(np.unique(values)) > 10 and values.min() >= 0 and values.max() <= 1  # stored as given

    train = TrainConfig(max_batch_models=8, max_context=256, target_size=64, epoch_episodes=320, max_epochs=3,
                        warmup_steps=10)
    train_version(encoded_store, TrainRun(encoder=ENCODER, scorer="judge", model={"dim": 32, "num_latents": 8},
                                          train=train))
    version, ids = embed_store(encoded_store, scorer="judge")
    pool = ModelPool.load(encoded_store, version)
    (route,) = pool.route(data.phi[:1])
    assert route.choice in ids and 0 < route.p_correct < 1

    # the values reach the encoder: rounding them changes the embedding
    model = pool.checkpoint.model
    soft = embed_models(model, data.phi, data.query_index, data.scores)
    rounded = embed_models(model, data.phi, data.query_index, [np.round(s) for s in data.scores])
    spread = np.linalg.norm(soft - soft.mean(axis=0), axis=1).mean()
    assert np.linalg.norm(soft - rounded, axis=1).mean() > 0.05 * spread

    # and the predictor learned the scale: a model's mean predicted p follows its mean judge score
    predicted = pool.predict(data.phi).mean(axis=0)[[pool.position(m) for m in data.model_ids]]
    measured = np.array([s.mean() for s in data.scores])
    assert np.corrcoef(predicted, measured)[0, 1] > 0.8
