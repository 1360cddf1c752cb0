"""Group commit: the ledger writes of many sending threads, committed in one transaction.

Each sending thread writes ahead twice per row (``sending`` before its request,
the outcome after it). One transaction per write made every thread queue for
the store's lock and pay a commit of its own. Here a thread hands its write in
and waits; whichever thread finds no commit under way leads: it runs every write
handed in so far in one transaction, each under its own savepoint, commits, and
wakes their threads. Writes handed in meanwhile form the next group, led by the
first of their threads. A lone thread leads at once, so one worker pays no wait.

Nothing about durability changes: a call still returns only once its write is
committed, so a row is ``sending`` on disk before its request goes out, and a
SIGKILL leaves at most one open row per sending thread, as before. The main
thread (which refreshes unchanged rows) writes in a transaction of its own.

A write handed in ``later`` (a row's outcome once its request was answered)
returns at once: the thread goes on to its next row while its write waits
for the next group, and ``settled(then)`` calls ``then(error)`` from the thread
that commits it (or at once, if it is committed). Its row is told to the run
only then, so nothing is reported before it is on disk. Such a write is
committed before the thread's next write returns (groups commit in the order
writes were handed in), so a SIGKILL still leaves at most one row per thread
open: the one it is sending, or the one whose outcome waits for the commit.
A leader whose group leaves only writes handed in later leads again: no
thread is waiting to take over.

A write that raises ``LedgerError``, ``ValueError`` or ``KeyError`` (a lead id
conflict, a row not being sent) is rolled back to its savepoint and the error
raised in its own thread; the others in its group still commit. Anything else,
such as a database that cannot be written, rolls the whole group back and every
thread of the group gets the error (``LedgerWriteError`` from the store).
SAVEPOINT, RELEASE and ROLLBACK TO are standard SQL, as every other statement
the transitions send.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from importer.errors import LedgerError
from importer.ledger.store import LedgerStore

__all__ = ["GroupCommit"]

T = TypeVar("T")
_OWN_ERRORS = (LedgerError, ValueError, KeyError)  # a write's own failure, not the group's


class _Write:
    """One thread's write, waiting for its group's commit (or for its turn to lead)."""

    __slots__ = ("committed", "done", "error", "leads", "result", "then", "work")

    def __init__(self, work: Callable[[Any], Any]) -> None:
        self.work = work
        self.done: threading.Lock | None = None  # held until woken; made only to wait on it
        self.leads = False  # woken to lead the next group rather than committed
        self.result: Any = None
        self.error: BaseException | None = None
        self.committed = False  # a write handed in later: its group ended (error or not)
        self.then: Callable[[BaseException | None], None] | None = None  # see ``settled``


class GroupCommit:
    """Commits the writes of concurrent threads together; see the module docstring."""

    def __init__(self, store: LedgerStore) -> None:
        self._store = store
        self._mutex = threading.Lock()
        self._waiting: list[_Write] = []
        self._leading = False  # a thread is committing a group
        self._local = threading.local()  # .later: the thread's last write handed in later

    def run(self, work: Callable[[Any], T], *, later: bool = False) -> T | None:
        """Run ``work(connection)`` in a transaction; returns its result once committed.

        ``later``: return None at once, the write to be committed with the next
        group (see the module docstring and ``settled``); its result is dropped.
        The main thread, where Ctrl-C and SIGTERM land, writes in a transaction
        of its own (after the group under way), ``later`` or not: an interrupt
        there can then never leave the other threads' writes without a leader.
        """
        if threading.current_thread() is threading.main_thread():
            with self._store.transaction() as conn:
                return work(conn)
        write = _Write(work)
        with self._mutex:
            self._waiting.append(write)
            lead = not self._leading
            self._leading = True
            if not (lead or later):
                write.done = threading.Lock()
                write.done.acquire()
        if later:
            self._local.later = write
            if lead:  # no group under way to take it: commit it now
                self._commit_group(write)
            return None
        if not lead:
            lead = self._wait(write)
        if lead:
            self._commit_group(write)
        if write.error is not None:
            raise write.error
        return write.result

    def settled(self, then: Callable[[BaseException | None], None]) -> None:
        """Call ``then(error)`` once the calling thread's last write handed in later
        is committed (``error`` None) or failed: at once if it is done (or there is
        none), else from the thread that commits it."""
        write: _Write | None = getattr(self._local, "later", None)
        self._local.later = None
        if write is not None:
            with self._mutex:
                if not write.committed:
                    write.then = then
                    return
        then(None if write is None else write.error)

    def _wait(self, write: _Write) -> bool:
        """Wait until the write is committed; True when this thread is to lead the next group.

        An interrupt while waiting (Ctrl-C in the main thread) unwinds with the
        write undone if no group took it yet; otherwise the hand-off completes
        first, so that no group is left without a leader.
        """
        assert write.done is not None
        try:
            write.done.acquire()
        except BaseException:
            with self._mutex:
                taken = write.leads or write not in self._waiting
                if write in self._waiting:  # not written: this thread unwinds without it
                    self._waiting.remove(write)
            if write.leads:  # lead the others' writes, then unwind
                self._commit_group(write)
            elif taken:
                write.done.acquire()
            raise
        return write.leads

    def _commit_group(self, mine: _Write) -> None:
        """Commit groups until one with a waiting thread can lead the next (or none is left)."""
        while self._commit_one_group(mine):
            pass

    def _commit_one_group(self, mine: _Write) -> bool:
        """Commit every write handed in so far, then wake their threads and the next leader.

        ``mine`` is the leading thread's own write. An interrupt of the leader
        (Ctrl-C in the main thread) rolls the group back and raises in the
        leader alone: the other threads' writes wait for the next group.
        Returns True when the next group is this thread's to lead: the first
        write waiting was handed in later, and its thread does not wait.
        """
        with self._mutex:
            group, self._waiting = self._waiting, []
        woken = group
        again = interrupted = False
        settled: list[_Write] = []
        try:
            with self._store.transaction() as conn:
                if len(group) == 1:  # alone: its transaction is as good as a savepoint
                    group[0].result = group[0].work(conn)
                else:
                    for write in group:
                        _apply(conn, write)
        except Exception as exc:
            for write in group:  # rolled back: nothing of the group is on disk
                write.error = exc
        except BaseException:
            woken, interrupted = [mine], True
            with self._mutex:
                self._waiting[:0] = [write for write in group if write is not mine]
            raise
        finally:
            with self._mutex:
                for write in woken if not interrupted else ():
                    if write.done is None:  # handed in later (or the leader's own)
                        write.committed = True
                        if write.then is not None:
                            settled.append(write)
                after = self._waiting[0] if self._waiting else None
                if after is not None and after.done is None:  # handed in later: no one waits
                    if interrupted:  # this thread unwinds: a thread that waits leads, if any
                        after = next((w for w in self._waiting if w.done is not None), None)
                    else:
                        again, after = True, None
                self._leading = again or after is not None
                if after is not None:
                    after.leads = True
            for write in woken:
                if write.done is not None and not write.leads:  # the leader is awake
                    write.done.release()
            if after is not None:
                assert after.done is not None
                after.done.release()
            for write in settled:
                assert write.then is not None
                write.then(write.error)
        return again


def _apply(conn: Any, write: _Write) -> None:
    """Run one write under a savepoint, so that its own failure leaves the group's others."""
    conn.execute("SAVEPOINT rg_write")
    try:
        write.result = write.work(conn)
    except _OWN_ERRORS as exc:
        conn.execute("ROLLBACK TO SAVEPOINT rg_write")
        conn.execute("RELEASE SAVEPOINT rg_write")
        write.error = exc
        return
    conn.execute("RELEASE SAVEPOINT rg_write")
