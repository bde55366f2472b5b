"""What every command group shares: the console, common options and error reporting."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from locus.encoders import DEFAULT_ENCODER as DEFAULT_ENCODER  # re-exported: the defaults every command shows
from locus.errors import LocusDataError
from locus.store import DEFAULT_ROOT as DEFAULT_ROOT
from locus.store import resolve_root

console = Console(soft_wrap=True)  # long paths and messages stay whole for copy-paste

Root = Annotated[str, typer.Option("--root", callback=resolve_root, show_default=True,
                                   help="storage root: a path or a pyarrow URI (s3://...)")]
Encoder = Annotated[str, typer.Option("--encoder", help="sentence-transformers name or path of the query encoder, "
                                      "optionally with the text policy for long prompts after '@': question "
                                      "(default: drop a few-shot preamble the benchmark's items share, read the "
                                      "start of the rest), head (read the start), tail (read the end)")]
Version = Annotated[str, typer.Option(help="checkpoint version (see `locus runs`), or 'latest'")]
Seed = Annotated[int, typer.Option(help="seed of the split, subsets and training")]
OutDir = Annotated[Path, typer.Option(help="folder for the JSON results and the PNG plot")]


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="show Ray's own logs here instead of in "
                                                               "<root>/logs/")]


@contextmanager
def ray_logs(root: str, command: str, verbose: bool) -> Iterator[Path | None]:
    """The file Ray's own output goes to while a command runs (None with --verbose: shown here);
    named at the end, whether the command succeeded or not."""
    if verbose:
        yield None
        return
    from locus.jobs.ray_session import ray_log_file

    path = ray_log_file(root, command)
    try:
        yield path
    finally:
        if path.exists():
            console.print(f"[dim]Ray's logs: {path}[/]", highlight=False)


def described(model: type, field: str) -> str:
    """Help text of a config field: its description and its default, both read from the typed config
    (where they are defined once), for a flag that leaves the field unset by default."""
    info = model.model_fields[field]
    text = info.description or field.replace("_", " ")
    if info.default_factory is not None or info.default is None or info.is_required():
        return text
    return f"{text} [default: {info.default}]"


@dataclass(frozen=True)
class Flags:
    """Command-line options for fields of a config `model` (all, or `fields`), gathered at the
    nested path `at` of the settings the command receives."""

    model: type
    at: tuple[str, ...] = ()
    fields: tuple[str, ...] | None = None


def _unset_allowed(annotation: object) -> object:
    """The field's type with None added: a flag left out keeps the config's default."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(annotation):
        return annotation
    return annotation | None


def config_flags(*groups: Flags) -> Callable[[Callable], Callable]:
    """Give a command one option per config field (`--max-epochs` for `max_epochs`), with the help
    and default read from the config, and call it with `settings`: the nested mapping of the flags
    that were given. A parameter of the command's own with a field's name takes its place."""

    def wrap(command: Callable) -> Callable:
        signature = inspect.signature(command, eval_str=True)  # typer reads the options off the real types
        own = [p for p in signature.parameters.values() if p.name != "settings"]
        taken, placed, added = {p.name for p in own}, {}, []
        for group in groups:
            for name in group.fields or tuple(group.model.model_fields):
                if name in taken:
                    continue
                info = group.model.model_fields[name]
                option = typer.Option(help=described(group.model, name), show_default=False)
                added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                               annotation=Annotated[_unset_allowed(info.annotation), option]))
                placed[name] = (*group.at, name)
                taken.add(name)

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            settings: dict = {}
            for name, path in placed.items():
                if (value := kwargs.pop(name)) is not None:
                    node = settings
                    for key in path[:-1]:
                        node = node.setdefault(key, {})
                    node[path[-1]] = value
            return command(*args, settings=settings, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *added])
        return wrapper

    return wrap


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
