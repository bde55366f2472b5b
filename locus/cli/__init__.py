"""The `locus` command line, assembled from one module per command group."""

from __future__ import annotations

import typer

from locus.cli.bench import bench_app
from locus.cli.data import encode, import_app
from locus.cli.evaluation import drift, eval_app, score
from locus.cli.jobs import job_app
from locus.cli.quickstart import quickstart
from locus.cli.reporting import report
from locus.cli.selection import explore, onboard, portfolio
from locus.cli.serving import gateway, serve
from locus.cli.storage import store_app
from locus.cli.training import embed, fit, runs, train

app = typer.Typer(help="LOCUS: learn embeddings of LLMs from their evaluations; compare, select and route.",
    rich_markup_mode=None, no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(import_app, name="import")
app.add_typer(store_app, name="store")
app.command()(encode)
app.add_typer(eval_app, name="eval")
app.command()(score)
app.command()(drift)
app.command()(fit)
app.command()(train)
app.command()(runs)
app.command()(embed)
app.command()(serve)
app.command()(gateway)
app.command()(explore)
app.command()(portfolio)
app.command()(onboard)
app.command()(report)
app.add_typer(bench_app, name="bench")
app.add_typer(job_app, name="job")
app.command()(quickstart)

__all__ = ["app"]
