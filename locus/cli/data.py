"""Getting data in: `locus import ...` and `locus encode`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from locus.cli.common import (
    DEFAULT_ENCODER,
    DEFAULT_ROOT,
    Encoder,
    Root,
    Verbose,
    console,
    open_store,
    ray_logs,
    reports_errors,
)

import_app = typer.Typer(rich_markup_mode=None, help="Bring evaluation results into the store.", no_args_is_help=True)


@import_app.command("mmlu-pro")
@reports_errors
def import_mmlu_pro(paths: Annotated[list[Path], typer.Argument(help="model_outputs_<MODEL>_5shots.zip files")],
                    root: Root = DEFAULT_ROOT) -> None:
    """Import the MMLU-Pro authors' published outputs (one zip per model)."""
    from locus.importers import read_mmlu_pro

    _write(open_store(root), *read_mmlu_pro(paths))


@import_app.command("table")
@reports_errors
def import_table(queries: Annotated[Path, typer.Option(help="CSV/JSONL/Parquet: query_id, text[, benchmark, answer]")],
                 evaluations: Annotated[Path, typer.Option(help="CSV/JSONL/Parquet: model_id, query_id, score")],
                 scorer: Annotated[str, typer.Option(help="scorer name recorded when the file has none")] = "imported",
                 models: Annotated[Path | None, typer.Option(
                     help="CSV/JSONL/Parquet of model metadata: model_id[, display_name, family, params_b, "
                          "cost_per_1k_tokens, served_at, available, served_name]")] = None,
                 root: Root = DEFAULT_ROOT) -> None:
    """Import queries and evaluations in generic long format (any harness), with optional model metadata."""
    from locus.importers.table import read_evaluations_file, read_queries_file, read_table_file

    metadata = read_table_file(models, required=("model_id",), name="models") if models else None
    _write(open_store(root), read_queries_file(queries), read_evaluations_file(evaluations, scorer=scorer), metadata)


@import_app.command("sample")
@reports_errors
def import_sample(root: Root = DEFAULT_ROOT) -> None:
    """Import the bundled real sample (MMLU-Pro outputs of 29 LLMs; see locus/sample/NOTICE)."""
    from locus.sample import sample_models, sample_tables

    _write(open_store(root), *sample_tables(), sample_models())


def _write(store, queries, evaluations, models=None) -> None:
    from locus.importers import import_tables

    report = import_tables(store, queries, evaluations, models)
    console.print(f"imported {report.queries} queries ({report.new_queries} new) and {report.evaluations} "
                  f"evaluations of {report.models} models into {store.uri}")


@reports_errors
def encode(root: Root = DEFAULT_ROOT, encoder: Encoder = DEFAULT_ENCODER,
           batch_size: Annotated[int, typer.Option(help="sentences per batch")] = 64,
           ray: Annotated[bool, typer.Option("--ray", help="run as a Ray Data job (actor pool of encoders)")] = False,
           actors: Annotated[int, typer.Option(help="with --ray: encoder actors")] = 1,
           gpu: Annotated[bool, typer.Option(help="with --ray: one GPU per actor")] = False,
           address: Annotated[str | None, typer.Option(help="with --ray: Ray cluster to join")] = None,
           verbose: Verbose = False) -> None:
    """Embed query texts with a sentence encoder; only queries not yet encoded are processed, and
    each chunk is stored as it is done."""
    from locus.encoders import encode_store, queries_to_encode
    from locus.progress import progress_bar

    store = open_store(root)
    pending = queries_to_encode(store, encoder)
    with progress_bar(console, "encoding", pending.num_rows, unit="queries") as advance:
        if ray:
            from locus.jobs.encode import run_encoding

            with ray_logs(root, "encode", verbose) as log:
                report = run_encoding(root, encoder, actors=actors, batch_size=batch_size, gpu=gpu, address=address,
                                      pending=pending, progress=advance, log_file=log)
        else:
            report = encode_store(store, encoder, batch_size=batch_size, pending=pending, progress=advance)
    console.print(f"{report.encoder}: encoded {report.encoded} new of {report.total} queries ({report.dim}-d)"
                  + (" with Ray Data" if ray else ""))
    if report.describe():
        console.print(f"of those: {report.describe()}", highlight=False)
