"""The one progress bar: of targets for a text or a list of texts, of documents for a corpus job.

The bar shows what is done out of the total, its rate, the time elapsed and the ETA. Work
reports progress through a callback, ``advance(count)``, as methods do
(:data:`nerlens.methods.base.ProgressCallback`); it may be called from many threads at once.

One bar draws at a time in a process: a progress request made while a bar is live adds a line
to it (a corpus job's documents, then the targets of the documents being explained) instead of
starting a second live display, which would overwrite the first on the terminal.
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from nerlens.methods.base import ProgressCallback


class _Line:
    """One line of a bar: ``unit`` done out of ``total`` and their rate."""

    def __init__(self, bar: Progress, total: int, unit: str) -> None:
        self.bar = bar
        self.task = bar.add_task("explaining", total=total, unit=unit, rate="…")
        self.started = time.monotonic()
        self.count = 0
        self._lock = threading.Lock()

    def advance(self, count: int) -> None:
        """Count ``count`` more done (called from the threads that do the work)."""
        with self._lock:
            self.count += count
            rate = self.count / max(time.monotonic() - self.started, 1e-9)
            self.bar.update(self.task, advance=count, rate=f"{rate:.1f}")


class ProgressBar:
    """A rich bar: ``unit`` done out of ``total``, their rate, elapsed time and ETA.

    ``transient`` bars disappear when done (a library call's), others stay (a corpus job's).
    Bars draw on standard error (default ``console``), so that results piped from standard
    output stay clean. While one is live, :func:`progress` adds lines to it.
    """

    def __init__(
        self, total: int, unit: str, *, transient: bool = False, console: Console | None = None
    ) -> None:
        self.bar = Progress(
            TextColumn("explaining"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]} {task.fields[unit]}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=transient,
            console=console or Console(stderr=True),
        )
        self.line = _Line(self.bar, total, unit)

    def __enter__(self) -> ProgressCallback:
        global _live
        self.bar.start()
        with _live_lock:
            if _live is None:
                _live = self
        return self.line.advance

    def __exit__(self, *exc: object) -> None:
        global _live
        with _live_lock:
            if _live is self:
                _live = None
        self.bar.stop()


class _NestedLine:
    """A line added to the live bar for the length of a ``with`` block (removed after it when
    ``transient``)."""

    def __init__(self, bar: Progress, total: int, unit: str, transient: bool) -> None:
        self.args = bar, total, unit
        self.transient = transient

    def __enter__(self) -> ProgressCallback:
        self.line = _Line(*self.args)
        return self.line.advance

    def __exit__(self, *exc: object) -> None:
        if self.transient:
            self.line.bar.remove_task(self.line.task)


_live: ProgressBar | None = None  # the bar drawing in this process, which later requests join
_live_lock = threading.Lock()


def progress(
    show: bool, total: int, unit: str, *, transient: bool = False
) -> AbstractContextManager[ProgressCallback]:
    """A context giving an ``advance(count)`` callback: a line on the bar already live in this
    process, else a :class:`ProgressBar` of its own, when ``show``; else one that does nothing."""
    if not show:
        return nullcontext(lambda done: None)
    with _live_lock:
        live = _live
    if live is not None:
        return _NestedLine(live.bar, total, unit, transient)
    return ProgressBar(total, unit, transient=transient)
