"""The `locus` command line: import, encode, fit, embed, benchmark, quickstart."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from locus.errors import LocusDataError

app = typer.Typer(help="LOCUS: learn embeddings of LLMs from their evaluations; compare, select and route.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
import_app = typer.Typer(help="Bring evaluation results into the store.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (measured, never asserted in tests).", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(bench_app, name="bench")
console = Console(soft_wrap=True)  # long paths and messages stay whole for copy-paste

Root = Annotated[str, typer.Option("--root", help="storage root: a path or a pyarrow URI (s3://...)")]
Encoder = Annotated[str, typer.Option("--encoder", help="sentence-transformers name or path of the query encoder")]
DEFAULT_ROOT = "./locus-data"


def _fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def _reports_errors(command: Callable) -> Callable:
    """Bad input (data, config or flags) ends the command with a one-line message and exit code 2."""
    from pydantic import ValidationError

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (LocusDataError, ValidationError) as exc:
            _fail(exc)

    return wrapper


def _store(root: str):
    from locus.store import Store

    return Store(root)


@import_app.command("mmlu-pro")
@_reports_errors
def import_mmlu_pro(paths: Annotated[list[Path], typer.Argument(help="model_outputs_<MODEL>_5shots.zip files")],
                    root: Root = DEFAULT_ROOT) -> None:
    """Import the MMLU-Pro authors' published outputs (one zip per model)."""
    from locus.importers import read_mmlu_pro

    _write(_store(root), *read_mmlu_pro(paths))


@import_app.command("table")
@_reports_errors
def import_table(queries: Annotated[Path, typer.Option(help="CSV/JSONL/Parquet: query_id, text[, benchmark, answer]")],
                 evaluations: Annotated[Path, typer.Option(help="CSV/JSONL/Parquet: model_id, query_id, score")],
                 scorer: Annotated[str, typer.Option(help="scorer name recorded when the file has none")] = "imported",
                 root: Root = DEFAULT_ROOT) -> None:
    """Import queries and evaluations in generic long format (any harness)."""
    from locus.importers.table import read_evaluations_file, read_queries_file

    _write(_store(root), read_queries_file(queries), read_evaluations_file(evaluations, scorer=scorer))


@import_app.command("sample")
@_reports_errors
def import_sample(root: Root = DEFAULT_ROOT) -> None:
    """Import the bundled real sample (MMLU-Pro outputs of 29 LLMs; see locus/sample/NOTICE)."""
    from locus.sample import sample_tables

    _write(_store(root), *sample_tables())


def _write(store, queries, evaluations) -> None:
    from locus.importers import import_tables

    report = import_tables(store, queries, evaluations)
    console.print(f"imported {report.queries} queries ({report.new_queries} new) and {report.evaluations} "
                  f"evaluations of {report.models} models into {store.uri}")


@app.command()
@_reports_errors
def encode(root: Root = DEFAULT_ROOT, encoder: Encoder = "all-MiniLM-L6-v2",
           batch_size: Annotated[int, typer.Option(help="sentences per batch")] = 64) -> None:
    """Embed query texts with a sentence encoder; only queries not yet encoded are processed."""
    from locus.encoders import encode_store

    report = encode_store(_store(root), encoder, batch_size=batch_size, progress=True)
    console.print(f"{report.encoder}: encoded {report.encoded} new of {report.total} queries ({report.dim}-d)")


@app.command()
@_reports_errors
def fit(root: Root = DEFAULT_ROOT, encoder: Encoder = "all-MiniLM-L6-v2",
        budget: Annotated[int | None, typer.Option(help="training evaluations per model (default: all)")] = None,
        max_epochs: Annotated[int, typer.Option(help="upper bound on epochs")] = 30,
        steps_per_epoch: Annotated[int, typer.Option(help="optimiser steps per epoch")] = 100,
        patience: Annotated[int, typer.Option(help="epochs without improvement before stopping")] = 4,
        monitor: Annotated[str, typer.Option(help="val_loss | correctness_acc | routing_acc | auc")] = "val_loss",
        seed: Annotated[int, typer.Option(help="seed of initialisation and sampling")] = 0,
        split_seed: Annotated[int, typer.Option(help="seed of the query split")] = 0,
        max_minutes: Annotated[float | None, typer.Option(help="wall-time limit")] = None,
        scorer: Annotated[str | None, typer.Option(help="use only evaluations of this scorer")] = None,
        dim: Annotated[int, typer.Option(help="embedding width d")] = 128,
        num_latents: Annotated[int, typer.Option(help="latents r per block")] = 64,
        depth: Annotated[int, typer.Option(help="latent-bottleneck blocks L")] = 2) -> None:
    """Train the LOCUS encoder and predictor on the store; save a checkpoint and report test quality."""
    from locus.training import TrainConfig
    from locus.training.run import fit_store

    config = TrainConfig(budget=budget, max_epochs=max_epochs, steps_per_epoch=steps_per_epoch,
                         patience=patience, monitor=monitor, seed=seed, split_seed=split_seed,
                         max_minutes=max_minutes)
    summary = fit_store(_store(root), encoder=encoder, train_config=config, scorer=scorer,
                        model_overrides={"dim": dim, "num_latents": num_latents, "depth": depth},
                        on_epoch=_print_epoch)
    console.print(f"best epoch {summary.result.best_epoch} of {len(summary.result.history)} "
                  f"({summary.result.seconds:.0f} s); checkpoint [bold]{summary.version}[/]")
    _print_test(summary.test, summary.num_models, summary.num_queries)


