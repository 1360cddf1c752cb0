"""The crash-safe ledger that makes every re-run safe: a SQLite file, or a PostgreSQL
database that many runs share.

Per source row key ``(site, source, key)`` the ledger remembers the Real Geeks
lead id, the last payload the server confirmed and its hash, and which
activities were sent. ``Ledger`` is the whole API, built by composition: it
owns a store (``importer.ledger.store.LedgerStore``: the SQLite file, its locks
and one transaction per call; or ``importer.ledger.postgres.PostgresStore`` for
a ``postgresql://`` URL, chosen by ``open_store``) and offers the methods of two objects built on it:

* ``LedgerTransitions`` (``importer.ledger.transitions``): the write-ahead
  states ``sending`` → ``sent`` / ``failed`` / ``in_doubt`` and ``recover()``
  after a crash;
* ``LedgerQueries`` (``importer.ledger.queries``): lookups by key or digest,
  the activity states of leads, counts and listings.

Each method is documented where it is defined; ``help(ledger.begin_lead)``
shows it, because the methods are theirs, bound to this ledger's store.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from importer.errors import LedgerError
from importer.ledger.queries import LedgerQueries
from importer.ledger.spec import LedgerSpec, is_database_url
from importer.ledger.store import LedgerStore, utc_now
from importer.ledger.transitions import LedgerTransitions

__all__ = ["Ledger", "open_ledger", "open_store"]

POSTGRES_EXTRA = "pip install 'rg-import[postgres]'"


def open_store(
    spec: LedgerSpec | os.PathLike[str],
    *,
    run_id: str,
    readonly: bool = False,
    clock: Callable[[], datetime] = utc_now,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
    lease: float | None = None,
) -> Any:
    """The store ``spec`` names: ``PostgresStore`` for a ``postgresql://`` URL (imported
    only then: psycopg is an optional extra), else the SQLite file's ``LedgerStore``.

    ``lease`` (seconds) is the PostgreSQL run lease (``PostgresStore``); the
    SQLite store has none. Raises LedgerError, also when the extra is missing.
    """
    if is_database_url(spec):
        try:
            from importer.ledger.postgres import PostgresStore
        except ImportError:
            raise LedgerError(
                f"a PostgreSQL ledger needs psycopg, which is not installed: {POSTGRES_EXTRA}"
            ) from None
        extra = {} if lease is None else {"lease": lease}
        return PostgresStore(
            str(spec), run_id=run_id, readonly=readonly, clock=clock, wait=wait,
            on_wait=on_wait, **extra,
        )  # fmt: skip
    return LedgerStore(
        spec, run_id=run_id, readonly=readonly, clock=clock, wait=wait, on_wait=on_wait
    )


class Ledger:
    """The ledger at ``path`` (a SQLite file, or a ``postgresql://`` URL) for the run ``run_id``.

    The arguments, and the LedgerError raised when the ledger cannot be used,
    are ``open_store``'s. Close it (or use it as a context manager) to
    release the run's locks (or its lease on a shared ledger).
    """

    def __init__(
        self,
        path: LedgerSpec | os.PathLike[str],
        *,
        run_id: str,
        readonly: bool = False,
        clock: Callable[[], datetime] = utc_now,
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
        lease: float | None = None,
    ):
        self.store = open_store(
            path, run_id=run_id, readonly=readonly, clock=clock, wait=wait, on_wait=on_wait,
            lease=lease,
        )  # fmt: skip
        transitions = LedgerTransitions(self.store)
        self.begin_lead = transitions.begin_lead
        self.lead_sent = transitions.lead_sent
        self.settled = transitions.settled
        self.lead_failed = transitions.lead_failed
        self.lead_in_doubt = transitions.lead_in_doubt
        self.begin_activities = transitions.begin_activities
        self.activities_done = transitions.activities_done
        self.recover = transitions.recover
        self.begin_run = transitions.begin_run
        queries = LedgerQueries(self.store)
        self.lookup = queries.lookup
        self.lookup_digests = queries.lookup_digests
        self.sent_payloads = queries.sent_payloads
        self.lookup_rejected = queries.lookup_rejected
        self.remember_rejected = queries.remember_rejected
        self.lookup_reported = queries.lookup_reported
        self.remember_reported = queries.remember_reported
        self.find_lead_ids = queries.find_lead_ids
        self.confirmed_keys = queries.confirmed_keys
        self.activity_states = queries.activity_states
        self.sent_activity_hashes = queries.sent_activity_hashes
        self.recorded_activities = queries.recorded_activities
        self.counts = queries.counts
        self.iter_leads = queries.iter_leads
        self.find_run = queries.find_run
        self.iter_created = queries.iter_created
        self.iter_activities = queries.iter_activities

    @property
    def shared(self) -> bool:
        """Whether other runs may write this ledger at the same time (PostgreSQL)."""
        return bool(self.store.shared)

    @property
    def readonly(self) -> bool:
        """Whether the ledger was opened for reading only (it then refuses writes)."""
        return self.store.readonly

    def close(self) -> None:
        """Close the store (``LedgerStore.close``)."""
        self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_ledger(spec: LedgerSpec | os.PathLike[str], *, run_id: str, **options: Any) -> Ledger:
    """The ledger ``spec`` names (a path or a ``postgresql://`` URL); ``options`` as ``Ledger``."""
    return Ledger(spec, run_id=run_id, **options)
