"""`locus report`: PNG figures and an HTML page for a registered version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from locus.cli.common import DEFAULT_ROOT, Root, Version, console, open_store, reports_errors


@reports_errors
def report(root: Root = DEFAULT_ROOT, version: Version = "latest",
           out: Annotated[Path, typer.Option(help="folder for the figures, report.json and index.html")]
           = Path("locus-report")) -> None:
    """Model map, distance heatmap, accuracy vs evaluations, portfolio curve and routing per benchmark,
    all measured on held-out test questions, as PNG figures and one HTML page."""
    from locus.report import build_report

    page = build_report(open_store(root), out, version=version, log=lambda m: console.print(f"[dim]{m}[/]"))
    console.print(f"report: [bold]{page.resolve().as_uri()}[/]")
