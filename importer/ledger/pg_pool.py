"""A few database connections that a run's threads take turns with (PostgreSQL ledger).

SQLite is one file in this process: one connection under a lock is as fast as
it gets. A PostgreSQL server is another process, often on another machine,
and every statement is a round trip: one shared connection would make every
sending thread wait for the others' round trips. So each thread takes a
connection for one transaction (or one read) and gives it back; at most
``size`` are open at once, which keeps a run's share of the server's
``max_connections`` small however many runs share it. A connection found
broken (the server restarted) is replaced when next taken; the failure itself
was raised to whoever was using it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Generic, TypeVar

C = TypeVar("C")

POOL_SIZE = 4  # connections per run (the lease has one more of its own)


class ConnectionPool(Generic[C]):
    """Up to ``size`` connections made by ``connect``; ``broken`` tells one to replace."""

    def __init__(
        self,
        connect: Callable[[], C],
        *,
        broken: Callable[[C], bool],
        close: Callable[[C], None],
        size: int = POOL_SIZE,
    ):
        self._connect = connect
        self._broken = broken
        self._close = close
        self._slots = threading.BoundedSemaphore(size)
        self._mutex = threading.Lock()
        self._idle: list[C] = []
        self._closed = False

    def give(self, conn: C) -> None:
        """Add a connection made elsewhere (the one that opened the ledger) to the idle ones."""
        with self._mutex:
            self._idle.append(conn)

    @contextmanager
    def connection(self) -> Iterator[C]:
        """A connection of this thread's own until the block ends."""
        with self._slots:
            with self._mutex:
                conn = self._idle.pop() if self._idle else None
            if conn is not None and self._broken(conn):
                with suppress(Exception):
                    self._close(conn)
                conn = None
            if conn is None:
                conn = self._connect()
            try:
                yield conn
            finally:
                with self._mutex:
                    closed = self._closed
                    if not closed:
                        self._idle.append(conn)
                if closed:
                    self._close(conn)

    def close(self) -> None:
        """Close the idle connections; one still in use is closed when given back."""
        with self._mutex:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(Exception):
                self._close(conn)
