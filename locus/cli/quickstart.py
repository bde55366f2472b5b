"""`locus quickstart`: the whole pipeline on the bundled real sample."""

from __future__ import annotations

from typing import Annotated

import typer

from locus.cli.common import Root, console, reports_errors
from locus.cli.data import encode, import_sample
from locus.cli.training import embed, fit


@reports_errors
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
