"""What refining each embedding on the model's own evaluations (`Locus.refine`) adds to the encoder's
forward pass: one network is trained (`--max-minutes`, to early stopping if unset), then every model is
embedded from its training evaluations with each refinement setting and scored on the test cells
(correctness, AUC, routing on p alone), with the time the embedding took. The fit's per-epoch
history (the training loss's parts included) is written with them.

    python benchmarks/refinement.py --pool synthetic --query-components 16 --batch-tokens 8192 \\
        --out benchmarks/results/refinement-synthetic.json
    python benchmarks/refinement.py --root /tmp/locus-mmlu-pro --max-minutes 0 \\
        --out benchmarks/results/refinement-mmlu-pro.json

A setting is steps:lr:prior; 0 is the forward pass alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from query_features import build_store

from locus.bench.quality import run_method
from locus.data import load_evaluation_set, split_queries
from locus.embedding import embed_models, predict_matrix
from locus.encoders import DEFAULT_ENCODER
from locus.metrics import quality_report
from locus.model import ModelShape
from locus.model.locus import Locus
from locus.store import Store
from locus.training import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pool", choices=("synthetic", "sample"), default="synthetic",
                        help="synthetic: 600 models of the scale benchmark's generator; sample: the bundled sample")
    parser.add_argument("--root", type=Path, default=None, help="a store to use instead of --pool (full MMLU-Pro)")
    parser.add_argument("--budget", type=int, default=128, help="training evaluations per model (0: all)")
    parser.add_argument("--settings", default="0,10:0.2:0.03,10:0.2:0.01,10:0.2:0.1,30:0.1:0.03",
                        help="comma-separated steps:lr:prior (the default is 10:0.2:0.03)")
    parser.add_argument("--query-components", type=int, default=ModelShape().query_components)
    parser.add_argument("--batch-tokens", type=int, default=TrainConfig().batch_tokens)
    parser.add_argument("--consistency", type=float, default=TrainConfig().consistency,
                        help="weight of the two-view consistency term in training")
    parser.add_argument("--max-minutes", type=float, default=3.0, help="wall time of the fit (0: to early stopping)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    store = Store(args.root) if args.root else build_store(args.pool, Path(f"/tmp/locus-query-features-{args.pool}"),
                                                           600)
    data = load_evaluation_set(store, DEFAULT_ENCODER)
    split = split_queries(data.query_ids, args.seed, method="permutation")
    test = data.dense(split.test)
    config = TrainConfig(max_minutes=args.max_minutes or None, batch_tokens=args.batch_tokens,
                         consistency=args.consistency)
    start = time.perf_counter()
    _, trainer = run_method("locus", data, split, args.budget or None, args.seed, config,
                            shape=ModelShape(query_components=args.query_components))
    results = {"fit_seconds": round(time.perf_counter() - start, 1), "epochs": trainer.epoch,
               "best_epoch": trainer.best_epoch, "history": trainer.history, "settings": {}}
    train = trainer.train_data
    for setting in args.settings.split(","):
        steps, *rest = setting.split(":")
        update = {"refine_steps": int(steps)} | ({"refine_lr": float(rest[0]), "refine_prior": float(rest[1])}
                                                 if int(steps) else {})
        network = trainer.evaluated.config.model_copy(update=update)
        model = Locus(network)
        model.load_state_dict(trainer.evaluated.state_dict())
        start = time.perf_counter()
        z = embed_models(model, data.phi, train.query_index, train.scores)
        seconds = time.perf_counter() - start
        report = quality_report(predict_matrix(model, z, data.phi[split.test]), test)
        row = {k: round(float(report[k]), 4) for k in ("correctness_acc", "auc", "routing_acc")}
        results["settings"][setting] = row | {"embed_seconds": round(seconds, 2)}
        print(setting, results["settings"][setting], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"pool": str(args.root or args.pool), "models": len(data.model_ids),
                                    "budget": args.budget or None, "train": config.model_dump(),
                                    "network": trainer.evaluated.config.model_dump(), **results}, indent=2))


if __name__ == "__main__":
    main()
