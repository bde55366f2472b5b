"""`locus eval run` (vLLM answers benchmark queries, scored and stored), `locus score` (re-score
generations from a file with any text scorer) and `locus drift` (is a served model still the one
that was evaluated?)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from locus.cli.common import DEFAULT_ROOT, Root, Version, console, open_store, reports_errors, write_json
from locus.drift import MAX_CHANGED, PROBES, RATIO
from locus.errors import LocusDataError

eval_app = typer.Typer(help="Evaluation jobs: models answer benchmark queries with vLLM; scored and stored.",
    rich_markup_mode=None, no_args_is_help=True)


@eval_app.command("run")
@reports_errors
def run(config: Annotated[Path, typer.Argument(help="YAML evaluation config (root, models, benchmarks, ...)")],
        address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: start a local one)")]
        = None) -> None:
    """Generate, score and store every missing (model, query) pair of the config; safe to re-run."""
    from locus.eval_config import EvalConfig
    from locus.jobs.evaluate import run_evaluation

    reports = run_evaluation(EvalConfig.from_yaml(config), address=address, log=console.print)
    table = Table(title="evaluation job")
    for column in ("model", "benchmark", "new evaluations", "already stored"):
        table.add_column(column)
    for report in reports:
        for bench, n in report.generated.items():
            table.add_row(report.model_id, bench, str(n), str(report.skipped[bench]))
    console.print(table)


@reports_errors
def score(scorer: Annotated[str | None, typer.Option(help="scorer name (see --list)")] = None,
          input: Annotated[Path | None, typer.Option(help="JSONL/Parquet/CSV with query_id, output, answer")] = None,
          output: Annotated[Path | None, typer.Option(help="where to write the rows with a `score` column")] = None,
          pattern: Annotated[str | None, typer.Option(help="regex scorer: the pattern (first group = answer)")]
          = None,
          list_: Annotated[bool, typer.Option("--list", help="name every scorer and exit")] = False) -> None:
    """Re-score generations: adds a `score` column; every other column passes through unchanged."""
    from locus.scorers import describe, text_scorer

    if list_:
        for name, text in describe().items():
            console.print(f"[bold]{name}[/]: {text}")
        return
    if scorer is None or input is None or output is None:
        raise LocusDataError("give --scorer, --input and --output (or --list)")
    from locus.importers.table import read_table_file, write_table_file

    scoring = text_scorer(scorer, **({"pattern": pattern} if pattern else {}))
    table = read_table_file(input, required=("query_id", "output", "answer"), name="generations")
    scores = [scoring.score(o, a) for o, a in zip(table.column("output").to_pylist(),
                                                  table.column("answer").to_pylist(), strict=True)]
    import pyarrow as pa

    write_table_file(table.append_column("score", pa.array(scores, pa.float32())), output)
    console.print(f"scored {table.num_rows} rows with {scorer}: mean {sum(scores) / max(1, len(scores)):.3f} "
                  f"-> {output}")


@reports_errors
def drift(model: Annotated[str, typer.Option(help="the served model to check (its id in the store)")] = ...,
          root: Root = DEFAULT_ROOT, version: Version = "latest",
          base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible API root serving it (default: its "
                                                            "served_at in the models table)")] = None,
          served_name: Annotated[str | None, typer.Option(help="the name the backend knows it by (default: --model)")]
          = None,
          api_key_env: Annotated[str | None, typer.Option(help="environment variable holding the backend's key")]
          = None,
          config: Annotated[Path | None, typer.Option(help="the evaluation config (YAML) that evaluated it: its "
                                                           "benchmark's prompt and scorer, and its sampling")] = None,
          benchmark: Annotated[str | None, typer.Option(help="which benchmark of --config (default: its first)")]
          = None,
          stored_scorer: Annotated[str | None, typer.Option(help="the scorer of its stored evaluations, where "
                                                                   "not the benchmark's (mmlu-pro-pred for imported "
                                                                   "MMLU-Pro outputs)")] = None,
          probes: Annotated[int, typer.Option(help="queries it was evaluated on to ask again")] = PROBES,
          ratio: Annotated[float, typer.Option(help="flag when its answers embed over this many spreads "
                                                    "from its stored ones")] = RATIO,
          max_changed: Annotated[float, typer.Option(help="flag when more of the probe's scores than this changed")]
          = MAX_CHANGED,
          seed: Annotated[int, typer.Option(help="seed of the probe set")] = 0,
          out: Annotated[Path | None, typer.Option(help="write the report here (JSON)")] = None) -> None:
    """Is the model behind a name still the one that was evaluated? Asks it again some queries it was
    evaluated on, scores the answers as the evaluation did, and compares them, and their embedding,
    with what is stored. Exits 1 when the model is flagged (for schedules and alerts)."""
    import os

    from locus.drift import ask_backend, drift_of_served_model
    from locus.eval_config import probe_spec

    store = open_store(root)
    bench, sampling = probe_spec(config, benchmark)
    if base_url is None:
        rows = [r for r in store.read_models().to_pylist() if r["model_id"] == model]
        base_url = rows[0]["served_at"] if rows else None
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise LocusDataError(f"--base-url: {model!r} has no http(s) served_at in the models table; give it")
    key = os.environ.get(api_key_env) if api_key_env else None
    report = drift_of_served_model(
        store, model, lambda prompts: ask_backend(base_url, served_name or model, prompts, sampling, api_key=key),
        prompt=bench.prompt, scorer=bench.scorer.name, scorer_params=bench.scorer.params,
        stored_scorer=stored_scorer, probes=probes,
        version=version, seed=seed, ratio=ratio, max_changed=max_changed)
    console.print(f"{model} at {base_url}: {report.probes} queries asked again; its answers embed "
                  f"{report.distance:.3f} from its stored ones on them = {report.ratio:.2f} x the spread between two "
                  f"sets of its own evaluations ({report.spread:.3f}); {report.to_registered:.3f} from its registered "
                  f"embedding; {report.changed:.0%} of the scores changed")
    console.print(f"[bold red]flagged[/]: {'; '.join(report.reasons)}" if report.flagged else "[green]not flagged[/]")
    if out is not None:
        write_json(out, report.as_dict())
    if report.flagged:
        raise typer.Exit(1)
