"""A training run from the tables of a store, registered as a version: the one pipeline behind
`locus fit` (this process), `locus train` (each Ray Train worker runs `build_trainer` on its shard
and `register_run` at the end), the quickstart and the benchmarks that register versions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from locus.checkpoint import CheckpointMeta, RunMetrics, Snapshot, read_meta, save_checkpoint
from locus.data import load_evaluation_set, split_queries, trainable_models
from locus.store import Store
from locus.training.config import TrainRun
from locus.training.loop import FitResult, Trainer


@dataclass
class TrainSummary:
    meta: CheckpointMeta
    result: FitResult  # the best weights and the history

    @property
    def version(self) -> str:
        return self.meta.version


def build_trainer(store: Store, run: TrainRun, model_ids: list[str], **placement) -> Trainer:
    """Load `model_ids`' evaluations, split the queries as the run says, and make the trainer
    (`placement`: collective, device and prepare_model of a distributed worker)."""
    data = load_evaluation_set(store, run.encoder, model_ids=model_ids, scorer=run.scorer)
    split = split_queries(data.query_ids, run.train.split_seed, method=run.train.split)
    return Trainer(data, split, run.model, run.train, **placement)


def register_run(store: Store, run: TrainRun, trainer: Trainer, result: FitResult, *, version: str | None = None,
                 run_path: str | None = None) -> str | None:
    """Score the test split and register the best weights as a version. Every worker calls it (the
    test report and the snapshot gather over workers); the first one writes and gets the version."""
    test = trainer.test_report()
    n_train = sum(trainer.collective.gather_list([trainer.train_data.num_evaluations]))
    if trainer.collective.rank != 0:
        return None
    snapshot = Snapshot(models=trainer.model_ids, n_train_evaluations=int(n_train),
                        n_queries=len(trainer.data.query_ids), split=run.train.split,
                        split_seed=run.train.split_seed, scorer=run.scorer, table_versions=store.versions)
    metrics = RunMetrics(best_epoch=result.best_epoch, validation=result.best_metrics, test=test,
                         history=result.history, seconds=result.seconds, workers=trainer.collective.world_size,
                         run=run_path)
    return save_checkpoint(store, result.model, encoder=run.encoder, train_config=run.train, snapshot=snapshot,
                           metrics=metrics, routing=result.routing, version=version)


def pinned(store: Store) -> Store:
    """`store` with every table read at its current version, so a run sees one consistent snapshot."""
    return store if store.versions else store.at(store.table_versions())


def train_version(store: Store, run: TrainRun, *,
                  on_epoch: Callable[[dict[str, float]], None] | None = None) -> TrainSummary:
    """Train in this process with early stopping, score the test split, register a version."""
    store = pinned(store)
    trainer = build_trainer(store, run, trainable_models(store, run.encoder, run.exclude))
    result = trainer.fit(on_epoch)
    version = register_run(store, run, trainer, result)
    return TrainSummary(read_meta(store, version), result)
