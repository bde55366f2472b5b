"""One progress bar for a long step: what it counts, how far it is, its rate and the time left.

Library and Ray-layer functions take a `Progress`-like callback (`advance(n)`); the CLI and the
quickstart hand them a rich bar, tests and benchmarks nothing (`no_progress`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[[int], None]


def no_progress(_: int) -> None:
    """An `Advance` that shows nothing."""


@contextmanager
def progress_bar(console: Console, description: str, total: int | None, *, unit: str = "") -> Iterator[Advance]:
    """A bar on `console` while the block runs; yields `advance(n)`. On a terminal it redraws in place;
    elsewhere (a log file, CI) rich prints it once when it ends, so nothing repeats."""
    columns = [TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
               TextColumn(unit), TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total, rate="")

        def advance(n: int) -> None:
            bar.advance(task, n)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:.1f}/s" if speed else "")

        yield advance


def epoch_line(m: dict[str, float]) -> str:
    """One training epoch in under 80 columns: training loss, validation loss and quality, time left
    (the rest, learning rate and episodes per model included, is in the run's history)."""
    return (f"epoch {m['epoch']:>2.0f}  loss {m['train_loss']:.3f}  val loss {m['val_loss']:.3f}  "
            f"correct {m['correctness_acc']:.3f}  routing {m['routing_acc']:.3f}  eta {m['eta_seconds']:.0f} s")
