"""Train from the tables in a store and register the result as a checkpoint (`locus fit`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from locus.checkpoint import save_checkpoint
from locus.data import load_evaluation_set, split_queries, trainable_models
from locus.model import ModelConfig
from locus.store import Store
from locus.training.config import TrainConfig
from locus.training.loop import FitResult, Trainer


@dataclass
class FitSummary:
    version: str
    result: FitResult
    test: dict[str, float]
    num_models: int
    num_queries: int


def run_snapshot(trainer: Trainer, config: TrainConfig, scorer: str | None, store: Store) -> dict:
    """Which data a run saw: its models, training evaluations, queries, split, scorer, and the table
    versions it read (`Store.at(snapshot["table_versions"])` reads exactly that data again)."""
    n_train = sum(trainer.collective.gather_list([trainer.train_data.num_evaluations]))
    return {"models": trainer.model_ids, "n_train_evaluations": int(n_train),
            "n_queries": len(trainer.data.query_ids), "split": config.split, "split_seed": config.split_seed,
            "scorer": scorer, "table_versions": store.versions}


def run_metrics(result: FitResult, test: dict[str, float]) -> dict:
    return {"best_epoch": result.best_epoch, "validation": result.best_metrics, "test": test,
            "history": result.history, "seconds": result.seconds}


def fit_store(store: Store, *, encoder: str, train_config: TrainConfig, model_overrides: dict | None = None,
              scorer: str | None = None, on_epoch: Callable[[dict[str, float]], None] | None = None) -> FitSummary:
    """Load, split by query, train with early stopping, score the test split, save a checkpoint.
    Every table is read at the version it had when the run started, and the checkpoint records them."""
    trainable_models(store, encoder)
    store = store if store.versions else store.at(store.table_versions())
    data = load_evaluation_set(store, encoder, scorer=scorer)
    split = split_queries(data.query_ids, train_config.split_seed, method=train_config.split)
    model_config = ModelConfig(query_dim=data.phi.shape[1], **(model_overrides or {}))
    trainer = Trainer(data, split, model_config, train_config)
    result = trainer.fit(on_epoch)
    test = trainer.test_report()
    version = save_checkpoint(store, result.model, encoder=encoder, train_config=train_config.model_dump(),
                              snapshot=run_snapshot(trainer, train_config, scorer, store),
                              metrics=run_metrics(result, test), routing=result.routing)
    return FitSummary(version, result, test, len(data.model_ids), len(data.query_ids))
