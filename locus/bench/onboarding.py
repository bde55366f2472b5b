"""`locus bench onboarding`: held-out models embedded from queries chosen by each onboarding
strategy; held-out correctness accuracy against the number of evaluations, over several seeds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from locus.bench.experiments import evaluations_to_match
from locus.bench.plots import line_panels
from locus.data import load_evaluation_set, split_queries
from locus.embedding import embed_models, predict_matrix
from locus.metrics import correctness_accuracy
from locus.model import ModelShape
from locus.onboarding import STRATEGIES, Candidates, propose, rounds
from locus.store import Store
from locus.training import TrainConfig
from locus.training.loop import Trainer


def _order(strategy: str, trainer: Trainer, candidates: Candidates, scores: np.ndarray, budgets: list[int],
           seed: int) -> np.ndarray:
    """The queries a strategy asks for, in order, up to the largest budget (rounds that double)."""
    known = np.zeros(0, dtype=np.int64)
    for size in rounds(budgets[0], budgets[-1]):
        batch = propose(strategy, trainer.model, candidates, known, scores[known], size, seed=seed + len(known))
        known = np.concatenate([known, batch])
    return known


def onboarding_benchmark(store: Store, out_dir: Path, *, encoder: str, holdout: int = 5,
                         budgets: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256), seeds: tuple[int, ...] = (0, 1, 2, 3),
                         strategies: tuple[str, ...] = STRATEGIES, config: TrainConfig | None = None,
                         log: Callable[[str], None] = print) -> dict:
    """Train without `holdout` models; onboard each from its training-split queries with every
    strategy and seed; correctness accuracy on the test split (pooled over the held-out models)."""
    data = load_evaluation_set(store, encoder)
    split = split_queries(data.query_ids, 0, method="permutation")
    held = np.sort(np.random.default_rng(0).choice(len(data.model_ids), size=holdout, replace=False))
    rest = np.setdiff1d(np.arange(len(data.model_ids)), held)
    log(f"training without {', '.join(data.model_ids[m] for m in held)}")
    trainer = Trainer(data.select_models(rest), split, ModelShape(),
                      config or TrainConfig())
    trainer.fit()
    pool_z = trainer.embed_train()
    train = data.restrict(split.train).select_models(held)
    test_scores = data.dense(split.test)[held]
    test_phi = data.phi[split.test]
    budgets = sorted(budgets)
    curves = {s: np.zeros((len(seeds), len(budgets))) for s in strategies}
    candidates = [Candidates.build(trainer.model, data.phi[qi], pool_z) for qi in train.query_index]
    for si, seed in enumerate(seeds):
        for strategy in strategies:
            orders = [_order(strategy, trainer, c, s, budgets, seed)
                      for c, s in zip(candidates, train.scores, strict=True)]
            for bi, budget in enumerate(budgets):
                z = embed_models(trainer.model, data.phi, [qi[o[:budget]] for qi, o in zip(train.query_index, orders,
                                                                                            strict=True)],
                                 [s[o[:budget]] for s, o in zip(train.scores, orders, strict=True)])
                curves[strategy][si, bi] = correctness_accuracy(predict_matrix(trainer.model, z, test_phi),
                                                                test_scores)
            log(f"seed {seed} {strategy:<12} " + "  ".join(f"{b}: {v:.4f}" for b, v in
                                                         zip(budgets, curves[strategy][si], strict=True)))
    ceiling = correctness_accuracy(predict_matrix(trainer.model, embed_models(
        trainer.model, data.phi, train.query_index, train.scores), test_phi), test_scores)
    mean = {s: curves[s].mean(axis=0).tolist() for s in strategies}
    results = {"held_out": [data.model_ids[m] for m in held], "budgets": budgets, "seeds": list(seeds),
               "all_train_evaluations": ceiling,
               "strategies": {s: {"mean": mean[s], "std": curves[s].std(axis=0).tolist(),
                                  "per_seed": curves[s].tolist()} for s in strategies}}
    if "random" in strategies:
        results["evaluations_to_match_random"] = {
            s: {str(b): evaluations_to_match(budgets, mean[s], target) for b, target in
                zip(budgets, mean["random"], strict=True)} for s in strategies if s != "random"}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "onboarding.json").write_text(json.dumps(results, indent=2))
    line_panels(out_dir / "onboarding.png", budgets, {"held-out correctness accuracy": mean},
                spread={"held-out correctness accuracy": {s: results["strategies"][s]["std"] for s in strategies}},
                xlabel="evaluations of the new model", title=f"onboarding {holdout} held-out models", logx=True)
    return results
