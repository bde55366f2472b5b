"""A registered version seen on held-out questions: every model embedded from its training-split
evaluations only, with predicted p(correct) and measured scores on the test split. Explore, the
proxy benchmark, portfolio curves and the report all judge the embeddings this way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from locus.calibration import ability
from locus.checkpoint import Checkpoint, CheckpointMeta, load_checkpoint
from locus.data import EvaluationSet, QuerySplit, load_evaluation_set, split_queries
from locus.embedding import embed_models, predict_matrix
from locus.store import Store


@dataclass
class HeldOut:
    checkpoint: Checkpoint
    data: EvaluationSet
    split: QuerySplit
    z: np.ndarray  # [models, d] from training-split evaluations
    probs: np.ndarray  # [models, test queries] predicted p(correct)
    scores: np.ndarray  # [models, test queries] measured, NaN where not evaluated
    route: np.ndarray  # [models, test queries] routing scores under the version's calibration

    @property
    def model_ids(self) -> list[str]:
        return self.data.model_ids


def checkpoint_data(store: Store, version: str = "latest") -> tuple[Checkpoint, EvaluationSet, QuerySplit]:
    """A version, the store's evaluations under its encoder, and the query split it trained on."""
    checkpoint = load_checkpoint(store, version)
    data = load_evaluation_set(store, checkpoint.encoder)
    return checkpoint, data, trained_split(checkpoint.meta, data.query_ids)


def trained_split(meta: CheckpointMeta, query_ids: list[str]) -> QuerySplit:
    """The split a version trained with, applied to `query_ids`."""
    return split_queries(query_ids, meta.train_config.split_seed, method=meta.train_config.split)


def load_heldout(store: Store, version: str = "latest") -> HeldOut:
    checkpoint, data, split = checkpoint_data(store, version)
    train = data.restrict(split.train)
    z = embed_models(checkpoint.model, data.phi, train.query_index, train.scores, names=data.model_ids)
    probs = predict_matrix(checkpoint.model, z, data.phi[split.test])
    position = {q: i for i, q in enumerate(data.query_ids)}
    reference = [position[q] for q in checkpoint.routing.reference if q in position]
    model_ability = ability(predict_matrix(checkpoint.model, z, data.phi[reference])) if reference else None
    route = checkpoint.routing.scores(probs, model_ability)
    return HeldOut(checkpoint, data, split, z, probs, data.dense(split.test), route)
