"""Progress reporting: a tqdm bar on a terminal, a log line every few seconds otherwise.

The pipeline reports through the tiny ``Progress`` protocol and never imports
tqdm itself; ``make_progress`` picks the implementation.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Protocol


class Progress(Protocol):
    def advance(self, n: int) -> None:
        """Move the bar forward by ``n`` units."""

    def counts(self, **counts: int) -> None:
        """Show live counts (created=3, rejected=1, ...)."""

    def close(self) -> None:
        """Finish the bar or print the last line."""


class NullProgress:
    """Says nothing (``--quiet``, tests, library use)."""

    def advance(self, n: int) -> None:
        pass

    def counts(self, **counts: int) -> None:
        pass

    def close(self) -> None:
        pass


class TqdmProgress:
    """A tqdm bar with rate, ETA and the live counts as its postfix."""

    def __init__(self, desc: str, total: int | None, unit: str, stream: IO[str], position: int = 0):
        from tqdm import tqdm

        scale = unit == "B"
        self._bar = tqdm(
            total=total, desc=desc, unit=unit, unit_scale=scale, unit_divisor=1024 if scale else 1000,
            file=stream, dynamic_ncols=True, leave=True, mininterval=0.2, position=position,
        )  # fmt: skip
        self._lock = threading.Lock()

    def advance(self, n: int) -> None:
        with self._lock:
            self._bar.update(n)

    def counts(self, **counts: int) -> None:
        with self._lock:
            self._bar.set_postfix(counts, refresh=False)

    def close(self) -> None:
        self._bar.close()


class LogProgress:
    """One plain line every ``interval`` seconds, for logs and cron mail."""

    def __init__(
        self,
        desc: str,
        total: int | None,
        unit: str,
        stream: IO[str],
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.desc, self.total, self.unit, self.stream = desc, total, unit, stream
        self.interval, self.clock = interval, clock
        self.done = 0
        self._counts: dict[str, int] = {}
        self._start = self._last = clock()
        self._lock = threading.Lock()

    def advance(self, n: int) -> None:
        with self._lock:
            self.done += n
            if self.clock() - self._last >= self.interval:
                self._emit()

    def counts(self, **counts: int) -> None:
        with self._lock:
            self._counts.update(counts)

    def _emit(self) -> None:
        self._last = now = self.clock()
        rate = self.done / max(now - self._start, 1e-9)
        of = f"/{self.total}" if self.total else ""
        extra = " ".join(f"{k}={v}" for k, v in self._counts.items())
        unit = "bytes" if self.unit == "B" else self.unit
        print(
            f"{self.desc}: {self.done}{of} {unit} ({rate:,.0f}/s) {extra}".rstrip(),
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        with self._lock:
            if self.done:
                self._emit()


def make_progress(
    desc: str,
    *,
    total: int | None = None,
    unit: str = "rows",
    quiet: bool = False,
    stream: IO[str] | None = None,
    interval: float = 5.0,
    position: int = 0,
) -> Progress:
    """The right progress reporter for the stream: bar, periodic line, or nothing."""
    if quiet:
        return NullProgress()
    out = stream or sys.stderr
    if out.isatty():
        return TqdmProgress(desc, total, unit, out, position)
    return LogProgress(desc, total, unit, out, interval)
