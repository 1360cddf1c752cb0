"""A run's lease on a PostgreSQL ledger: it is alive while the lease runs.

The ``run_leases`` row of a run says when it started and until when it is
alive, on the database's clock (runs on several machines never compare their
own clocks). A thread renews it every quarter of ``seconds`` on a connection
of its own; ``check`` refuses writes once it could not for longer than
``seconds`` (other runs may have taken the run's rows by then); ``release``
deletes it, so the run's rows are free at once. ``importer.ledger.postgres``
gives it ``connect``, which makes a connection taking the ledger's SQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from importer.errors import LedgerWriteError

LEASE_S = 60.0  # how long a run that stopped renewing keeps its rows

TAKE = (
    "INSERT INTO run_leases VALUES (?, clock_timestamp(), clock_timestamp() + "
    "make_interval(secs => ?)) ON CONFLICT (run_id) DO UPDATE SET lease_until = "
    "excluded.lease_until"
)
_RENEW = (
    "UPDATE run_leases SET lease_until = clock_timestamp() + make_interval(secs => ?) "
    "WHERE run_id = ?"
)
_RELEASE = "DELETE FROM run_leases WHERE run_id = ?"


class RunLease:
    """Renews the lease of ``run_id`` (taken with ``TAKE``) until ``release``."""

    def __init__(
        self, connect: Callable[[], Any], run_id: str, seconds: float, *, name: str
    ) -> None:
        self._connect = connect  # a new connection with execute() and raw.close()
        self.run_id = run_id
        self.seconds = seconds
        self._name = name  # the ledger, as messages show it
        self._renewed = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="rg-ledger-lease", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise LedgerWriteError if the lease may have run out."""
        held_for = time.monotonic() - self._renewed
        if held_for > self.seconds:
            raise LedgerWriteError(
                f"this run could not renew its lease on the shared ledger {self._name} for "
                f"{held_for:.0f} s, so other runs may take its rows; re-run to resume",
                path=self._name,
            )

    def _renew(self) -> None:
        conn: Any = None
        while not self._stop.wait(self.seconds / 4):
            try:
                if conn is None or conn.raw.closed:
                    conn = self._connect()
                conn.execute(_RENEW, (self.seconds, self.run_id))
                self._renewed = time.monotonic()
            except Exception:  # the database is out of reach: try again next time
                if conn is not None:
                    with suppress(Exception):
                        conn.raw.close()
                conn = None
        if conn is not None:
            conn.raw.close()

    def stop(self) -> None:
        """Stop renewing (the lease then runs out unless released)."""
        self._stop.set()
        self._thread.join()

    def release(self, conn: Any) -> None:
        """Stop renewing and delete the lease, on ``conn`` or, if that fails, a new
        connection; a database still out of reach lets the lease run out instead."""
        self.stop()
        with suppress(Exception):
            conn.execute(_RELEASE, (self.run_id,))
            return
        with suppress(Exception):
            fresh = self._connect()
            try:
                fresh.execute(_RELEASE, (self.run_id,))
            finally:
                fresh.raw.close()
