"""Training and embedding: `locus fit` (one process), `locus train` (Ray Train), `locus runs`
(the registry of trained versions) and `locus embed` (one process or a Ray Data job)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from locus.cli.common import (
    DEFAULT_ENCODER,
    DEFAULT_ROOT,
    Encoder,
    Root,
    Verbose,
    Version,
    console,
    open_store,
    ray_logs,
    reports_errors,
)
from locus.errors import LocusDataError
from locus.store import resolve_root

Budget = Annotated[int | None, typer.Option(help="training evaluations per model (default: all)")]
MaxEpochs = Annotated[int | None, typer.Option(help="upper bound on epochs (default: 30)")]
StepsPerEpoch = Annotated[int | None, typer.Option(help="optimiser steps per epoch (default: 100)")]
Patience = Annotated[int | None, typer.Option(help="epochs without improvement before stopping (default: 4)")]
Monitor = Annotated[str | None, typer.Option(
    help="validation metric for early stopping and the best checkpoint: val_loss | correctness_acc | "
         "routing_acc | auc (default: val_loss)")]
TrainSeed = Annotated[int | None, typer.Option("--seed", help="seed of initialisation and sampling (default: 0)")]
SplitSeed = Annotated[int | None, typer.Option(help="seed of the query split (default: 0)")]
Split = Annotated[str | None, typer.Option(
    help="hash: a query's part follows from its id and the seed, so added queries move none | permutation: "
         "the published LOCUS split of the sorted ids (default: hash)")]
MaxMinutes = Annotated[float | None, typer.Option(help="wall-time limit (default: none)")]
Scorer = Annotated[str | None, typer.Option(help="use only evaluations of this scorer")]
Dim = Annotated[int | None, typer.Option(help="embedding width d (default: 128)")]
Latents = Annotated[int | None, typer.Option(help="latents r per block (default: 64)")]
Depth = Annotated[int | None, typer.Option(help="latent-bottleneck blocks L (default: 2)")]


def _given(**values) -> dict:
    """The options the user set; everything else keeps the typed config's default."""
    return {k: v for k, v in values.items() if v is not None}


@reports_errors
def fit(root: Root = DEFAULT_ROOT, encoder: Encoder = DEFAULT_ENCODER, budget: Budget = None,
        max_epochs: MaxEpochs = None, steps_per_epoch: StepsPerEpoch = None, patience: Patience = None,
        monitor: Monitor = None, seed: TrainSeed = None, split_seed: SplitSeed = None, split: Split = None,
        max_minutes: MaxMinutes = None, scorer: Scorer = None, dim: Dim = None, num_latents: Latents = None,
        depth: Depth = None,
        data_of: Annotated[str | None, typer.Option(
            help="train on exactly the data VERSION trained on: every table read at the version it recorded "
                 "(time travel)")] = None) -> None:
    """Train the LOCUS encoder and predictor in this process; register a version and report test quality."""
    from locus.data import trainable_models

    store = open_store(root)
    if data_of is not None:
        from locus.checkpoint import training_data

        store = training_data(store, data_of)
    trainable_models(store, encoder)  # before torch is imported: an empty store answers at once
    from locus.training import TrainConfig
    from locus.training.run import fit_store

    config = TrainConfig(**_given(budget=budget, max_epochs=max_epochs, steps_per_epoch=steps_per_epoch,
                                  patience=patience, monitor=monitor, seed=seed, split_seed=split_seed,
                                  split=split, max_minutes=max_minutes))
    summary = fit_store(store, encoder=encoder, train_config=config, scorer=scorer,
                        model_overrides=_given(dim=dim, num_latents=num_latents, depth=depth), on_epoch=_print_epoch)
    console.print(f"best epoch {summary.result.best_epoch} of {len(summary.result.history)} "
                  f"({summary.result.seconds:.0f} s); checkpoint [bold]{summary.version}[/]; routing shrinkage "
                  f"{summary.result.routing.shrinkage:.1f} (1: trust per-query differences, 0: one best model)")
    _print_test(summary.test, summary.num_models, summary.num_queries)


