"""The threads that send a run's rows: one per place in flight, and one more per row waiting out a retry.

A ``concurrent.futures.ThreadPoolExecutor`` of 4 threads per place in flight
started all of them, because the send loop keeps up to 256 rows out: at 0 ms
latency three in four of them queued for a place, every place given back woke
one of them, and all of them contended for the GIL. A thread beyond the places
in flight helps only while a row sits out a backoff or a ``Retry-After``
holding no place. So ``RowThreads`` keeps as many threads as there are places
(the limit now, with ``--workers auto``) plus the rows waiting out a retry,
never more than ``most``; rows beyond those wait in a queue, which costs no
thread. Without a count of the waits (a client sending from other processes,
whose threads wait on those processes for whole requests) it keeps ``most``.

Each row is a ``RowOut`` the thread fills in and puts on ``finished``; no
future, no lock or condition per row. With ``settle`` (``Sender.settled``) a
row is put there once the ledger write its send left for later is committed,
by the thread that commits it; the sending thread goes on to its next row.
Threads are started as rows are handed out and never end before ``shutdown``:
one that the count no longer needs waits for a row, which costs nothing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importer.plan.rows import PlannedChunk, RowPlan
    from importer.send.send_outcome import SendOutcome

__all__ = ["RowOut", "RowThreads"]

# ``Sender.settled``: calls its second argument with (outcome, None) or (None, error)
Settle = Callable[
    ["SendOutcome", Callable[["SendOutcome | None", "BaseException | None"], None]], None
]


class RowOut:
    """A row handed to the threads: where it is in its chunk, and how it ended once ``done``."""

    __slots__ = ("done", "error", "outcome", "plan", "planned", "position")

    def __init__(self, planned: PlannedChunk, position: int, plan: RowPlan) -> None:
        self.planned, self.position, self.plan = planned, position, plan
        self.outcome: SendOutcome | None = None
        self.error: BaseException | None = None  # what sending raised, raised again by ``result``
        self.done = False  # set before the row is put on ``finished``

    def result(self) -> SendOutcome:
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


class RowThreads:
    """Sends the rows handed to ``submit`` with ``send``; each ends on ``finished``.

    ``places()`` is how many requests may be in flight now and ``waiting()``
    how many rows wait out a retry (None: unknown, then ``most`` threads).
    """

    def __init__(
        self,
        send: Callable[[RowPlan], SendOutcome],
        finished: queue.SimpleQueue[RowOut],
        *,
        places: Callable[[], int],
        most: int,
        waiting: Callable[[], int] | None,
        settle: Settle | None = None,
        name: str = "send",
    ) -> None:
        self._send = send
        self._settle = settle
        self._finished = finished
        self._places = places
        self._most = most
        self._waiting = waiting
        self._name = name
        self._rows: queue.SimpleQueue[RowOut | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    @property
    def count(self) -> int:
        """How many threads were started."""
        return len(self._threads)

    def wanted(self) -> int:
        """How many threads the rows need now (see the module docstring)."""
        if self._waiting is None:
            return self._most
        return max(1, min(self._most, self._places() + self._waiting()))

    def submit(self, row: RowOut) -> None:
        """Queue a row for the next free thread, starting threads up to ``wanted``."""
        self._rows.put(row)
        self.grow()

    def grow(self) -> None:
        """Start threads up to ``wanted`` (called by the thread that hands rows out)."""
        for _ in range(self.wanted() - len(self._threads)):
            thread = threading.Thread(
                target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=False
            )
            thread.start()
            self._threads.append(thread)

    def shutdown(self) -> None:
        """Let every thread end once the rows queued before are sent, and wait for them."""
        for _ in self._threads:
            self._rows.put(None)
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        rows, send, settle = self._rows, self._send, self._settle
        while True:
            row = rows.get()
            if row is None:
                return
            try:
                outcome = send(row.plan)
            except BaseException as exc:  # raised again in the thread that settles the row
                self._tell(row, None, exc)
                continue
            if settle is None:
                self._tell(row, outcome, None)
            else:
                settle(outcome, partial(self._tell, row))

    def _tell(self, row: RowOut, outcome: SendOutcome | None, error: BaseException | None) -> None:
        row.outcome, row.error = outcome, error
        row.done = True
        self._finished.put(row)
