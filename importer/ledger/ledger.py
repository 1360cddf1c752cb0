"""The crash-safe SQLite ledger that makes every re-run safe.

Per source row key ``(site, source, key)`` the ledger remembers the Real Geeks
lead id, the last payload the server confirmed and its hash, and which
activities were sent. ``Ledger`` is the whole API, built by composition: it
owns a ``LedgerStore`` (``importer.ledger.store``: the file, its locks and one
transaction per call) and offers the methods of two objects built on it:

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
from typing import Self

from importer.ledger.queries import LedgerQueries
from importer.ledger.store import LedgerStore, utc_now
from importer.ledger.transitions import LedgerTransitions

__all__ = ["Ledger"]


class Ledger:
    """The ledger file at ``path`` for the run ``run_id``.

    The arguments, and the LedgerError raised when the file cannot be used,
    are ``LedgerStore``'s. Close it (or use it as a context manager) to
    release the run's locks.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        run_id: str,
        readonly: bool = False,
        clock: Callable[[], datetime] = utc_now,
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ):
        self.store = LedgerStore(
            path, run_id=run_id, readonly=readonly, clock=clock, wait=wait, on_wait=on_wait
        )
        transitions = LedgerTransitions(self.store)
        self.begin_lead = transitions.begin_lead
        self.lead_sent = transitions.lead_sent
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
