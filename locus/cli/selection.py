"""Deciding which models and which queries: `locus explore` (how models relate, judged on held-out
questions), `locus portfolio` (k models or a budget, no extra evaluations) and `locus onboard`
(the next queries to evaluate a new model on)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from locus.cli.common import DEFAULT_ROOT, Root, Version, console, open_store, reports_errors, write_json


@reports_errors
def portfolio(root: Root = DEFAULT_ROOT, version: Version = "latest",
              k: Annotated[int | None, typer.Option("--k", help="portfolio size")] = None,
              budget: Annotated[float | None, typer.Option(help="total cost allowed (coverage method)")] = None,
              method: Annotated[str, typer.Option(help="k-center | k-medoids | coverage")] = "coverage",
              cost: Annotated[str, typer.Option(help="models-table column that prices a model: params_b or "
                                                     "cost_per_1k_tokens")] = "params_b") -> None:
    """Pick models that cover the pool; report predicted and measured routing accuracy among them."""
    import numpy as np

    from locus.data import load_evaluation_set
    from locus.errors import LocusDataError
    from locus.heldout import trained_split
    from locus.portfolio import measured_routing, select
    from locus.routing import ModelPool

    if cost not in ("params_b", "cost_per_1k_tokens"):
        raise LocusDataError(f"--cost: {cost!r} is not params_b or cost_per_1k_tokens")
    store = open_store(root)
    pool = ModelPool.load(store, version)
    data = load_evaluation_set(store, pool.checkpoint.encoder, model_ids=pool.model_ids)
    test = trained_split(pool.checkpoint.meta, data.query_ids).test
    order = [pool.position(m) for m in data.model_ids]
    probs = pool.predict(data.phi[test], np.asarray(order))  # [queries, models], models in data order
    prices = pool.costs(cost)[order]
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


@reports_errors
def explore(root: Root = DEFAULT_ROOT, version: Version = "latest",
            k: Annotated[int, typer.Option("--k", help="neighbours listed per model")] = 3,
            out: Annotated[Path | None, typer.Option(help="write everything (matrices included) as JSON here")]
            = None) -> None:
    """Distances and nearest neighbours of every model, and how well embedding distance and predicted
    disagreement track the disagreement measured on held-out test questions."""
    from locus.explore import explore as run_explore
    from locus.heldout import load_heldout

    result = run_explore(load_heldout(open_store(root), version), k=k)
    table = Table(title=f"nearest neighbours (version {result['version']}; agreement on "
                        f"{result['test_queries']} test questions)")
    table.add_column("model")
    for i in range(1, k + 1):
        table.add_column(f"#{i} (distance, agreement)")
    for model, neighbours in result["neighbours"].items():
        table.add_row(model, *(f"{n['model_id']} ({n['distance']:.2f}, {n['agreement']:.2f})" for n in neighbours))
    console.print(table)
    d, p = result["distance_vs_disagreement"], result["predicted_vs_measured"]
    nearest, mean = result["nearest_neighbour_agreement"], result["mean_pair_agreement"]
    console.print(f"embedding distance vs measured disagreement: Pearson {d['pearson']:.3f}, Spearman "
                  f"{d['spearman']:.3f}\npredicted vs measured disagreement: Pearson {p['pearson']:.3f}, Spearman "
                  f"{p['spearman']:.3f}\nagreement with the nearest neighbour {nearest:.3f} (all pairs {mean:.3f})")
    if out is not None:
        write_json(out, result)


@reports_errors
def onboard(root: Root = DEFAULT_ROOT, version: Version = "latest",
            model: Annotated[str, typer.Option(help="the model to onboard (new, or with some evaluations stored); "
                                                    "with --run, its id, or the HF id or folder vLLM loads")]
            = ...,
            budget: Annotated[int, typer.Option(help="how many queries to propose (with --run: to have evaluated)")]
            = 64,
            strategy: Annotated[str, typer.Option(help="stratified | random | coverage | disagreement | "
                                                       "uncertainty (see `locus bench onboarding`)")]
            = "stratified",
            seed: Annotated[int, typer.Option(help="seed of tie-breaks and random picks")] = 0,
            out: Annotated[Path | None, typer.Option(help="write the proposed queries here (CSV, JSONL or Parquet)")]
            = None,
            run: Annotated[bool, typer.Option("--run", help="evaluate the model on them (the evaluation job: vLLM on "
                                                           "Ray), embed and register it, in one call")] = False,
            path: Annotated[str | None, typer.Option(help="--run: the HF id or folder of the weights (default: "
                                                          "the --config model of this id, else --model)")] = None,
            config: Annotated[Path | None, typer.Option(help="--run: an evaluation config (YAML) for the benchmarks, "
                                                            "prompts, scorers, sampling and resources (default: "
                                                            "each benchmark of the store, choice scorer)")] = None,
            served_at: Annotated[str | None, typer.Option(help="--run: the OpenAI-compatible API root serving it, "
                                                               "for the models table (a gateway routes to it)")]
            = None,
            served_name: Annotated[str | None, typer.Option(help="--run: the name --served-at knows it by "
                                                                 "(default: its id)")] = None,
            address: Annotated[str | None, typer.Option(help="--run: Ray cluster to join (default: start a local "
                                                             "one)")] = None) -> None:
    """Propose the next queries to evaluate a model on, so that its embedding is good after few
    evaluations; score them, then `locus embed --model ID --evaluations FILE`. With --run, do it
    all: evaluate, embed and register (a run cut short leaves the model unregistered; run it again
    to finish: what is stored counts)."""
    if run:
        _onboard_and_register(root, version, model, budget, strategy, seed, path, config, served_at, served_name,
                              address)
        return
    from locus.importers.table import write_table_file
    from locus.onboarding import plan

    proposed = plan(open_store(root), model, budget, strategy=strategy, version=version, seed=seed)
    table = Table(title=f"next {proposed.num_rows} queries for {model} ({strategy})")
    for column in ("query_id", "benchmark", "text"):
        table.add_column(column, overflow="ellipsis", no_wrap=column == "text", max_width=80 if column == "text"
                         else None)
    for row in proposed.slice(0, 20).to_pylist():
        table.add_row(row["query_id"], row["benchmark"] or "", row["text"].replace("\n", " ")[:200])
    console.print(table)
    if proposed.num_rows > 20:
        console.print(f"... and {proposed.num_rows - 20} more")
    if out is not None:
        write_table_file(proposed, out)
        console.print(f"wrote {out}; evaluate {model} on these queries, then "
                      f"`locus embed --root {root} --model {model} --evaluations <query_id,score file>`")


def _onboard_and_register(root: str, version: str, model: str, budget: int, strategy: str, seed: int,
                          path: str | None, config: Path | None, served_at: str | None, served_name: str | None,
                          address: str | None) -> None:
    import pyarrow.compute as pc

    from locus.eval_config import BenchmarkSpec, EvalConfig, ModelSpec, ScorerSpec
    from locus.jobs.onboard import onboard_model

    store = open_store(root)
    if config is not None:
        evaluation = EvalConfig.from_yaml(config).model_copy(update={"root": store.uri})
        named = {m.id: m for m in evaluation.models}
    else:
        benchmarks = sorted(b for b in pc.unique(store.read_queries().column("benchmark")).to_pylist() if b)
        evaluation = EvalConfig(root=store.uri, models=[ModelSpec(id=model, path=path or model)], benchmarks=[
            BenchmarkSpec(name=b, scorer=ScorerSpec(name="choice")) for b in benchmarks])
        named = {}
    spec = named.get(model) if path is None else None
    if spec is None:  # --model is the weights (its folder name the id) unless --path gives them
        local = Path(model).expanduser()
        model_id = local.name if path is None and local.exists() else model
        spec = ModelSpec(id=model_id, path=path or model, engine=named[model_id].engine if model_id in named else {})
    done = onboard_model(evaluation, spec, budget=budget, strategy=strategy, version=version, seed=seed,
                         served_at=served_at, served_name=served_name, address=address, log=console.print)
    console.print(f"[bold]{done.model_id}[/] registered in {done.version}: {done.evaluated_now} new evaluations "
                  f"({done.evaluated_before} before), embedded from {done.n_evaluations}")
