"""One-call onboarding on MMLU-Pro, offline: LOCUS trained without 3 models; each is onboarded as
`locus onboard --run` / `POST /v1/models` does it (`jobs/onboard.py`): the onboarding strategy
plans `budget` questions (`locus.onboarding.plan`, on the whole store), the model is evaluated on
them, its models row and evaluations are written, and it is embedded and registered
(`embed_store`). The evaluation replays the model's published outputs instead of running vLLM:
that step's time is the serving stack's, not LOCUS's (the gateway test times it for a tiny model).

Reported per strategy (stratified, the default, against random): correctness accuracy on the
model's test-split questions it was not evaluated on, against the budget, next to the accuracy of
its embedding from all of its training-split evaluations; the evaluations needed to come within
1 point of that; and the wall time of each LOCUS step. Every onboarding starts from a fresh copy of
the store, so that earlier onboardings are not in the pool a plan compares with.

    python benchmarks/one_call_onboarding.py --version VERSION_WITHOUT_THE_HELD_OUT_MODELS
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fit_mmlu_pro import prepared_store

from locus.checkpoint import load_checkpoint
from locus.data import load_evaluation_set, split_queries
from locus.embedding import embed_models, embed_store, predict_matrix
from locus.encoders import DEFAULT_ENCODER
from locus.onboarding import plan
from locus.store import Store
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version

WITHIN = 0.01  # "within 1 point" of the full-data correctness accuracy


def within(budgets: list[int], curve: list[float], target: float, *, stay: bool) -> int | None:
    """The fewest evaluations whose accuracy is within WITHIN of `target` (with `stay`: and at every
    larger budget too); None when no budget is."""
    for i, budget in enumerate(budgets):
        if all(a >= target - WITHIN for a in (curve[i:] if stay else curve[i:i + 1])):
            return budget
    return None


def summary(results: dict) -> dict:
    """Per strategy, over models and seeds: the mean gap to the full-data accuracy at each budget,
    and the median evaluations to reach, and to stay, within 1 point of it."""
    out = {}
    for strategy in next(iter(results["models"].values()))["strategies"]:
        reach, stay, gaps = [], [], []
        for model in results["models"].values():
            target, curves = model["full_data_accuracy"], model["strategies"][strategy]["per_seed"]
            reach += [within(results["budgets"], c, target, stay=False) for c in curves]
            stay += [within(results["budgets"], c, target, stay=True) for c in curves]
            gaps.append(np.mean(curves, axis=0) - target)
        never = 2 * results["budgets"][-1]  # counted past the largest budget for the median
        out[strategy] = {"mean_gap_to_full_data": np.mean(gaps, axis=0).tolist(),
                         "median_evaluations_to_reach": float(np.median([r or never for r in reach])),
                         "median_evaluations_to_stay": float(np.median([r or never for r in stay])),
                         "never_stayed": sum(r is None for r in stay), "runs": len(stay)}
    return out


def accuracy(model, z: np.ndarray, phi: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean((predict_matrix(model, z[None], phi)[0] > 0.5) == (truth > 0.5)))


def onboard(base: str, scratch: str, model_id: str, scores: dict[str, float], budget: int, strategy: str,
            version: str, seed: int) -> tuple[list[str], np.ndarray, dict[str, float]]:
    """The one-call steps on a fresh copy of the store: the questions planned, the registered
    embedding, and each step's seconds."""
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(base, scratch)
    store, times = Store(scratch), {}
    tick = time.perf_counter()
    picked = plan(store, model_id, budget, strategy=strategy, version=version, seed=seed).column("query_id").to_pylist()
    times["plan_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    store.write_evaluations(pa.table({  # the evaluation job's commit, its outputs replayed
        "model_id": [model_id] * len(picked), "query_id": picked,
        "score": pa.array([scores[q] for q in picked], pa.float32()), "scorer": ["choice"] * len(picked),
        "source": ["published outputs (replayed)"] * len(picked)}))
    store.write_models(pa.table({"model_id": [model_id], "available": [True]}))
    times["store_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    registered, _ = embed_store(store, version, model_ids=[model_id])
    times["register_s"] = time.perf_counter() - tick
    table = store.read_model_embeddings(registered)
    z = np.asarray(table.filter(pc.equal(table.column("model_id"), model_id)).column("vector")[0].as_py(), np.float32)
    return picked, z, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mmlu-pro-outputs"))
    parser.add_argument("--root", default="/tmp/locus-mmlu-pro")
    parser.add_argument("--scratch", default="/tmp/locus-one-call", help="the copy each onboarding writes to")
    parser.add_argument("--holdout", type=int, default=3)
    parser.add_argument("--budgets", default="8,16,32,64,128,256")
    parser.add_argument("--strategies", default="stratified,random")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--version", help="a version trained without the held-out models (default: train one)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/one-call-onboarding.json"))
    args = parser.parse_args()
    budgets, strategies = [int(b) for b in args.budgets.split(",")], args.strategies.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    store, _ = prepared_store(args.root, args.data)
    data = load_evaluation_set(store, DEFAULT_ENCODER)
    held = sorted(np.random.default_rng(0).choice(data.model_ids, size=args.holdout, replace=False).tolist())
    version = args.version
    if version is None:
        print(f"training without {', '.join(held)}", flush=True)
        version = train_version(store, TrainRun(encoder=DEFAULT_ENCODER, exclude=held, train=TrainConfig())).version
        embed_store(store, version, model_ids=[m for m in data.model_ids if m not in held])
    checkpoint = load_checkpoint(store, version)
    assert not set(held) & set(checkpoint.meta.snapshot.models), "trained on a held-out model"
    model, snapshot = checkpoint.model, checkpoint.meta.snapshot
    split = split_queries(data.query_ids, snapshot.split_seed, method=snapshot.split)
    position = {q: i for i, q in enumerate(data.query_ids)}
    test_set = set(split.test.tolist())
    results = {"version": version, "held_out": held, "budgets": budgets, "seeds": seeds, "within": WITHIN,
               "models": {}}
    timings: list[dict[str, float]] = []
    for name in held:
        m = data.model_ids.index(name)
        scores = {data.query_ids[q]: float(s) for q, s in zip(data.query_index[m], data.scores[m], strict=True)}
        train = [q for q in split.train if data.query_ids[q] in scores]
        full = embed_models(model, data.phi, [np.array(train)],
                            [np.array([scores[data.query_ids[q]] for q in train], np.float32)])[0]
        test = [q for q in split.test if data.query_ids[q] in scores]
        out = {"train_evaluations": len(train),
               "full_data_accuracy": accuracy(model, full, data.phi[test],
                                              np.array([scores[data.query_ids[q]] for q in test], np.float32)),
               "strategies": {}}
        for strategy in strategies:
            curves = []
            for seed in seeds:
                curve = []
                for budget in budgets:
                    model_id = f"{name}@{strategy}-{seed}-{budget}"
                    picked, z, times = onboard(args.root, args.scratch, model_id, scores, budget, strategy, version,
                                               seed)
                    timings.append(times)
                    unseen = sorted(test_set - {position[q] for q in picked})
                    unseen = [q for q in unseen if data.query_ids[q] in scores]
                    truth = np.array([scores[data.query_ids[q]] for q in unseen], np.float32)
                    curve.append(accuracy(model, z, data.phi[unseen], truth))
                    print(f"{name} {strategy} seed {seed} budget {budget}: {curve[-1]:.4f} (all data "
                          f"{out['full_data_accuracy']:.4f}) {times}", flush=True)
                curves.append(curve)
            out["strategies"][strategy] = {"per_seed": curves, "mean": np.mean(curves, axis=0).tolist()}
        results["models"][name] = out
    results["summary"] = summary(results)
    results["step_seconds"] = {k: {"median": float(np.median([t[k] for t in timings])),
                                   "p95": float(np.quantile([t[k] for t in timings], 0.95))} for k in timings[0]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
