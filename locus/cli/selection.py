"""`locus portfolio`: choose k models (or models within a budget) with zero extra evaluations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from locus.cli.common import DEFAULT_ROOT, Root, Version, console, open_store, reports_errors


@reports_errors
def portfolio(root: Root = DEFAULT_ROOT, version: Version = "latest",
              k: Annotated[int | None, typer.Option("--k", help="portfolio size")] = None,
              budget: Annotated[float | None, typer.Option(help="total cost allowed (coverage method)")] = None,
              method: Annotated[str, typer.Option(help="k-center | k-medoids | coverage")] = "coverage",
              cost: Annotated[str, typer.Option(help="models-table column that prices a model: params_b or "
                                                     "cost_per_1k_tokens")] = "params_b") -> None:
    """Pick models that cover the pool; report predicted and measured routing accuracy among them."""
    import numpy as np

    from locus.data import load_evaluation_set, split_queries
    from locus.errors import LocusDataError
    from locus.portfolio import measured_routing, select
    from locus.routing import ModelPool

    if cost not in ("params_b", "cost_per_1k_tokens"):
        raise LocusDataError(f"--cost: {cost!r} is not params_b or cost_per_1k_tokens")
    store = open_store(root)
    pool = ModelPool.load(store, version)
    data = load_evaluation_set(store, pool.checkpoint.encoder, model_ids=pool.model_ids)
    test = split_queries(data.query_ids, pool.checkpoint.meta["train_config"]["split_seed"]).test
    order = [pool.position(m) for m in data.model_ids]
    probs = pool.predict(data.phi[test], np.asarray(order))  # [queries, models], models in data order
    prices = np.array([pool.models.get(m, {}).get(cost) or np.nan for m in data.model_ids], dtype=float)
    chosen = select(method, pool.z[order], probs, k=k, cost=prices, budget=budget)
    measured = measured_routing(probs.T, data.dense(test), chosen)
    table = Table(title=f"{method} portfolio of {len(chosen)} models (version {pool.version})")
    for column in ("model", cost):
        table.add_column(column)
    for c in chosen:
        table.add_row(data.model_ids[c], "" if np.isnan(prices[c]) else f"{prices[c]:g}")
    console.print(table)
    console.print(f"test queries: routing accuracy among the portfolio {measured['routing_acc']:.3f}; random "
                  f"portfolios of {len(chosen)}: {measured['random_mean']:.3f} +- {measured['random_std']:.3f}; "
                  f"predicted {probs[:, chosen].max(axis=1).mean():.3f}")
