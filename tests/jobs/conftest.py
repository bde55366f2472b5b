"""Ray for the job tests: local clusters on 127.0.0.1 without token auth, nothing left behind."""

from __future__ import annotations

import numpy as np
import pytest

from locus.checkpoint import load_checkpoint
from locus.data import load_evaluation_set
from locus.embedding import embed_models, predict_matrix
from locus.heldout import trained_split
from locus.store import Store


@pytest.fixture(autouse=True)
def _local_ray(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def heldout_predictions(store: Store, version: str) -> np.ndarray:
    """p(correct) of every model on the test queries, each model embedded from its training evaluations."""
    checkpoint = load_checkpoint(store, version)
    data = load_evaluation_set(store, checkpoint.encoder)
    split = trained_split(checkpoint.meta, data.query_ids)
    train = data.restrict(split.train)
    z = embed_models(checkpoint.model, data.phi, train.query_index, train.scores)
    return predict_matrix(checkpoint.model, z, data.phi[split.test])
