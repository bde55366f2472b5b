"""`locus eval run` (vLLM answers benchmark queries, scored and stored) and `locus score`
(re-score generations from a file with any text scorer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from locus.cli.common import console, reports_errors
from locus.errors import LocusDataError

eval_app = typer.Typer(help="Evaluation jobs: models answer benchmark queries with vLLM; scored and stored.",
    rich_markup_mode=None, no_args_is_help=True)


@eval_app.command("run")
@reports_errors
def run(config: Annotated[Path, typer.Argument(help="YAML evaluation config (root, models, benchmarks, ...)")],
        address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: start a local one)")]
        = None) -> None:
    """Generate, score and store every missing (model, query) pair of the config; safe to re-run."""
    from locus.jobs.eval_config import EvalConfig
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