def _print_epoch(m: dict[str, float]) -> None:
    console.print(f"epoch {m['epoch']:>3}  train_loss {m['train_loss']:.4f}  val_loss {m['val_loss']:.4f}  "
                  f"val correctness {m['correctness_acc']:.3f}  val routing {m['routing_acc']:.3f}  "
                  f"auc {m['auc']:.3f}  [{m['seconds']:.0f} s]")


def _print_test(test: dict[str, float], num_models: int, num_queries: int) -> None:
    table = Table(title=f"test split ({num_models} models, {num_queries} queries in store)")
    for column in ("metric", "LOCUS", "single best", "oracle"):
        table.add_column(column)
    table.add_row("routing accuracy", f"{test['routing_acc']:.3f}", f"{test['single_best']:.3f}",
                  f"{test['oracle']:.3f}")
    table.add_row("hit@3", f"{test['hit3']:.3f}", "", "")
    table.add_row("correctness accuracy", f"{test['correctness_acc']:.3f}", "", "")
    table.add_row("ROC AUC", f"{test['auc']:.3f}", "", "")
    console.print(table)


@app.command()
@_reports_errors
def embed(root: Root = DEFAULT_ROOT,
          version: Annotated[str, typer.Option(help="checkpoint version, or 'latest'")] = "latest",
          model: Annotated[str | None, typer.Option(help="embed only this model")] = None,
          evaluations: Annotated[Path | None, typer.Option(
              help="new evaluations of --model (CSV/JSONL/Parquet: query_id, score); stored, then embedded")] = None,
          scorer: Annotated[str | None, typer.Option(help="use only evaluations of this scorer")] = None) -> None:
    """Embed models with a trained checkpoint (one forward pass each; no retraining)."""
    from locus.embedding import embed_store

    store = _store(root)
    if evaluations is not None:
        if model is None:
            raise LocusDataError("--evaluations needs --model to name the model they belong to")
        _store_model_evaluations(store, model, evaluations)
    version, ids = embed_store(store, version, model_ids=[model] if model else None, scorer=scorer, progress=True)
    console.print(f"embedded {len(ids)} model(s) with checkpoint {version} into "
                  f"{store.path('model_embeddings')}")


def _store_model_evaluations(store, model: str, path: Path) -> None:
    import pyarrow as pa

    from locus.importers.table import read_table_file

    table = read_table_file(path, required=("query_id", "score"), name="evaluations")
    if "model_id" in table.column_names:
        others = set(table.column("model_id").to_pylist()) - {model}
        if others:
            raise LocusDataError(f"evaluations: {path} holds rows of model_id={sorted(others)[0]!r}, not {model!r}")
        table = table.drop_columns(["model_id"])
    table = table.append_column("model_id", pa.repeat(pa.scalar(model), table.num_rows))
    if "scorer" not in table.column_names:
        table = table.append_column("scorer", pa.repeat(pa.scalar("imported"), table.num_rows))
    store.write_evaluations(table)


@bench_app.command("speed")
@_reports_errors
def bench_speed(out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None,
                repeats: Annotated[int, typer.Option(help="timed repetitions per case")] = 3) -> None:
    """Embedding throughput (models/s) against the FLOP count and the machine's matmul FLOP/s."""
    from locus.bench.speed import run_speed_benchmark

    run_speed_benchmark(out=out, repeats=repeats, console=console)