@reports_errors
def train(root: Annotated[str | None, typer.Option(
              callback=lambda v: v and resolve_root(v),
              help=f"storage root: a path or a pyarrow URI (s3://...) [default: `root:` of --config, else "
                   f"{DEFAULT_ROOT}]")] = None,
          config: Annotated[Path | None, typer.Option(help="YAML TrainJobConfig (root, encoder, train, model, "
                                                           "scaling, max_failures, ...); flags override it")] = None,
          workers: Annotated[int | None, typer.Option(help="Ray Train workers (default: 2)")] = None,
          gpu: Annotated[bool | None, typer.Option("--gpu/--cpu", help="one GPU per worker (nccl) or CPU (gloo)")]
          = None,
          cpus_per_worker: Annotated[float | None, typer.Option(help="CPUs per worker (default: 1)")] = None,
          address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: RAY_ADDRESS, else start a "
                                                           "local one)")] = None,
          encoder: Annotated[str | None, typer.Option(help="query encoder (default: all-MiniLM-L6-v2)")] = None,
          max_failures: Annotated[int | None, typer.Option(help="restarts from the last checkpoint after a lost "
                                                                "worker (default: 2)")] = None,
          name: Annotated[str | None, typer.Option(help="run name under <root>/runs (default: the version)")] = None,
          exclude: Annotated[list[str] | None, typer.Option(help="leave this model out of training (repeatable); "
                                                                 "embed it afterwards with `locus embed`")] = None,
          budget: Budget = None, max_epochs: MaxEpochs = None, steps_per_epoch: StepsPerEpoch = None,
          patience: Patience = None, monitor: Monitor = None, seed: TrainSeed = None, split_seed: SplitSeed = None,
          split: Split = None, max_minutes: MaxMinutes = None, scorer: Scorer = None, dim: Dim = None,
          num_latents: Latents = None,
          depth: Depth = None, verbose: Verbose = False) -> None:
    """Train with Ray Train (DDP over N workers, a checkpoint every epoch, resume after a lost worker);
    the best weights are registered as a version."""
    from jobs.train import TrainJobConfig, run_training

    base = TrainJobConfig.from_yaml(config).model_dump() if config else {}
    if root is None and "root" not in base:
        root = resolve_root(DEFAULT_ROOT)
    job = TrainJobConfig.model_validate(base | _given(
        root=root, encoder=encoder, scorer=scorer, max_failures=max_failures, name=name, exclude=exclude,
        train=base.get("train", {}) | _given(budget=budget, max_epochs=max_epochs, steps_per_epoch=steps_per_epoch,
                                             patience=patience, monitor=monitor, seed=seed, split_seed=split_seed,
                                             split=split, max_minutes=max_minutes),
        model=base.get("model", {}) | _given(dim=dim, num_latents=num_latents, depth=depth),
        scaling=base.get("scaling", {}) | _given(workers=workers, gpu=gpu, cpus_per_worker=cpus_per_worker)))
    console.print(f"training on {job.scaling.workers} {'GPU' if job.scaling.gpu else 'CPU'} worker(s); "
                  f"runs under {open_store(job.root).path('runs')}")
    with ray_logs(job.root, "train", verbose) as log:
        result = run_training(job, address=address, on_epoch=_print_epoch, log_file=log)
    metrics = result.metrics
    console.print(f"best epoch {metrics['best_epoch']} of {len(metrics['history'])} ({metrics['seconds']:.0f} s); "
                  f"registered version [bold]{result.version}[/]")
    _print_test(metrics["test"], len(result.snapshot["models"]), result.snapshot["n_queries"])


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


@reports_errors
def runs(root: Root = DEFAULT_ROOT,
         json_: Annotated[bool, typer.Option("--json", help="print every version's metadata as JSON: configs, "
                                                            "split, table versions read, metrics")] = False) -> None:
    """List the registered versions (newest last): encoder, data, split, metrics, time."""
    from locus.checkpoint import list_checkpoints

    entries = list_checkpoints(open_store(root))
    if json_:
        import json

        print(json.dumps(entries, indent=2))
        return
    if not entries:
        console.print(f"no registered versions in {root}; train one with `locus fit` or `locus train`")
        return
    encoders = sorted({e["encoder"] for e in entries if "error" not in e})
    table = Table(title=f"registered versions in {root}", box=None, padding=(0, 1), pad_edge=False)
    for column in ("version", "created", "models", "evals", "split", "routing", "correct"):
        table.add_column(column, no_wrap=True)
    for e in entries:
        if "error" in e:
            table.add_row(e["version"], f"[red]{e['error']}[/]")
            continue
        metrics, snapshot = e["metrics"], e["snapshot"]
        split = {"hash": "hash", "permutation": "perm"}.get(snapshot.get("split", "permutation"), "?")
        table.add_row(e["version"], e["created_at"][5:16].replace("T", " "), str(len(snapshot["models"])),
                      f"{snapshot['n_train_evaluations']:,}", f"{split} {snapshot.get('split_seed', 0)}",
                      f"{metrics['test']['routing_acc']:.3f}", f"{metrics['test']['correctness_acc']:.3f}")
    console.print(table)
    latest = next((e["version"] for e in entries if e.get("latest")), "none")
    console.print(f"latest: {latest}. Query encoder {', '.join(encoders)}; created in UTC; evals: training "
                  "evaluations; split: hash or the published permutation, and its seed; routing and correct: "
                  "test accuracy. Configs, table versions read and every metric: locus runs --json")


@reports_errors
def embed(root: Root = DEFAULT_ROOT, version: Version = "latest",
          model: Annotated[str | None, typer.Option(help="embed only this model")] = None,
          evaluations: Annotated[Path | None, typer.Option(
              help="new evaluations of --model (CSV/JSONL/Parquet: query_id, score); stored, then embedded")] = None,
          scorer: Scorer = None,
          ray: Annotated[bool, typer.Option("--ray", help="run as a Ray Data job (actor pool)")] = False,
          actors: Annotated[int, typer.Option(help="with --ray: actors holding the network")] = 1,
          gpu: Annotated[bool, typer.Option(help="with --ray: one GPU per actor")] = False,
          address: Annotated[str | None, typer.Option(help="with --ray: Ray cluster to join")] = None,
          verbose: Verbose = False) -> None:
    """Embed models with a registered version (one forward pass each; no retraining)."""
    from locus.checkpoint import resolve_version

    store = open_store(root)
    if evaluations is not None and model is None:
        raise LocusDataError("--evaluations needs --model to name the model they belong to")
    version = resolve_version(store, version)  # before anything is written or Ray starts
    if evaluations is not None:
        _store_model_evaluations(store, model, evaluations)
    models = [model] if model else None
    if ray:
        from jobs.embed import run_embedding
        from locus.progress import progress_bar

        count = len(models or store.model_ids())
        with ray_logs(root, "embed", verbose) as log, progress_bar(console, "embedding", count, unit="models") as step:
            result = run_embedding(root, version, model_ids=models, scorer=scorer, actors=actors, gpu=gpu,
                                   address=address, progress=step, log_file=log)
        version, ids = result.version, result.model_ids
    else:
        from locus.embedding import embed_store

        version, ids = embed_store(store, version, model_ids=models, scorer=scorer, progress=True)
    console.print(f"embedded {len(ids)} model(s) with version {version} into {store.path('model_embeddings')}")


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
