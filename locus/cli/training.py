"""Training and embedding: `locus fit` (one process), `locus train` (Ray Train), `locus runs`
(the registry of trained versions) and `locus embed` (one process or a Ray Data job)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from locus.checkpoint import CheckpointMeta
from locus.cli.common import (
    DEFAULT_ROOT,
    Flags,
    Root,
    Verbose,
    Version,
    config_flags,
    console,
    described,
    open_store,
    ray_logs,
    reports_errors,
)
from locus.errors import LocusDataError
from locus.jobs.train_config import ScalingSpec, TrainJobConfig
from locus.model import ModelShape
from locus.progress import epoch_line
from locus.store import resolve_root
from locus.training import TrainConfig, TrainRun

# the same flags for `fit` and `train`, each a field of the typed configs with its help and default
RUN_FLAGS = (Flags(TrainRun, fields=("encoder", "scorer", "exclude")), Flags(TrainConfig, at=("train",)),
             Flags(ModelShape, at=("model",)))


@reports_errors
@config_flags(*RUN_FLAGS)
def fit(root: Root = DEFAULT_ROOT, data_of: Annotated[str | None, typer.Option(
            help="train on exactly the data VERSION trained on: every table read at the version it recorded "
                 "(time travel)")] = None, *, settings: dict) -> None:
    """Train the LOCUS encoder and predictor in this process; register a version and report test quality.
    Every TrainConfig and ModelShape field is a flag; a flag left out keeps its default."""
    from locus.data import trainable_models

    store = open_store(root)
    if data_of is not None:
        from locus.checkpoint import training_data

        store = training_data(store, data_of)
    run = TrainRun.model_validate(settings)
    trainable_models(store, run.encoder, run.exclude)  # before torch is imported: an empty store answers at once
    from locus.training.run import train_version

    summary = train_version(store, run, on_epoch=_print_epoch)
    _print_registered(summary.meta)


@reports_errors
@config_flags(*RUN_FLAGS, Flags(ScalingSpec, at=("scaling",)),
              Flags(TrainJobConfig, fields=("max_failures", "keep_checkpoints", "name")))
def train(root: Annotated[str | None, typer.Option(
              callback=lambda v: v and resolve_root(v),
              help=f"storage root: a path or a pyarrow URI (s3://...) [default: `root:` of --config, else "
                   f"{DEFAULT_ROOT}]")] = None,
          config: Annotated[Path | None, typer.Option(help="YAML of a TrainJobConfig (root, encoder, train, model, "
                                                           "scaling, max_failures, ...); flags override it")] = None,
          address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: RAY_ADDRESS, else start a "
                                                           "local one)")] = None,
          verbose: Verbose = False, *,
          settings: dict) -> None:
    """Train with Ray Train (DDP over N workers, a checkpoint every epoch, resume after a lost worker);
    the best weights are registered as a version. Every TrainConfig, ModelShape and ScalingSpec
    field is a flag; a flag left out keeps the --config file's value, else the default."""
    from locus.config_files import merged, read_settings
    from locus.jobs.train import run_training

    base = read_settings(config) if config else {}
    if root is None and "root" not in base:
        root = resolve_root(DEFAULT_ROOT)
    settings |= {"root": root} if root else {}
    job = TrainJobConfig.model_validate(merged(base, settings))
    console.print(f"training on {job.scaling.workers} {'GPU' if job.scaling.gpu else 'CPU'} worker(s); "
                  f"runs under {open_store(job.root).path('runs')}")
    with ray_logs(job.root, "train", verbose) as log:
        result = run_training(job, address=address, on_epoch=_print_epoch, log_file=log)
    _print_registered(result.meta)


def _print_epoch(m: dict[str, float]) -> None:
    console.print(epoch_line(m), highlight=False)


def _print_registered(meta: CheckpointMeta) -> None:
    """What `fit` and `train` say at the end: the version, the calibration, test quality."""
    metrics, test = meta.metrics, meta.metrics.test
    console.print(f"best epoch {metrics.best_epoch} of {len(metrics.history)} ({metrics.seconds:.0f} s); registered "
                  f"version [bold]{meta.version}[/]; routing shrinkage {meta.routing.shrinkage:.1f} (1: trust "
                  "per-query differences, 0: one best model)")
    table = Table(title=f"test split ({len(meta.snapshot.models)} models, {meta.snapshot.n_queries} queries in store)")
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

        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return
    if not entries:
        console.print(f"no registered versions in {root}; train one with `locus fit` or `locus train`")
        return
    encoders = sorted({e.meta.encoder for e in entries if e.meta})
    table = Table(title=f"registered versions in {root}", box=None, padding=(0, 1), pad_edge=False)
    for column in ("version", "created", "models", "evals", "split", "routing", "correct"):
        table.add_column(column, no_wrap=True)
    for e in entries:
        if e.meta is None:
            table.add_row(e.version, f"[red]{e.error}[/]")
            continue
        snapshot, test = e.meta.snapshot, e.meta.metrics.test
        split = {"hash": "hash", "permutation": "perm"}[snapshot.split]
        table.add_row(e.version, e.meta.created_at[5:16].replace("T", " "), str(len(snapshot.models)),
                      f"{snapshot.n_train_evaluations:,}", f"{split} {snapshot.split_seed}",
                      f"{test['routing_acc']:.3f}", f"{test['correctness_acc']:.3f}")
    console.print(table)
    latest = next((e.version for e in entries if e.latest), "none")
    console.print(f"latest: {latest}. Query encoder {', '.join(encoders)}; created in UTC; evals: training "
                  "evaluations; split: hash or the published permutation, and its seed; routing and correct: "
                  "test accuracy. Configs, table versions read and every metric: locus runs --json")


@reports_errors
def embed(root: Root = DEFAULT_ROOT, version: Version = "latest",
          model: Annotated[str | None, typer.Option(help="embed only this model")] = None,
          evaluations: Annotated[Path | None, typer.Option(
              help="new evaluations of --model (CSV/JSONL/Parquet: query_id, score); stored, then embedded")] = None,
          scorer: Annotated[str | None, typer.Option(help=described(TrainRun, "scorer"))] = None,
          ray: Annotated[bool, typer.Option("--ray", help="run as a Ray Data job (actor pool)")] = False,
          actors: Annotated[int, typer.Option(help="with --ray: actors holding the network")] = 1,
          gpu: Annotated[bool, typer.Option(help="with --ray: one GPU per actor")] = False,
          address: Annotated[str | None, typer.Option(help="with --ray: Ray cluster to join")] = None,
          verbose: Verbose = False) -> None:
    """Embed models with a registered version (a forward pass and a short refinement each; no retraining)."""
    from locus.checkpoint import resolve_version

    store = open_store(root)
    if evaluations is not None and model is None:
        raise LocusDataError("--evaluations needs --model to name the model they belong to")
    version = resolve_version(store, version)  # before anything is written or Ray starts
    if evaluations is not None:
        _store_model_evaluations(store, model, evaluations)
    models = [model] if model else None
    from locus.progress import progress_bar

    count = len(models or store.model_ids())
    with progress_bar(console, "embedding", count, unit="models") as step:
        if ray:
            from locus.jobs.embed import run_embedding

            with ray_logs(root, "embed", verbose) as log:
                result = run_embedding(root, version, model_ids=models, scorer=scorer, actors=actors, gpu=gpu,
                                       address=address, progress=step, log_file=log)
            version, ids = result.version, result.model_ids
        else:
            from locus.embedding import embed_store

            version, ids = embed_store(store, version, model_ids=models, scorer=scorer, progress=step)
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
