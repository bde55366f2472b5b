"""How much routing accuracy per-topic skill differences allow: a router that looks up, for each
MMLU-Pro category, the model with the best mean training score there (shrunk towards the model's
overall mean by `prior` pseudo-evaluations), against the single best model. It uses the true
categories, which no method under test sees, so it indicates what topic-level routing can gain
with a given number of training evaluations per model.

    python benchmarks/category_router.py --root STORE --out benchmarks/results/category-router.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from locus.data import load_evaluation_set, split_queries
from locus.encoders import DEFAULT_ENCODER
from locus.metrics import routing_accuracy
from locus.store import Store


def categories(store: Store, query_ids: list[str]) -> np.ndarray:
    table = store.read_queries().select(["query_id", "metadata"]).to_pydict()
    meta = {q: json.loads(m or "{}") for q, m in zip(table["query_id"], table["metadata"], strict=True)}
    return np.array([meta[q].get("category", "unknown") for q in query_ids])


def category_router(train: np.ndarray, labels: np.ndarray, test_labels: np.ndarray, prior: float) -> np.ndarray:
    """Scores [models, test queries]: each model's (shrunk) mean training score in the query's category."""
    overall = np.nanmean(train, axis=1)
    out = np.tile(overall[:, None], (1, len(test_labels)))
    for category in np.unique(test_labels):
        cells = train[:, labels == category]
        seen = (~np.isnan(cells)).sum(axis=1)
        with np.errstate(invalid="ignore"):
            mean = (np.nansum(cells, axis=1) + prior * overall) / (seen + prior)
        out[:, test_labels == category] = np.where(seen + prior > 0, mean, overall)[:, None]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True)
    parser.add_argument("--budgets", default="128,256,1024,all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--prior", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/category-router.json"))
    args = parser.parse_args()
    store = Store(args.root)
    data = load_evaluation_set(store, DEFAULT_ENCODER)
    labels = categories(store, data.query_ids)
    results: dict = {"prior": args.prior, "rows": []}
    for seed in (int(s) for s in args.seeds.split(",")):
        split = split_queries(data.query_ids, seed, method="permutation")
        test = data.dense(split.test)
        for budget in args.budgets.split(","):
            train_set = data.restrict(split.train)
            if budget != "all":
                train_set = train_set.subsample(int(budget), seed)
            train = train_set.dense(np.arange(len(data.query_ids)))
            single = np.tile(np.nanmean(train, axis=1)[:, None], (1, len(split.test)))
            routed = category_router(train, labels, labels[split.test], args.prior)
            row = {"seed": seed, "budget": budget, "single_best": routing_accuracy(single, test),
                   "category_router": routing_accuracy(routed, test)}
            results["rows"].append(row)
            print(row, flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
