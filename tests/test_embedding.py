"""Embedding with a checkpoint: whole store, a new model from a file, refinement, bad input."""

import numpy as np
import pyarrow as pa
import pytest
import torch

from locus.data import load_evaluation_set
from locus.embedding import embed_models, embed_store
from locus.encoders import DEFAULT_ENCODER
from locus.errors import LocusDataError
from locus.model import ModelConfig
from locus.model.locus import Locus
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version
from tests.conftest import unrun_meta

QUICK = TrainConfig(max_batch_models=8, max_context=128, target_size=32, epoch_episodes=40, max_epochs=1,
                    warmup_steps=1)


@pytest.fixture
def trained_store(encoded_store):
    train_version(encoded_store, TrainRun(encoder=DEFAULT_ENCODER, train=QUICK, model={"dim": 32, "num_latents": 8}))
    return encoded_store


def test_batched_embedding_equals_one_at_a_time():
    torch.manual_seed(0)
    model = Locus(ModelConfig(query_dim=8, dim=16, num_latents=4, heads=2))
    phi = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    rng = np.random.default_rng(1)
    index = [rng.choice(50, size=n, replace=False) for n in (5, 40, 12, 33)]
    scores = [rng.integers(0, 2, size=len(i)).astype(np.float32) for i in index]
    together = embed_models(model, phi, index, scores, max_tokens=64)  # forces several padded batches
    alone = np.stack([embed_models(model, phi, [i], [s])[0] for i, s in zip(index, scores, strict=True)])
    assert np.allclose(together, alone, atol=1e-5)
    with pytest.raises(LocusDataError, match="'b'.*empty"):
        embed_models(model, phi, [index[0], np.array([], int)], [scores[0], np.array([])], names=["a", "b"])


def test_embed_store_and_onboard_a_new_model(trained_store, tmp_path):
    version, ids = embed_store(trained_store)
    table = trained_store.read_model_embeddings(version)
    assert sorted(table.column("model_id").to_pylist()) == sorted(ids) and len(ids) == 29
    assert table.column("vector").type.list_size == 32

    # a new model, known only by a few evaluations, is embedded without retraining
    data = load_evaluation_set(trained_store, DEFAULT_ENCODER)
    queries = data.query_ids[:200]
    scores = data.dense(np.arange(200))[0]
    new = pa.table({"model_id": ["newcomer"] * 200, "query_id": queries, "score": pa.array(scores, pa.float32()),
                    "scorer": ["imported"] * 200})
    trained_store.write_evaluations(new.slice(0, 50))
    embed_store(trained_store, model_ids=["newcomer"])
    first = trained_store.read_model_embeddings(version).to_pydict()
    trained_store.write_evaluations(new)  # more evaluations refine the embedding
    embed_store(trained_store, model_ids=["newcomer"])
    second = trained_store.read_model_embeddings(version).to_pydict()
    row = lambda t: t["model_id"].index("newcomer")  # noqa: E731
    assert first["n_evaluations"][row(first)] == 50 and second["n_evaluations"][row(second)] == 200
    assert not np.allclose(first["vector"][row(first)], second["vector"][row(second)])
    assert len(second["model_id"]) == 30


def test_embedding_with_wrong_query_dimension_is_refused(trained_store):
    ids, _ = trained_store.read_query_embeddings(DEFAULT_ENCODER)
    # a checkpoint whose recorded encoder matches but whose width does not
    from locus.checkpoint import save_checkpoint

    save_checkpoint(trained_store, Locus(ModelConfig(query_dim=768, dim=32, num_latents=8)), encoder=DEFAULT_ENCODER,
                    **unrun_meta())
    with pytest.raises(LocusDataError, match=r"expected \(n, 768\)"):
        embed_store(trained_store)
    assert len(ids) == 600


def test_unknown_model_is_refused(trained_store):
    with pytest.raises(LocusDataError, match="no evaluations stored for model_id='ghost'"):
        embed_store(trained_store, model_ids=["ghost"])
