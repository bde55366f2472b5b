"""The Ray Data embedding job validates before Ray starts. (That it gives the single-process
vectors, one per model, with a node lost mid-job: tests/jobs/test_multinode.py.)"""

from __future__ import annotations

import pytest
from locus.jobs.embed import run_embedding

from locus.errors import LocusDataError
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version

TRAIN = TrainConfig(max_batch_models=8, max_context=128, target_size=32, epoch_episodes=40, max_epochs=1)


def test_unknown_model_fails_before_ray_starts(encoded_store):
    train_version(encoded_store, TrainRun(encoder="all-MiniLM-L6-v2", train=TRAIN, model={"dim": 32}))
    with pytest.raises(LocusDataError, match="model_id='nope'"):
        run_embedding(str(encoded_store.uri), model_ids=["nope"])
