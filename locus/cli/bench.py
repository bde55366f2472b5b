"""`locus bench ...`: quality and speed benchmarks (measured, never asserted in tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from locus.cli.common import (
    DEFAULT_ENCODER,
    DEFAULT_ROOT,
    Encoder,
    OutDir,
    Root,
    Seed,
    Version,
    console,
    ints,
    open_store,
    reports_errors,
    write_json,
)
from locus.errors import LocusDataError

bench_app = typer.Typer(help="Benchmarks (measured, never asserted in tests).",
    no_args_is_help=True, rich_markup_mode=None)


@bench_app.command("speed")
@reports_errors
def bench_speed(out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None,
                repeats: Annotated[int, typer.Option(help="timed repetitions per case")] = 3) -> None:
    """Embedding throughput (models/s) against the FLOP count and the machine's matmul FLOP/s."""
    from locus.bench.speed import run_speed_benchmark

    run_speed_benchmark(out=out, repeats=repeats, console=console)


@bench_app.command("quality")
@reports_errors
def bench_quality(root: Root = DEFAULT_ROOT, encoder: Encoder = DEFAULT_ENCODER,
                  budgets: Annotated[str, typer.Option(help="training evaluations per model, comma-separated; "
                                                            "'all' for every training evaluation")] = "128,256,1024",
                  seed: Annotated[int, typer.Option(help="seed of the split, subsets and training")] = 0,
                  methods: Annotated[str, typer.Option(help="comma-separated subset of "
                                                            "locus,mf,irt,knn,single_best,random,oracle")] = "",
                  holdout_models: Annotated[int, typer.Option(help="also embed K models LOCUS never trained on")] = 0,
                  out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None) -> None:
    """LOCUS against matrix factorisation, IRT, kNN, single best, random and oracle on the same split."""
    from locus.bench.quality import METHODS, run_quality_benchmark

    chosen = tuple(m.strip() for m in methods.split(",") if m.strip()) or METHODS
    if unknown := [m for m in chosen if m not in METHODS]:
        raise LocusDataError(f"--methods: unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    try:
        parsed = [None if b.strip() == "all" else int(b) for b in budgets.split(",")]
    except ValueError as exc:
        raise LocusDataError(f"--budgets: expected whole numbers or 'all', got {budgets!r}") from exc
    results = run_quality_benchmark(open_store(root), encoder=encoder, budgets=parsed, seed=seed, methods=chosen,
                                    holdout_models=holdout_models, log=console.print)
    table = Table(title=f"test split: {results['split']['test']} queries, {results['split']['test_cells']} cells")
    for column in ("method", "budget", "routing", "hit@3", "correctness", "AUC", "seconds"):
        table.add_column(column, justify="right")
    for method in chosen:
        for budget, r in results[method].items():
            table.add_row(method, budget, f"{r['routing_acc']:.3f}", f"{r['hit3']:.3f}", f"{r['correctness_acc']:.3f}",
                          f"{r['auc']:.3f}", f"{r['seconds']:.1f}")
    console.print(table)
    if out is not None:
        write_json(out, results)


@bench_app.command("sample-efficiency")
@reports_errors
def bench_sample_efficiency(root: Root = DEFAULT_ROOT, encoder: Encoder = DEFAULT_ENCODER,
                            budgets: Annotated[str, typer.Option(help="evaluations per model")] =
                            "32,64,128,256,512,1024,4096",
                            seed: Seed = 0, out_dir: OutDir = Path("benchmarks/results")) -> None:
    """Accuracy vs evaluations per model for LOCUS, matrix factorisation and IRT."""
    from locus.bench.experiments import sample_efficiency

    results = sample_efficiency(open_store(root), out_dir, encoder=encoder, budgets=ints(budgets, "--budgets"),
                                seed=seed, log=console.print)
    console.print({"factor_to_match_locus": results.get("factor_to_match_locus")})


@bench_app.command("query-overlap")
@reports_errors
def bench_query_overlap(root: Root = DEFAULT_ROOT, version: Version = "latest",
                        size: Annotated[int, typer.Option(help="evaluations per embedding")] = 256,
                        seed: Seed = 0, out_dir: OutDir = Path("benchmarks/results")) -> None:
    """Correctness accuracy when embeddings come from query sets of varying overlap."""
    from locus.bench.experiments import query_overlap

    results = query_overlap(open_store(root), out_dir, version=version, size=size, seed=seed, log=console.print)
    console.print(f"correctness spread across overlaps: {results['correctness_spread']:.4f}")


@bench_app.command("stability")
@reports_errors
def bench_stability(root: Root = DEFAULT_ROOT, version: Version = "latest",
                    sizes: Annotated[str, typer.Option(help="evaluations per embedding")] = "32,64,128,256,512,1024",
                    seed: Seed = 0, out_dir: OutDir = Path("benchmarks/results")) -> None:
    """Are two embeddings of a model from disjoint evaluations closer to each other than to others?"""
    from locus.bench.experiments import stability

    stability(open_store(root), out_dir, version=version, sizes=tuple(ints(sizes, "--sizes")), seed=seed,
              log=console.print)


@bench_app.command("latents")
@reports_errors
def bench_latents(root: Root = DEFAULT_ROOT, encoder: Encoder = DEFAULT_ENCODER,
                  counts: Annotated[str, typer.Option(help="numbers of latents r")] = "16,32,64,128",
                  seed: Seed = 0, out_dir: OutDir = Path("benchmarks/results")) -> None:
    """Routing accuracy and embedding time for each number of latents."""
    from locus.bench.experiments import latent_count

    latent_count(open_store(root), out_dir, encoder=encoder, counts=tuple(ints(counts, "--counts")), seed=seed,
                 log=console.print)




@bench_app.command("proxy")
@reports_errors
def bench_proxy(root: Root = DEFAULT_ROOT, version: Version = "latest",
                out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None) -> None:
    """Routing accuracy kept when each routed model is down and its nearest neighbour answers instead,
    against a random substitute and re-routing to the next-best predicted model (test questions)."""
    from locus.bench.proxy import proxy_benchmark
    from locus.heldout import load_heldout

    results = proxy_benchmark(load_heldout(open_store(root), version))
    table = Table(title=f"each routed model taken down in turn ({results['test_queries']} test questions)")
    for column in ("model down", "proxy", "queries", "own", "proxy acc", "random", "re-route"):
        table.add_column(column, justify="right")
    for r in results["models"]:
        table.add_row(r["model_id"], r["proxy"], str(r["queries"]), f"{r['own_acc']:.3f}", f"{r['proxy_acc']:.3f}",
                      f"{r['random_acc']:.3f}", f"{r['reroute_acc']:.3f}")
    console.print(table)
    console.print(f"routing accuracy kept: nearest-neighbour proxy {results['proxy_kept']:.1%}, random substitute "
                  f"{results['random_kept']:.1%}, re-routing {results['reroute_kept']:.1%}")
    if out is not None:
        write_json(out, results)


@bench_app.command("onboarding")
@reports_errors
def bench_onboarding(root: Root = DEFAULT_ROOT, encoder: Encoder = DEFAULT_ENCODER,
                     holdout: Annotated[int, typer.Option(help="models left out of training and onboarded")] = 5,
                     budgets: Annotated[str, typer.Option(help="evaluations of each onboarded model")] =
                     "4,8,16,32,64,128,256",
                     seeds: Annotated[str, typer.Option(help="seeds of the strategies' choices")] = "0,1,2,3",
                     out_dir: OutDir = Path("benchmarks/results")) -> None:
    """Held-out correctness accuracy vs evaluations for each onboarding strategy (random included)."""
    from locus.bench.onboarding import onboarding_benchmark

    results = onboarding_benchmark(open_store(root), out_dir, encoder=encoder, holdout=holdout,
                                   budgets=tuple(ints(budgets, "--budgets")), seeds=tuple(ints(seeds, "--seeds")),
                                   log=console.print)
    console.print({"evaluations_to_match_random": results.get("evaluations_to_match_random")})
