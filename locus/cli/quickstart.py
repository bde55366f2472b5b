"""`locus quickstart`: the whole platform on a local Ray cluster and the bundled real sample."""

from __future__ import annotations

from typing import Annotated

import typer

from locus.cli.common import Root, console, reports_errors


@reports_errors
def quickstart(root: Root = "./locus-quickstart",
               workers: Annotated[int, typer.Option(help="Ray Train workers")] = 2,
               max_epochs: Annotated[int, typer.Option(help="upper bound on training epochs")] = 8,
               steps_per_epoch: Annotated[int, typer.Option(help="optimiser steps per epoch")] = 100,
               queries: Annotated[int | None, typer.Option(help="use only the first N sample questions "
                                                                "(default: all 3,000)")] = None,
               port: Annotated[int, typer.Option(help="HTTP port of the Serve app")] = 8000,
               keep_serving: Annotated[bool, typer.Option(help="keep the Serve app up until Ctrl-C")] = False,
               address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: start a local one)")]
               = None) -> None:
    """Import the bundled real sample, encode it (Ray Data), train (Ray Train), embed, compare with the
    baselines, write the report, then serve and route example questions over HTTP."""
    from jobs.quickstart import QuickstartConfig, run_quickstart

    run_quickstart(QuickstartConfig(root=root, workers=workers, max_epochs=max_epochs,
                                    steps_per_epoch=steps_per_epoch, queries=queries, port=port,
                                    keep_serving=keep_serving, address=address), console)
