"""`locus report`: PNG figures and an HTML page for a registered version."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from locus.cli.common import DEFAULT_ROOT, Root, Version, console, open_store, reports_errors


@reports_errors
def report(root: Root = DEFAULT_ROOT, version: Version = "latest",
           out: Annotated[Path | None, typer.Option(help="folder for the figures, report.json and index.html "
                                                         "[default: <root>/report for a local root, else ./report]")]
           = None) -> None:
    """Model map, distance heatmap, accuracy vs evaluations, portfolio curve and routing per benchmark,
    all measured on held-out test questions, as PNG figures and one HTML page."""
    from locus.checkpoint import resolve_version
    from locus.report import build_report

    store = open_store(root)
    resolve_version(store, version)  # before any folder is made
    out = out or (Path(store.path("report")) if "://" not in store.uri else Path("report"))
    built = build_report(store, out, version=version, log=lambda m: console.print(f"[dim]{m}[/]"))
    console.print(f"report: [bold]{built.page.resolve().as_uri()}[/]")
