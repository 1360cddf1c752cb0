"""Fresh planner statistics for a PostgreSQL ledger that grows while a run writes it.

PostgreSQL plans each query from statistics that autovacuum gathers once a
table changed by 10%, and looks for such tables once a minute
(``autovacuum_naptime``). A new ledger has none. Without them the planner
looked a lead up (and updated it) by (site, source, key) through
``leads_digest``, whose leading columns (site, source) are the same for every
row of an import, rather than through the primary key, so every lookup read
the whole index; and psycopg prepares a statement run five times, keeping
that plan. A first import of 12,000 leads at 50 ms latency and 32 workers fell
from 500 to 130 leads/s within 15 s, its lookups and updates taking 2 to 4 ms
each, until autovacuum's ``ANALYZE`` came (``make bench``'s ``scale_out``: one
process took 46 to 98 s on the same 20,000-row file).

So a writing run analyzes the ledger's two big tables itself, early (after
``FIRST_AFTER`` committed transactions: a few rows are enough to show that
site and source are the same everywhere) and again whenever its transactions
have doubled since: about a dozen ``ANALYZE`` runs however long the import,
each sampling at most a few hundred pages, on a connection of its own in the
background; an ``ANALYZE`` drops the plans prepared before it. ``ANALYZE``
takes a lock that writers do not wait for. It is only an aid to the planner:
a failure (the ledger's user does not own the tables, the database is out of
reach) is left for autovacuum to make up.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

__all__ = ["FIRST_AFTER", "StatisticsKeeper"]

log = logging.getLogger(__name__)

FIRST_AFTER = 16  # committed transactions (each of several writes) before the first ANALYZE
ANALYZE = "ANALYZE leads, activities"
STOP_WAIT_S = 5.0  # how long closing the ledger waits for an ANALYZE under way


class StatisticsKeeper:
    """Runs ``ANALYZE`` in the background each time the writes counted by ``wrote`` double.

    ``connect`` makes a new connection with ``execute`` and ``raw.close()``.
    Thread-safe; at most one ``ANALYZE`` at a time (a doubling reached while
    one runs is caught up by the next).
    """

    def __init__(self, connect: Callable[[], Any], *, first_after: int | None = None) -> None:
        self._connect = connect
        self._count = itertools.count(1)  # next() is atomic: no lock on the write path
        self._next = FIRST_AFTER if first_after is None else first_after
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.analyzed = 0  # ANALYZE runs that finished

    def wrote(self) -> None:
        """A transaction was committed."""
        written = next(self._count)
        if written < self._next:
            return
        with self._lock:
            busy = self._thread is not None and self._thread.is_alive()
            if busy or written < self._next:  # another thread started it meanwhile
                return
            self._next *= 2
            self._thread = threading.Thread(
                target=self._analyze, name="rg-ledger-analyze", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Wait a little for an ``ANALYZE`` under way (a daemon thread: it never holds up an exit)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(STOP_WAIT_S)

    def _analyze(self) -> None:
        try:
            conn = self._connect()
        except Exception as exc:  # autovacuum will do it later
            log.debug("no ANALYZE of the ledger: %s", exc)
            return
        try:
            conn.execute(ANALYZE)
            self.analyzed += 1
        except Exception as exc:
            log.debug("no ANALYZE of the ledger: %s", exc)
        finally:
            with suppress(Exception):
                conn.raw.close()
