"""`locus quickstart`: the whole platform on a local Ray cluster and the bundled real sample."""

from __future__ import annotations

from typing import Annotated

import typer

from jobs.quickstart import QuickstartConfig as Q
from locus.cli.common import Root, console, described, reports_errors

# the defaults are QuickstartConfig's, defined once there: flags left unset keep them


@reports_errors
def quickstart(root: Root = Q.model_fields["root"].default,
               workers: Annotated[int | None, typer.Option(help=described(Q, "workers"))] = None,
               max_epochs: Annotated[int | None, typer.Option(help=described(Q, "max_epochs"))] = None,
               steps_per_epoch: Annotated[int | None, typer.Option(help=described(Q, "steps_per_epoch"))] = None,
               queries: Annotated[int | None, typer.Option(help=described(Q, "queries"))] = None,
               port: Annotated[int | None, typer.Option(help=described(Q, "port"))] = None,
               keep_serving: Annotated[bool, typer.Option(help=Q.model_fields["keep_serving"].description)] = False,
               verbose: Annotated[bool, typer.Option("--verbose", "-v",
                                                     help=Q.model_fields["verbose"].description)] = False,
               address: Annotated[str | None, typer.Option(help=described(Q, "address"))] = None) -> None:
    """Import the bundled real sample, encode it (Ray Data), train (Ray Train), embed, compare with the
    baselines, write the report, then serve and route example questions over HTTP."""
    from jobs.quickstart import run_quickstart

    given = {"workers": workers, "max_epochs": max_epochs, "steps_per_epoch": steps_per_epoch, "queries": queries,
             "port": port, "address": address}
    config = Q(root=root, keep_serving=keep_serving, verbose=verbose,
                              **{k: v for k, v in given.items() if v is not None})
    run_quickstart(config, console)
