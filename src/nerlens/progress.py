"""The one progress bar: of targets for a text or a list of texts, of documents for a corpus job.

The bar shows what is done out of the total, its rate, the time elapsed and the ETA. Work
reports progress through a callback, ``advance(count)``, as methods do
(:data:`nerlens.methods.base.ProgressCallback`); it may be called from many threads at once.
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


class ProgressBar:
    """A rich bar: ``unit`` done out of ``total``, their rate, elapsed time and ETA.

    ``transient`` bars disappear when done (a library call's), others stay (a corpus job's).
    Bars draw on standard error (default ``console``), so that results piped from standard
    output stay clean.
    """

    def __init__(
        self, total: int, unit: str, *, transient: bool = False, console: Console | None = None
    ) -> None:
        self.unit = unit
        self.bar = Progress(
            TextColumn("explaining"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TaskProgressColumn(),
            TextColumn(f"{{task.fields[rate]}} {unit}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            transient=transient,
            console=console or Console(stderr=True),
        )
        self.task = self.bar.add_task("explaining", total=total, rate="…")
        self.started = time.monotonic()
        self.count = 0
        self._lock = threading.Lock()

    def advance(self, count: int) -> None:
        """Count ``count`` more done (called from the threads that do the work)."""
        with self._lock:
            self.count += count
            rate = self.count / max(time.monotonic() - self.started, 1e-9)
            self.bar.update(self.task, advance=count, rate=f"{rate:.1f}")

    def __enter__(self) -> ProgressCallback:
        self.bar.start()
        return self.advance

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()


def progress(
    show: bool, total: int, unit: str, *, transient: bool = False
) -> AbstractContextManager[ProgressCallback]:
    """A context giving an ``advance(count)`` callback: a :class:`ProgressBar` when ``show``,
    else one that does nothing."""
    if not show:
        return nullcontext(lambda done: None)
    return ProgressBar(total, unit, transient=transient)
