"""Rejects an earlier run of the same ledger already reported, told apart from new ones.

A nightly job whose export keeps the same few broken rows would otherwise exit 3
every night, and an alert that always fires is ignored. A reject is *known* when
an earlier run reported the same row unchanged (the same digest: the row's raw
bytes, salted with the mapping and the file's columns, see
``importer.plan.payloads``) for the same site and source, with the same key and
the same problem codes; every other reject is *new*. A run remembers the new
ones in the ledger (``reported_rejects``), whatever stage refused them (the
checks, a duplicate key, the API); a plan only looks (its ledger is read-only).
Rows without a digest (a plan without a ledger) are always new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from importer.ledger.ledger import Ledger
from importer.models import Problem


def codes_of(problems: Iterable[Problem]) -> str:
    """The row's codes as the ledger keeps them: each once, sorted, ``;``-separated."""
    return ";".join(sorted({p.code for p in problems}))


class RejectMemory:
    """Counts the rejects of one plan or run as known or new, and remembers the new ones."""

    def __init__(self, ledger: Ledger | None, site: str | None, source: str):
        self.ledger = ledger if site else None
        self.site = site or ""
        self.source = source
        self.known = 0
        self.new = 0

    def count(self, rejects: Sequence[tuple[str | None, str, Sequence[Problem]]]) -> None:
        """Count rejected rows given as (digest or None, key, problems)."""
        if not rejects:
            return
        ledger = self.ledger
        if ledger is None:
            self.new += len(rejects)
            return
        entries = [(digest, key, codes_of(problems)) for digest, key, problems in rejects]
        found = ledger.lookup_reported(self.site, self.source, [d for d, _, _ in entries if d])
        fresh: dict[str, tuple[str, str, str]] = {}
        for digest, key, row_codes in entries:
            hit = found.get(digest) if digest else None
            # reported by this run already (the same bytes twice in one file) is not "before"
            if hit is not None and hit[:2] == (key, row_codes) and hit[2] != ledger.store.run_id:
                self.known += 1
                continue
            self.new += 1
            if digest:
                fresh[digest] = (digest, key, row_codes)
        if fresh and not ledger.readonly:
            ledger.remember_reported(self.site, self.source, list(fresh.values()))
