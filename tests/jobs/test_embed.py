"""The Ray Data embedding job gives the same vectors as the single-process `locus embed`."""

from __future__ import annotations

import numpy as np
import pytest
from locus.jobs.embed import run_embedding

from locus.embedding import embed_store
from locus.errors import LocusDataError
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version

pytestmark = pytest.mark.slow  # starts Ray (and vLLM, Serve or a training run)

TRAIN = TrainConfig(max_batch_models=8, max_context=128, target_size=32, epoch_episodes=40, max_epochs=1)


def _vectors(store, version) -> dict[str, np.ndarray]:
    table = store.read_model_embeddings(version)
    return dict(zip(table.column("model_id").to_pylist(), np.stack(table.column("vector").to_numpy(False)),
                    strict=True))


def test_ray_data_job_matches_single_process(encoded_store):
    run = TrainRun(encoder="all-MiniLM-L6-v2", train=TRAIN, model={"dim": 32, "num_latents": 8})
    version = train_version(encoded_store, run).version
    embed_store(encoded_store, version)
    single = _vectors(encoded_store, version)
    result = run_embedding(str(encoded_store.uri), "latest", actors=1, batch_size=8)  # several batches
    assert result.version == version and result.model_ids == sorted(single)
    distributed = _vectors(encoded_store, version)
    assert len(distributed) == len(single) == 29
    gap = max(np.abs(distributed[m] - single[m]).max() for m in single)
    assert gap < 1e-5  # measured 7e-7: batching changes only float summation order


def test_unknown_model_fails_before_ray_starts(encoded_store):
    train_version(encoded_store, TrainRun(encoder="all-MiniLM-L6-v2", train=TRAIN, model={"dim": 32}))
    with pytest.raises(LocusDataError, match="model_id='nope'"):
        run_embedding(str(encoded_store.uri), model_ids=["nope"])