@bench_app.command("quality")
@_reports_errors
def bench_quality(root: Root = DEFAULT_ROOT, encoder: Encoder = "all-MiniLM-L6-v2",
                  budgets: Annotated[str, typer.Option(help="training evaluations per model, comma-separated; "
                                                            "'all' for every training evaluation")] = "128,256,1024",
                  seed: Annotated[int, typer.Option(help="seed of the split, subsets and training")] = 0,
                  methods: Annotated[str, typer.Option(help="comma-separated subset of "
                                                            "locus,mf,irt,knn,single_best,random,oracle")] = "",
                  holdout_models: Annotated[int, typer.Option(help="also embed K models LOCUS never trained on")] = 0,
                  out: Annotated[Path | None, typer.Option(help="write the results as JSON here")] = None) -> None:
    """LOCUS against matrix factorisation, IRT, kNN, single best, random and oracle on the same split."""
    import json

    from locus.bench.quality import METHODS, run_quality_benchmark

    chosen = tuple(m.strip() for m in methods.split(",") if m.strip()) or METHODS
    if unknown := [m for m in chosen if m not in METHODS]:
        raise LocusDataError(f"--methods: unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    try:
        parsed = [None if b.strip() == "all" else int(b) for b in budgets.split(",")]
    except ValueError as exc:
        raise LocusDataError(f"--budgets: expected whole numbers or 'all', got {budgets!r}") from exc
    results = run_quality_benchmark(_store(root), encoder=encoder, budgets=parsed, seed=seed, methods=chosen,
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
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))


OutDir = Annotated[Path, typer.Option(help="folder for the JSON results and the PNG plot")]
Version = Annotated[str, typer.Option(help="checkpoint version to embed with, or 'latest'")]
Seed = Annotated[int, typer.Option(help="seed of the split, subsets and training")]


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError as exc:
        raise LocusDataError(f"{flag}: expected comma-separated whole numbers, got {text!r}") from exc


@bench_app.command("sample-efficiency")
@_reports_errors
def bench_sample_efficiency(root: Root = DEFAULT_ROOT, encoder: Encoder = "all-MiniLM-L6-v2",
                            budgets: Annotated[str, typer.Option(help="evaluations per model")] =
                            "32,64,128,256,512,1024,4096",
                            seed: Seed = 0, out_dir: OutDir = Path("benchmarks/results")) -> None:
    """Accuracy vs evaluations per model for LOCUS, matrix factorisation and IRT."""
    from locus.bench.experiments import sample_efficiency

    results = sample_efficiency(_store(root), out_dir, encoder=encoder, budgets=_ints(budgets, "--budgets"),
                                seed=seed, log=console.print)
    console.print({"factor_to_match_locus": results.get("factor_to_match_locus")})


@bench_app.command("query-overlap")
@_reports_errors
def bench_query_overlap(root: Root = DEFAULT_ROOT, version: Version = "latest",
                        size: Annotated[int, typer.Option(help="evaluations per embedding")] = 256,
                        seed: Seed = 0, out_dir: OutDir = Path("benchmarks/results")) -> None:
    """Correctness accuracy when embeddings come from query sets of varying overlap."""
    from locus.bench.experiments import query_overlap

    results = query_overlap(_store(root), out_dir, version=version, size=size, seed=seed, log=console.print)
    console.print(f"correctness spread across overlaps: {results['correctness_spread']:.4f}")


@bench_app.command("stability")
@_reports_errors
def bench_stability(root: Root = DEFAULT_ROOT, version: Version = "latest",
                    sizes: Annotated[str, typer.Option(help="evaluations per embedding")] = "32,64,128,256,512,1024",
                    seed: Seed = 0, out_dir: OutDir = Path("benchmarks/results")) -> None:
    """Are two embeddings of a model from disjoint evaluations closer to each other than to others?"""
    from locus.bench.experiments import stability

    stability(_store(root), out_dir, version=version, sizes=tuple(_ints(sizes, "--sizes")), seed=seed,
              log=console.print)


@bench_app.command("latents")
@_reports_errors
def bench_latents(root: Root = DEFAULT_ROOT, encoder: Encoder = "all-MiniLM-L6-v2",
                  counts: Annotated[str, typer.Option(help="numbers of latents r")] = "16,32,64,128",
                  seed: Seed = 0, out_dir: OutDir = Path("benchmarks/results")) -> None:
    """Routing accuracy and embedding time for each number of latents."""
    from locus.bench.experiments import latent_count

    latent_count(_store(root), out_dir, encoder=encoder, counts=tuple(_ints(counts, "--counts")), seed=seed,
                 log=console.print)


@app.command()
@_reports_errors
def quickstart(root: Root = "./locus-quickstart",
               max_epochs: Annotated[int, typer.Option(help="upper bound on training epochs")] = 30) -> None:
    """Import the bundled real sample, encode its queries, fit, embed, and print test quality."""
    console.rule("[bold]1/4 import the bundled MMLU-Pro sample")
    import_sample(root)
    console.rule("[bold]2/4 encode queries")
    encode(root)
    console.rule("[bold]3/4 fit LOCUS")
    fit(root, max_epochs=max_epochs)
    console.rule("[bold]4/4 embed every model")
    embed(root)
