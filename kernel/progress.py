"""Progress bars for long steps, shown only on an interactive terminal.

On a terminal a rich bar (count, elapsed, remaining) replaces guesswork about whether training is stuck;
in CI logs and pipes nothing is drawn, because the CLI already prints one line per step there.
``PMED_PROGRESS=0`` turns bars off, ``PMED_PROGRESS=1`` forces them (e.g. under a pseudo-terminal).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[[int], None]


def _wanted() -> bool:
    forced = os.environ.get("PMED_PROGRESS")
    if forced in ("0", "1"):
        return forced == "1"
    return sys.stderr.isatty()


def _ignore(n: int) -> None:
    """The ``advance`` of a step that draws no bar."""


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Advance]:
    """Yield ``advance(n)``; draws a transient bar on stderr when wanted, does nothing otherwise."""
    if not _wanted():
        yield _ignore
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("[pmed] {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    console = Console(stderr=True, force_terminal=True if os.environ.get("PMED_PROGRESS") == "1" else None)
    with Progress(*columns, console=console, transient=True) as bars:
        task = bars.add_task(description, total=total)

        def advance(n: int) -> None:
            bars.advance(task, n)

        yield advance
