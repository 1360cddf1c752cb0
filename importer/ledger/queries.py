"""The ledger's lookups and listings, read from its store.

Lookups answer the planner and the sender (which rows are known, unchanged,
rejected before, or exist on the server; which activities were sent); the
listings walk every lead or activity for reports and ``rg-import ledger``.
The rows that failed validation are remembered here too, beside the lookup
that reads them back, and so are the rejects each run reported (for
``importer.plan.known_rejects``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from importer.errors import LedgerError
from importer.ledger.records import (
    LEAD_COLUMNS,
    CachedReject,
    LeadRecord,
    RecordedActivity,
    RunRecord,
    decode_leads,
)
from importer.ledger.schema import ACTIVITY_STATES, LEAD_STATES
from importer.ledger.store import LedgerStore, normalize_lead_id

_BATCH = 500  # keys per IN (...) query: far below every SQLite variable limit
_PAGE = 1000  # rows per page when iterating, so no lock is held while the caller works

_ACTIVITY_COLUMNS = (
    "lead_id", "activity_hash", "state", "payload", "attempts",
    "last_status", "last_error", "run_id", "created_at", "updated_at",
)  # fmt: skip


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class LedgerQueries:
    """Lookups and listings of the ledger in ``store``."""

    def __init__(self, store: LedgerStore):
        self._store = store

    # -- lookups ----------------------------------------------------------------

    def lookup(self, site: str, source: str, keys: Sequence[str]) -> dict[str, LeadRecord]:
        """The records of those ``keys`` the ledger knows, by key; unknown keys are absent."""
        rows: list[tuple[Any, ...]] = []
        # Sorted batches walk the index in order: ~25% faster than a shuffled file.
        for batch in _chunks(sorted(set(keys)), _BATCH):
            rows += self._store.query(
                f"SELECT {LEAD_COLUMNS} FROM leads WHERE site = ? AND source = ? "
                f"AND key IN ({','.join('?' * len(batch))})",
                (site, source, *batch),
            )
        return {record.key: record for record in decode_leads(rows)}

    def lookup_digests(
        self, site: str, source: str, digests: Sequence[str]
    ) -> dict[str, tuple[str, str, int]]:
        """Rows confirmed sent with one of these digests: digest -> (key, lead_id, activities).

        A re-run finds its unchanged rows with this before mapping them at all:
        one query per call, answered from a covering index.
        """
        out: dict[str, tuple[str, str, int]] = {}
        for batch in _chunks(sorted(set(digests)), 100_000):
            for digest, key, lead_id, count in self._store.query(
                "SELECT row_digest, key, lead_id, row_activities FROM leads "
                "WHERE site = ? AND source = ? AND state = 'sent' "
                "AND row_digest IN (SELECT value FROM json_each(?))",
                (site, source, json.dumps(list(batch))),
            ):
                out[digest] = (key, lead_id, count)
        return out

    def sent_payloads(
        self, site: str, source: str, digests: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """The confirmed payloads of rows confirmed sent with these digests: digest -> payload.

        For ``rg-import plan``, which shows what rows unchanged since sent were
        sent as (it never maps them); one query per call, as ``lookup_digests``.
        """
        found: list[tuple[str, str]] = []
        for batch in _chunks(sorted(set(digests)), 100_000):
            found += self._store.query(
                "SELECT row_digest, payload FROM leads "
                "WHERE site = ? AND source = ? AND state = 'sent' AND payload IS NOT NULL "
                "AND row_digest IN (SELECT value FROM json_each(?))",
                (site, source, json.dumps(list(batch))),
            )
        # one json.loads over all payloads, as ``decode_leads`` (canonical JSON written here)
        decoded = json.loads("[" + ",".join(text for _, text in found) + "]")
        return {digest: payload for (digest, _), payload in zip(found, decoded, strict=True)}

    def lookup_rejected(
        self, site: str, source: str, digests: Sequence[str]
    ) -> dict[str, CachedReject]:
        """Rows rejected before with one of these digests: digest -> what was wrong."""
        if not digests or "rejected_rows" not in self._store.tables:
            return {}
        out: dict[str, CachedReject] = {}
        for batch in _chunks(sorted(set(digests)), 100_000):
            for digest, key, text in self._store.query(
                "SELECT row_digest, key, problems FROM rejected_rows "
                "WHERE site = ? AND source = ? AND row_digest IN (SELECT value FROM json_each(?))",
                (site, source, json.dumps(list(batch))),
            ):
                out[digest] = CachedReject.from_json(digest, key, text)
        return out

    def remember_rejected(self, site: str, source: str, rejects: Sequence[CachedReject]) -> None:
        """Keep rows that failed validation (see ``lookup_rejected``); one transaction."""
        if not rejects:
            return
        now = self._store.now()
        with self._store.transaction() as tx:
            tx.executemany(
                "INSERT INTO rejected_rows (site, source, row_digest, key, problems, run_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site, source, row_digest) "
                "DO UPDATE SET key = excluded.key, problems = excluded.problems, "
                "run_id = excluded.run_id, created_at = excluded.created_at",
                [
                    (site, source, r.digest, r.key, r.to_json(), self._store.run_id, now)
                    for r in rejects
                ],
            )

    def lookup_reported(
        self, site: str, source: str, digests: Sequence[str]
    ) -> dict[str, tuple[str, str, str]]:
        """Rejects reported before with one of these digests: digest -> (key, codes, run_id)."""
        if not digests or "reported_rejects" not in self._store.tables:
            return {}
        out: dict[str, tuple[str, str, str]] = {}
        for batch in _chunks(sorted(set(digests)), 100_000):
            for digest, key, found, run_id in self._store.query(
                "SELECT row_digest, key, codes, run_id FROM reported_rejects "
                "WHERE site = ? AND source = ? AND row_digest IN (SELECT value FROM json_each(?))",
                (site, source, json.dumps(list(batch))),
            ):
                out[digest] = (key, found, run_id)
        return out

    def remember_reported(
        self, site: str, source: str, rejects: Sequence[tuple[str, str, str]]
    ) -> None:
        """Keep the rejects this run reports, as (digest, key, codes); one transaction."""
        if not rejects:
            return
        now = self._store.now()
        with self._store.transaction() as tx:
            tx.executemany(
                "INSERT INTO reported_rejects (site, source, row_digest, key, codes, run_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site, source, row_digest) "
                "DO UPDATE SET key = excluded.key, codes = excluded.codes, "
                "run_id = excluded.run_id, created_at = excluded.created_at",
                [(site, source, d, k, c, self._store.run_id, now) for d, k, c in rejects],
            )

    def find_lead_ids(
        self, site: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """Lead ids of the leads that exist on the server, by ``(source, key)``.

        A lead counts as existing once any request for it was confirmed (it has
        a confirmed payload), whatever its latest state: a lead whose later
        update failed or is in doubt still exists. Keys whose first create was
        never confirmed (sending, failed or in doubt) are absent, so activities
        are not posted to a lead that may not exist.
        """
        by_source: dict[str, list[str]] = {}
        for source, key in sorted(set(keys)):
            by_source.setdefault(source, []).append(key)
        found: dict[tuple[str, str], str] = {}
        for source, source_keys in by_source.items():
            for batch in _chunks(source_keys, _BATCH):
                for key, lead_id in self._store.query(
                    "SELECT key, lead_id FROM leads WHERE site = ? AND source = ? "
                    f"AND key IN ({','.join('?' * len(batch))}) AND payload_hash IS NOT NULL",
                    (site, source, *batch),
                ):
                    found[(source, key)] = lead_id
        return found

    def confirmed_keys(self, site: str, source: str) -> list[tuple[Any, ...]]:
        """Every lead of ``site`` and ``source`` the server confirmed once, whatever its state now.

        ``(key, lead_id, state, updated_at, run_id)`` in key order, in one query
        on the primary key. Rows only ever rejected, and leads whose first
        create was never confirmed, are not among them: they are not on the server.
        """
        return self._store.query(
            "SELECT key, lead_id, state, updated_at, run_id FROM leads "
            "WHERE site = ? AND source = ? AND payload_hash IS NOT NULL ORDER BY key",
            (site, source),
        )

    def activity_states(self, lead_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """``{lead_id: {activity_hash: state}}`` for every given lead id, as spelt by the caller."""
        spellings: dict[str, list[str]] = {}
        for given in dict.fromkeys(lead_ids):
            spellings.setdefault(normalize_lead_id(given), []).append(given)
        result: dict[str, dict[str, str]] = {given: {} for given in dict.fromkeys(lead_ids)}
        for batch in _chunks(sorted(spellings), _BATCH):
            for lead_id, activity_hash, state in self._store.query(
                "SELECT lead_id, activity_hash, state FROM activities "
                f"WHERE lead_id IN ({','.join('?' * len(batch))})",
                batch,
            ):
                for given in spellings[lead_id]:
                    result[given][activity_hash] = state
        return result

    def recorded_activities(
        self, lead_ids: Sequence[str], activity_type: str
    ) -> dict[str, list[RecordedActivity]]:
        """``{lead_id: its activities of activity_type, in any state}`` for every
        given lead id, as spelt by the caller; those recorded without a payload
        are left out."""
        spellings: dict[str, list[str]] = {}
        for given in dict.fromkeys(lead_ids):
            spellings.setdefault(normalize_lead_id(given), []).append(given)
        result: dict[str, list[RecordedActivity]] = {given: [] for given in dict.fromkeys(lead_ids)}
        # LIKE only narrows the rows read (``_`` matches any character): the type is
        # checked on the decoded payload below
        wanted = f'%"type":"{activity_type}"%'
        for batch in _chunks(sorted(spellings), _BATCH):
            rows = self._store.query(
                "SELECT lead_id, activity_hash, payload, created_at FROM activities "
                f"WHERE lead_id IN ({','.join('?' * len(batch))}) AND payload LIKE ?",
                [*batch, wanted],
            )
            # one json.loads for the batch, as ``decode_leads`` (canonical JSON written here)
            payloads = json.loads("[" + ",".join(row[2] for row in rows) + "]")
            for row, payload in zip(rows, payloads, strict=True):
                if payload.get("type") == activity_type:
                    recorded = RecordedActivity(row[1], payload, row[3])
                    for given in spellings[row[0]]:
                        result[given].append(recorded)
        return result

    def sent_activity_hashes(self, lead_ids: Sequence[str]) -> dict[str, set[str]]:
        """``{lead_id: hashes of its activities in state sent}`` for every given lead id."""
        return {
            lead_id: {h for h, state in states.items() if state == "sent"}
            for lead_id, states in self.activity_states(lead_ids).items()
        }

    # -- reading ----------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        """Rows per state, every state present: ``{"leads": {...}, "activities": {...}}``."""
        result: dict[str, dict[str, int]] = {}
        for table, states in (("leads", LEAD_STATES), ("activities", ACTIVITY_STATES)):
            found = dict(self._store.query(f"SELECT state, count(*) FROM {table} GROUP BY state"))
            result[table] = {state: found.get(state, 0) for state in states}
        return result

    def _pages(
        self,
        table: str,
        columns: str,
        state: str | None,
        site: str | None = None,
        where: tuple[str, Sequence[Any]] = ("", ()),
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Matching rows in the order they were first recorded, one query per page.

        Paging on rowid keeps each page an index range (the state index ends
        in rowid; a PostgreSQL ledger has a ``rowid`` column of its own), and no
        lock is held while the caller works on a page.
        ``where`` is one more condition and its parameters.
        """
        conditions, params = ["rowid > ?"], list[Any]()
        if where[0]:
            conditions.append(f"({where[0]})")
            params.extend(where[1])
        if state is not None:
            conditions.append("state = ?")
            params.append(state)
        if site is not None:
            # an expression, not the column: SQLite filters with it and keeps rowid order
            conditions.append("site || '' = ?")
            params.append(site)
        sql = (
            f"SELECT rowid, {columns} FROM {table} WHERE {' AND '.join(conditions)} "
            f"ORDER BY rowid LIMIT {_PAGE}"
        )
        after = 0
        while rows := self._store.query(sql, [after, *params]):
            yield [row[1:] for row in rows]
            after = rows[-1][0]

    def iter_leads(
        self, *, state: str | None = None, site: str | None = None
    ) -> Iterator[LeadRecord]:
        """Every lead record, optionally of one state and site, in the order first recorded."""
        if state is not None and state not in LEAD_STATES:
            raise ValueError(f"lead state must be one of {LEAD_STATES}, not {state!r}")
        for page in self._pages("leads", LEAD_COLUMNS, state, site):
            yield from decode_leads(page)

    def find_run(self, run_id: str) -> RunRecord | None:
        """The run ``run_id`` as the ledger recorded it, None if it never opened this ledger.

        Raises LedgerError for a ledger an older rg-import wrote last (version
        1): it does not record runs until a run by this version opens it.
        """
        if self._store.version < 2:
            raise LedgerError(
                f"ledger {self._store.path} was last written by an older rg-import (schema "
                f"version {self._store.version}), which did not record which run created a lead; "
                "`rg-import ledger export` without --run lists every lead with its last run"
            )
        found = self._store.query(
            "SELECT run_id, recorded_at, creations_known FROM runs WHERE run_id = ?", (run_id,)
        )
        return RunRecord(found[0][0], found[0][1], bool(found[0][2])) if found else None

    def iter_created(self, run_id: str, *, state: str | None = None) -> Iterator[LeadRecord]:
        """The leads ``run_id`` created, in the order first recorded (see ``find_run``).

        Those whose create it confirmed (``sent``, or later states), and those it
        left ``in_doubt`` (or ``sending``: it crashed, or is still running) that
        no run confirmed since: the server may hold them.
        """
        if state is not None and state not in LEAD_STATES:
            raise ValueError(f"lead state must be one of {LEAD_STATES}, not {state!r}")
        created = (
            "created_run = ? OR (created_run IS NULL AND payload IS NULL "
            "AND state IN ('sending', 'in_doubt') AND run_id = ?)"
        )
        for page in self._pages("leads", LEAD_COLUMNS, state, where=(created, (run_id, run_id))):
            yield from decode_leads(page)

    def iter_activities(self, *, state: str | None = None) -> Iterator[dict[str, Any]]:
        """Every activity as a dict of its columns (``payload`` decoded, or None), oldest first."""
        if state is not None and state not in ACTIVITY_STATES:
            raise ValueError(f"activity state must be one of {ACTIVITY_STATES}, not {state!r}")
        for page in self._pages("activities", ", ".join(_ACTIVITY_COLUMNS), state):
            for row in page:
                activity = dict(zip(_ACTIVITY_COLUMNS, row, strict=True))
                if activity["payload"] is not None:
                    activity["payload"] = json.loads(activity["payload"])
                yield activity
