"""`locus bench quality`: LOCUS against the baselines on the same split and the same training
evaluations per model (the budget), and held-out models embedded without retraining."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from locus.baselines import BASELINES
from locus.data import EvaluationSet, QuerySplit, load_evaluation_set, split_queries
from locus.embedding import embed_models, predict_matrix
from locus.metrics import correctness_accuracy, quality_report
from locus.model import ModelShape
from locus.progress import epoch_line
from locus.store import Store
from locus.training import TrainConfig
from locus.training.loop import Trainer

METHODS = ("locus", "mf", "irt", "knn", "single_best", "random", "oracle")
REPORTED = ("routing_acc", "hit3", "correctness_acc", "auc")


def _train_locus(data: EvaluationSet, split: QuerySplit, budget: int | None, seed: int,
                 config: TrainConfig, log: Callable[[str], None], shape: ModelShape | None = None) -> Trainer:
    trainer = Trainer(data, split, shape or ModelShape(),
                      config.model_copy(update={"seed": seed, "split_seed": seed, "split": "permutation",
                                                "budget": budget}))
    trainer.fit(on_epoch=lambda m: log(epoch_line(m)))
    return trainer


def run_method(method: str, data: EvaluationSet, split: QuerySplit, budget: int | None, seed: int,
               config: TrainConfig, log: Callable[[str], None] = print,
               shape: ModelShape | None = None) -> tuple[np.ndarray, Trainer | None]:
    """Fit one method on the budgeted training evaluations; p(correct) on the test queries (LOCUS
    with the network `shape`, by default the defaults)."""
    if method == "locus":
        trainer = _train_locus(data, split, budget, seed, config, log, shape)
        return predict_matrix(trainer.model, trainer.embed_train(), data.phi[split.test]), trainer
    train = data.restrict(split.train)
    train = train.subsample(budget, seed) if budget else train
    options = {"truth": data} if method == "oracle" else {}
    router = BASELINES[method](seed=seed, **options)
    router.fit(train, (split.validation, data.dense(split.validation)))
    return router.predict(split.test), None


def holdout(data: EvaluationSet, split: QuerySplit, budget: int | None, seed: int, k: int, config: TrainConfig,
            pooled: Trainer, log: Callable[[str], None] = print, shape: ModelShape | None = None) -> dict:
    """Train without k models, embed them from their training-split evaluations only, and compare
    their test correctness accuracy with the run that trained on them (`pooled`)."""
    held = np.sort(np.random.default_rng(seed).choice(len(data.model_ids), size=k, replace=False))
    rest = np.setdiff1d(np.arange(len(data.model_ids)), held)
    trainer = _train_locus(data.select_models(rest), split, budget, seed, config, log, shape)
    train = data.restrict(split.train).select_models(held)
    train = train.subsample(budget, seed) if budget else train
    z = embed_models(trainer.model, data.phi, train.query_index, train.scores)
    test_scores = data.dense(split.test)[held]
    held_probs = predict_matrix(trainer.model, z, data.phi[split.test])
    pooled_probs = predict_matrix(pooled.model, pooled.embed_train(), data.phi[split.test])[held]
    return {"models": [data.model_ids[m] for m in held],
            "holdout_correctness_acc": correctness_accuracy(held_probs, test_scores),
            "in_pool_correctness_acc": correctness_accuracy(pooled_probs, test_scores)}


def run_quality_benchmark(store: Store, *, encoder: str, budgets: list[int | None], seed: int = 0,
                          methods: tuple[str, ...] = METHODS, holdout_models: int = 0,
                          config: TrainConfig | None = None, shape: ModelShape | None = None,
                          log: Callable[[str], None] = print) -> dict:
    """{"<method>": {"<budget>": {routing_acc, hit3, correctness_acc, auc, seconds}}} (+ "holdout")."""
    config = config or TrainConfig()
    data = load_evaluation_set(store, encoder)
    split = split_queries(data.query_ids, seed, method="permutation")
    test_scores = data.dense(split.test)
    results: dict = {m: {} for m in methods}
    if holdout_models:
        results["holdout"] = {}
    for budget in budgets:
        key = str(budget) if budget else "all"
        for method in methods:
            start = time.perf_counter()
            probs, trainer = run_method(method, data, split, budget, seed, config, log, shape)
            report = quality_report(probs, test_scores, route=trainer.route_scores(probs) if trainer else None)
            results[method][key] = {**{k: report[k] for k in REPORTED}, "seconds": time.perf_counter() - start}
            if trainer is not None:  # how much training it had
                results[method][key] |= {"epochs": trainer.epoch, "best_epoch": trainer.best_epoch,
                                         "episodes_per_model": trainer.exposure}
            log(f"budget {key:>5}  {method:<12} " + "  ".join(f"{k} {results[method][key][k]:.4f}"
                                                               for k in (*REPORTED, "seconds")))
            if method == "locus" and holdout_models:
                results["holdout"][key] = holdout(data, split, budget, seed, holdout_models, config, trainer, log,
                                                  shape)
                log(f"budget {key:>5}  holdout      {results['holdout'][key]}")
    results["split"] = {"train": len(split.train), "validation": len(split.validation), "test": len(split.test),
                        "test_cells": int((~np.isnan(test_scores)).sum()), "models": len(data.model_ids),
                        "seed": seed}
    return results


def against_baselines(held, *, methods: tuple[str, ...] = ("mf", "irt", "knn", "single_best", "random", "oracle"),
                      seed: int = 0) -> dict[str, dict[str, float]]:
    """A registered version (its held-out view) next to each baseline fitted on the same training
    evaluations: {method: {routing_acc, hit3, correctness_acc, auc, seconds}} on the test split."""
    report = quality_report(held.probs, held.scores, route=held.route)
    results = {"locus": {k: v for k, v in report.items() if k in REPORTED}}
    for method in methods:
        start = time.perf_counter()
        probs, _ = run_method(method, held.data, held.split, None, seed, TrainConfig())
        report = quality_report(probs, held.scores)
        results[method] = {**{k: report[k] for k in REPORTED}, "seconds": time.perf_counter() - start}
    return results
