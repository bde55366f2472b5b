"""Routing when some models are registered from few evaluations: LOCUS trained without 3 MMLU-Pro
models, which then join the pool from 8, 32 and 128 of their evaluations each (as `/v1/embeddings`
registrations do), beside a "lucky" model registered from 41 evaluations, 40 of them right. Routing
accuracy on the test questions and the share of questions each newcomer takes, without evidence
weighing (the behaviour before), with it, and with the default minimum.

    python benchmarks/evidence_routing.py --root /tmp/locus-mmlu-pro --out benchmarks/results/evidence-routing.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from fit_mmlu_pro import prepared_store

from locus.data import load_evaluation_set, split_queries
from locus.embedding import embed_store
from locus.encoders import DEFAULT_ENCODER
from locus.routing import MIN_EVALUATIONS, PRIOR_STRENGTH, ModelPool
from locus.training import TrainConfig, TrainRun
from locus.training.run import train_version

VARIANTS = {"no evidence weighing (before)": (0, 0.0), "evidence weighing only": (0, PRIOR_STRENGTH),
            "weighing + default minimum": (MIN_EVALUATIONS, PRIOR_STRENGTH)}


def routed_accuracy(pool: ModelPool, phi: np.ndarray, dense: np.ndarray, ids: list[str], *, min_evaluations: int,
                    prior_strength: float) -> tuple[float, dict[str, float]]:
    """Mean test score of the chosen model, and each model's share of the queries."""
    routes = pool.route(phi, k=1, min_evaluations=min_evaluations, prior_strength=prior_strength)
    row = {m: i for i, m in enumerate(ids)}
    scores = [dense[row[r.choice.split("@")[0]], q] for q, r in enumerate(routes)]
    chosen = [r.choice for r in routes]
    return float(np.nanmean(scores)), {m: chosen.count(m) / len(chosen) for m in sorted(set(chosen))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/mmlu-pro-outputs"))
    parser.add_argument("--root", default="/tmp/locus-mmlu-pro")
    parser.add_argument("--sizes", default="8,32,128", help="evaluations each held-out model registers with")
    parser.add_argument("--holdout", type=int, default=3)
    parser.add_argument("--version", help="a version trained without the held-out models (default: train one)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/evidence-routing.json"))
    args = parser.parse_args()
    store, _ = prepared_store(args.root, args.data)
    data = load_evaluation_set(store, DEFAULT_ENCODER)
    held = sorted(np.random.default_rng(0).choice(data.model_ids, size=args.holdout, replace=False).tolist())
    print(f"training without {', '.join(held)}", flush=True)
    if args.version is None:
        version = train_version(store, TrainRun(encoder=DEFAULT_ENCODER, exclude=held, train=TrainConfig())).version
        embed_store(store, version, model_ids=[m for m in data.model_ids if m not in held])
    else:
        version = args.version
    pool = ModelPool.load(store, version)
    assert not set(held) & set(pool.checkpoint.meta.snapshot.models), "the version was trained on a held-out model"

    snapshot = pool.checkpoint.meta.snapshot  # the run's own split: test questions it never trained on
    split = split_queries(data.query_ids, snapshot.split_seed, method=snapshot.split)
    dense, test_phi = data.dense(split.test), data.phi[split.test]
    train = data.restrict(split.train)
    rng = np.random.default_rng(1)
    newcomers = {}
    for model in held:
        m = train.model_ids.index(model)
        for n in (int(s) for s in args.sizes.split(",")):
            picked = rng.choice(len(train.scores[m]), size=n, replace=False)
            phi, scores = data.phi[train.query_index[m][picked]], train.scores[m][picked]
            newcomers[f"{model}@{n}"] = (pool.embed(phi, scores), n)
    m = train.model_ids.index(held[0])
    picked = rng.choice(len(train.scores[m]), size=41, replace=False)
    lucky = np.ones(41, dtype=np.float32)
    lucky[0] = 0.0
    lucky_name = f"{held[0]}@lucky-41"
    lucky_z = pool.embed(data.phi[train.query_index[m][picked]], lucky)

    results = {"version": version, "held_out": held, "test_queries": len(split.test), "pools": {}}
    for pool_name, joining in [("trained pool only", {}), ("with the 8/32/128 newcomers", newcomers),
                               ("with the newcomers and the lucky 41", {**newcomers, lucky_name: (lucky_z, 41)})]:
        for name, (z, n) in joining.items():
            pool.upsert(name, z, n)
        results["pools"][pool_name] = rows = {}
        for name, (mn, ps) in VARIANTS.items():
            accuracy, share = routed_accuracy(pool, test_phi, dense, data.model_ids, min_evaluations=mn,
                                              prior_strength=ps)
            rows[name] = {"min_evaluations": mn, "prior_strength": ps, "routing_acc": round(accuracy, 4),
                          "share_of_newcomers": {k: round(share.get(k, 0.0), 4) for k in joining}}
            print(pool_name, "|", name, json.dumps(rows[name]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
