"""What every command group shares: the console, common options and error reporting."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from locus.errors import LocusDataError

console = Console(soft_wrap=True)  # long paths and messages stay whole for copy-paste

Root = Annotated[str, typer.Option("--root", help="storage root: a path or a pyarrow URI (s3://...)")]
Encoder = Annotated[str, typer.Option("--encoder", help="sentence-transformers name or path of the query encoder")]
Version = Annotated[str, typer.Option(help="checkpoint version (see `locus runs`), or 'latest'")]
Seed = Annotated[int, typer.Option(help="seed of the split, subsets and training")]
OutDir = Annotated[Path, typer.Option(help="folder for the JSON results and the PNG plot")]
DEFAULT_ROOT = "./locus-data"
DEFAULT_ENCODER = "all-MiniLM-L6-v2"


def fail(exc: Exception) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(2)


def reports_errors(command: Callable) -> Callable:
    """Bad input (data, config or flags) ends the command with a one-line message and exit code 2."""
    from pydantic import ValidationError

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (LocusDataError, ValidationError) as exc:
            fail(exc)

    return wrapper


def open_store(root: str):
    from locus.store import Store

    return Store(root)


def ints(text: str, flag: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError as exc:
        raise LocusDataError(f"{flag}: expected comma-separated whole numbers, got {text!r}") from exc


def write_json(path: Path, payload: dict) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    console.print(f"wrote {path}")
