"""The ledger's write-ahead state transitions.

Writes are write-ahead: ``begin_lead`` marks a row ``sending`` and commits
*before* the HTTP request, and ``lead_sent`` / ``lead_failed`` /
``lead_in_doubt`` record the outcome after it. Each returns once committed
(concurrent threads' writes share a transaction: ``importer.ledger.group_commit``).
A crash, even SIGKILL, therefore leaves at most one ``sending`` row per
writing thread, and ``recover()`` at the start of the next run turns those
into ``in_doubt``.

Lead states::

    begin_lead ──► sending ──► sent       (confirmed; payload becomes the confirmed one)
                     │  ├────► failed     (a definite refusal such as 422; retried next run)
                     │  └────► in_doubt   (outcome unknown; may become sent or failed later)
                     └─ crash ─► in_doubt (by recover())

Activities follow the same states, keyed ``(lead_id, activity_hash)``.
The SQL is written once, in SQLite's spelling, for both stores: ``conn`` is
SQLite's connection, or the PostgreSQL store's adapter with the same
``execute`` and ``executemany`` (``importer.ledger.postgres``).
``importer.ledger.ledger.Ledger`` offers these beside the lookups and listings.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from importer.errors import LedgerError
from importer.ledger.group_commit import GroupCommit
from importer.ledger.store import LedgerStore, canonical_json, normalize_lead_id

# Outcome transitions need an attempt in flight: a fresh one, or one whose
# outcome was unknown and is now being settled.
_OPEN_STATES = ("sending", "in_doubt")
_DONE_STATES = ("sent", "failed", "in_doubt")
_INTERRUPTED = (
    "the run stopped before the answer arrived; the request may or may not have been applied"
)


class LeadIdConflict(LedgerError):
    """A lead id would be given to a second source row, or changed for one the server may know."""


def _checked_payload(
    payload: Mapping[str, Any], payload_hash: str | None, source: str, key: str
) -> tuple[str, str]:
    """The canonical JSON of ``payload`` and its hash; ValueError if ``payload_hash``
    is given and is not that hash. None: the hash is made here, the payload encoded once."""
    text = canonical_json(payload)
    found = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if payload_hash is not None and found != payload_hash:
        raise ValueError(f"payload_hash does not match the payload of {source}/{key}")
    return text, found


def _check_lead_id(conn: sqlite3.Connection, row_key: tuple[str, str, str], lead_id: str) -> None:
    """Raise LeadIdConflict if the row has another id the server may already know, or if
    the id belongs to another row.

    Only a failed row the server never confirmed may change its id. One statement
    reads both the row and the id's owner (each through its unique index).
    """
    site, source, key = row_key
    found = conn.execute(
        "SELECT site, source, key, lead_id, state, payload_hash FROM leads "
        "WHERE (site = ? AND source = ? AND key = ?) OR lead_id = ?",
        (site, source, key, lead_id),
    ).fetchall()
    rows = [(tuple(row[:3]), row[3:]) for row in found]
    for where, (their_id, state, confirmed) in rows:
        if (
            where == row_key
            and their_id != lead_id
            and (state != "failed" or confirmed is not None)
        ):
            raise LeadIdConflict(
                f"{source}/{key} was sent as lead {their_id}; it cannot become {lead_id}: "
                "keep the lead id of a row once the server may have it"
            )
    # Asked first, not after the unique index refuses it: PostgreSQL reads
    # nothing more in a transaction once a statement of it failed.
    for where, (their_id, _state, _confirmed) in rows:
        if where != row_key and their_id == lead_id:
            raise LeadIdConflict(
                f"lead id {lead_id} of {source}/{key} already belongs to "
                f"{where[1]}/{where[2]} (site {where[0]}); two rows must never share an id"
            )


class LedgerTransitions:
    """The write-ahead transitions of leads and activities in ``store``.

    Every method returns once its write is committed; see the module docstring
    for the states. The writes of a row's send (``begin_lead``, the outcomes,
    the activities') are committed together with those of other threads that
    write at the same moment (``importer.ledger.group_commit``).
    """

    def __init__(self, store: LedgerStore):
        self._store = store
        self._group = GroupCommit(store)
        self.settled = self._group.settled  # then(error) once the thread's later write is done

    def begin_lead(
        self,
        site: str,
        source: str,
        key: str,
        lead_id: str,
        *,
        payload: Mapping[str, Any],
        payload_hash: str | None = None,
        activity_hashes: Sequence[str] | Mapping[str, Mapping[str, Any]] = (),
        row_digest: str | None = None,
        row_activities: int = 0,
    ) -> None:
        """Record that ``payload`` is about to be sent for this row; commit before the request.

        ``row_digest`` is the caller's quick fingerprint of the whole source row
        and ``row_activities`` how many activities the row has; both are
        confirmed with the payload and returned by ``lookup_digests``, so that
        an unchanged row is recognised without mapping it.

        The row becomes ``sending`` with one more attempt; its confirmed payload
        is kept until ``lead_sent``. ``activity_hashes`` names the activities
        the request carries (a mapping also stores their payloads); they become
        ``sending`` for ``lead_id``. ``payload_hash`` is the payload's hash
        (``store.payload_hash``) when the caller has it; without it the hash is
        made here. Raises ValueError if ``payload_hash`` is not the hash of
        ``payload`` or the id is no UUID, and LeadIdConflict if the id belongs
        to another row or the row's id cannot change any more.
        """
        lead_id = normalize_lead_id(lead_id)
        text, digest = _checked_payload(payload, payload_hash, source, key)
        now = self._store.now()
        pending = (text, digest, row_digest, row_activities)
        # the activities' rows are made before the first write, so that a payload
        # that is not JSON fails the call with nothing of it written
        activities = self._activity_rows(lead_id, activity_hashes, now)
        row_key = (site, source, key)

        def write(conn: sqlite3.Connection) -> None:
            _check_lead_id(conn, row_key, lead_id)
            self._upsert_sending(conn, row_key, lead_id, pending, now)
            self._begin_activities(conn, activities)

        self._group.run(write)

    def _upsert_sending(
        self,
        conn: sqlite3.Connection,
        row_key: tuple[str, str, str],
        lead_id: str,
        pending: tuple[str, str, str | None, int],
        now: str,
    ) -> None:
        """Make the row ``sending`` with ``pending`` (payload, hash, digest, activities)."""
        try:
            conn.execute(
                "INSERT INTO leads (site, source, key, lead_id, state, pending_payload, "
                "pending_hash, pending_digest, pending_activities, attempts, run_id, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, 'sending', ?, ?, ?, ?, 1, ?, ?, ?) "
                "ON CONFLICT (site, source, key) DO UPDATE SET lead_id = excluded.lead_id, "
                "state = 'sending', pending_payload = excluded.pending_payload, "
                "pending_hash = excluded.pending_hash, pending_digest = excluded.pending_digest, "
                "pending_activities = excluded.pending_activities, "
                "attempts = leads.attempts + 1, "
                "last_status = NULL, last_error = NULL, run_id = excluded.run_id, "
                "updated_at = excluded.updated_at",
                (*row_key, lead_id, *pending, self._store.run_id, now, now),
            )
        except self._store.integrity_error:
            # the unique index on lead_id: a row given this id since the look above
            raise LeadIdConflict(
                f"lead id {lead_id} of {row_key[1]}/{row_key[2]} was just given to another "
                "row; two rows must never share an id"
            ) from None

    def _activity_rows(
        self,
        lead_id: str,
        activities: Sequence[str] | Mapping[str, Mapping[str, Any]],
        now: str,
    ) -> list[tuple[Any, ...]]:
        """The parameters of ``_begin_activities``: one row per activity, its payload as
        canonical JSON (None: keep the one stored)."""
        payloads = activities if isinstance(activities, Mapping) else dict.fromkeys(activities)
        run_id = self._store.run_id
        return [
            (lead_id, h, None if p is None else canonical_json(p), run_id, now, now)
            for h, p in payloads.items()
        ]

    @staticmethod
    def _begin_activities(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Make the activities of ``rows`` (``_activity_rows``) ``sending``."""
        if not rows:
            return
        conn.executemany(
            "INSERT INTO activities (lead_id, activity_hash, state, payload, attempts, run_id, "
            "created_at, updated_at) VALUES (?, ?, 'sending', ?, 1, ?, ?, ?) "
            "ON CONFLICT (lead_id, activity_hash) DO UPDATE SET state = 'sending', "
            "payload = coalesce(excluded.payload, activities.payload), "
            "attempts = activities.attempts + 1, last_status = NULL, last_error = NULL, "
            "run_id = excluded.run_id, updated_at = excluded.updated_at",
            rows,
        )

    def _finish_lead(
        self,
        site: str,
        source: str,
        key: str,
        state: str,
        status: int | None,
        error: str | None,
        activity_hashes: Sequence[str],
        created: bool = False,
        later: bool = False,
    ) -> None:
        now = self._store.now()

        def write(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT lead_id, state FROM leads WHERE site = ? AND source = ? AND key = ?",
                (site, source, key),
            ).fetchone()
            if row is None:
                raise KeyError(f"no ledger row for {site}/{source}/{key}; call begin_lead first")
            if row[1] not in _OPEN_STATES:
                raise ValueError(
                    f"{source}/{key} is {row[1]}, not being sent; call begin_lead first"
                )
            # sent promotes the pending payload; failed drops it (never applied);
            # in_doubt keeps it so a later lead_sent can still promote it.
            promote = state == "sent"
            keep_pending = state == "in_doubt"
            conn.execute(
                "UPDATE leads SET state = ?, "
                "payload = CASE WHEN ? THEN pending_payload ELSE payload END, "
                "payload_hash = CASE WHEN ? THEN pending_hash ELSE payload_hash END, "
                "row_digest = CASE WHEN ? THEN pending_digest ELSE row_digest END, "
                "row_activities = CASE WHEN ? THEN pending_activities ELSE row_activities END, "
                "pending_payload = CASE WHEN ? THEN pending_payload END, "
                "pending_hash = CASE WHEN ? THEN pending_hash END, "
                "pending_digest = CASE WHEN ? THEN pending_digest END, "
                # the first run whose create the server confirmed keeps the lead's creation
                "created_run = CASE WHEN ? THEN coalesce(created_run, ?) ELSE created_run END, "
                "last_status = ?, last_error = ?, updated_at = ? "
                "WHERE site = ? AND source = ? AND key = ?",
                (state, promote, promote, promote, promote, keep_pending, keep_pending, keep_pending,
                 promote and created, self._store.run_id, status, error, now, site, source, key),
            )  # fmt: skip
            self._finish_activities(conn, row[0], activity_hashes, state, status, error, now)

        self._group.run(write, later=later)

    @staticmethod
    def _finish_activities(
        conn: sqlite3.Connection,
        lead_id: str,
        hashes: Sequence[str],
        state: str,
        status: int | None,
        error: str | None,
        now: str,
    ) -> None:
        unique = list(dict.fromkeys(hashes))
        if not unique:
            return
        cursor = conn.executemany(
            "UPDATE activities SET state = ?, last_status = ?, last_error = ?, updated_at = ? "
            f"WHERE lead_id = ? AND activity_hash = ? AND state IN {_OPEN_STATES!r}",
            [(state, status, error, now, lead_id, h) for h in unique],
        )
        if cursor.rowcount != len(unique):
            raise ValueError(
                f"some activities of lead {lead_id} are not being sent; "
                "call begin_activities or begin_lead with them first"
            )

    def lead_sent(
        self,
        site: str,
        source: str,
        key: str,
        *,
        status: int,
        activity_hashes: Sequence[str] = (),
        created: bool = False,
        later: bool = False,
    ) -> None:
        """The server accepted the request: ``sent``, and the pending payload becomes confirmed.

        ``created``: the request created the lead; unless an earlier run's
        create was confirmed already, this run is recorded as the one that
        created it (``ledger export --run``). Raises KeyError for an unknown
        row and ValueError when no attempt is in flight (the row is not
        ``sending`` or ``in_doubt``), or a listed activity is not.
        ``later``: return at once, committed with the next group (``settled``).
        """
        self._finish_lead(site, source, key, "sent", status, None, activity_hashes, created, later)

    def lead_failed(
        self,
        site: str,
        source: str,
        key: str,
        *,
        status: int | None,
        error: str,
        activity_hashes: Sequence[str] = (),
    ) -> None:
        """The server refused the request for sure (e.g. 422): ``failed``, retried next run.

        The confirmed payload stays. Raises like ``lead_sent``.
        """
        self._finish_lead(site, source, key, "failed", status, error, activity_hashes)

    def lead_in_doubt(
        self,
        site: str,
        source: str,
        key: str,
        *,
        status: int | None,
        error: str,
        activity_hashes: Sequence[str] = (),
    ) -> None:
        """The outcome is unknown (e.g. a timeout after the body went out): ``in_doubt``.

        The pending payload is kept, so ``lead_sent`` can still confirm it.
        Raises like ``lead_sent``.
        """
        self._finish_lead(site, source, key, "in_doubt", status, error, activity_hashes)

    def begin_activities(self, lead_id: str, activities: Mapping[str, Mapping[str, Any]]) -> None:
        """Record that ``activities`` (hash -> payload) are about to be posted to ``lead_id``."""
        lead_id = normalize_lead_id(lead_id)
        rows = self._activity_rows(lead_id, activities, self._store.now())
        self._group.run(lambda conn: self._begin_activities(conn, rows))

    def activities_done(
        self,
        lead_id: str,
        hashes: Sequence[str],
        state: str,
        *,
        status: int | None = None,
        error: str | None = None,
    ) -> None:
        """Record the outcome (``sent``, ``failed`` or ``in_doubt``) of posting ``hashes``.

        Raises ValueError for another state, or when a hash is not ``sending``
        or ``in_doubt`` for that lead (nothing is recorded then).
        """
        if state not in _DONE_STATES:
            raise ValueError(f"activity outcome must be one of {_DONE_STATES}, not {state!r}")
        lead_id = normalize_lead_id(lead_id)
        now = self._store.now()
        self._group.run(
            lambda conn: self._finish_activities(conn, lead_id, hashes, state, status, error, now)
        )

    def begin_run(self) -> None:
        """Record this run in the ledger, before it sends anything (``ledger export --run``)."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT INTO runs (run_id, recorded_at, creations_known) VALUES (?, ?, 1) "
                "ON CONFLICT (run_id) DO NOTHING",
                (self._store.run_id, self._store.now()),
            )

    def recover(self) -> dict[str, int]:
        """Turn what a crashed run left ``sending`` into ``in_doubt``; call before sending.

        On a ledger runs share (PostgreSQL) only rows whose run's lease ran out
        are taken: another run may be sending the others right now.

        Returns ``{"leads": n, "activities": m}``, the rows changed.
        """
        now = self._store.now()
        with self._store.transaction() as conn:
            counts = {
                table: conn.execute(
                    f"UPDATE {table} SET state = 'in_doubt', last_status = NULL, "
                    "last_error = ?, updated_at = ? WHERE state = 'sending'"
                    + self._store.abandoned(table),
                    (_INTERRUPTED, now),
                ).rowcount
                for table in ("leads", "activities")
            }
        return counts
