"""The ledger's SQLite schema: its tables, the states their rows can be in, its version.

``SCHEMA`` creates a new ledger of ``SCHEMA_VERSION``; ``ADDITIONS`` are tables
added later without changing what the older ones hold, created on open when
missing; ``MIGRATIONS`` bring a ledger of an older version up to this one when
a run opens it (a read-only open leaves it as it is, and still reads it).
``importer.ledger.store`` applies them.
"""

from __future__ import annotations

LEAD_STATES = ("sending", "sent", "failed", "in_doubt")
ACTIVITY_STATES = ("sending", "sent", "failed", "in_doubt")
# 1: leads, activities (and rejected_rows, an addition)
# 2: leads.created_run and the runs table: which run created a lead (``ledger export --run``)
SCHEMA_VERSION = 2

# Every run that opened the ledger to send. ``creations_known``: 1 when the
# run recorded the leads it created in ``leads.created_run``; 0 for a run found
# in a version 1 ledger (``recorded_at`` is then the earliest time it left).
_RUNS = """CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    creations_known INTEGER NOT NULL
) WITHOUT ROWID"""

SCHEMA = (
    """CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY,
        applied_at TEXT NOT NULL
    )""",
    f"""CREATE TABLE leads (
        site TEXT NOT NULL,
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        lead_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN {LEAD_STATES!r}),
        payload TEXT,
        payload_hash TEXT,
        pending_payload TEXT,
        pending_hash TEXT,
        row_digest TEXT,
        pending_digest TEXT,
        row_activities INTEGER NOT NULL DEFAULT 0,
        pending_activities INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        run_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        created_run TEXT,
        PRIMARY KEY (site, source, key)
    )""",
    "CREATE UNIQUE INDEX leads_lead_id ON leads (lead_id)",
    # covering: a re-run answers "which rows are unchanged" from the index alone
    "CREATE INDEX leads_digest ON leads (site, source, row_digest, state, key, lead_id, row_activities)",
    "CREATE INDEX leads_state ON leads (state)",
    # No foreign key to leads: an activity file may name leads this ledger never created.
    f"""CREATE TABLE activities (
        lead_id TEXT NOT NULL,
        activity_hash TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN {ACTIVITY_STATES!r}),
        payload TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_status INTEGER,
        last_error TEXT,
        run_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (lead_id, activity_hash)
    )""",
    "CREATE INDEX activities_state ON activities (state)",
    _RUNS,
)


# version -> the statements that bring a ledger of the version before up to it,
# run in one transaction after ``ADDITIONS``.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: (
        # the run whose create request the server confirmed; NULL for leads a
        # version 1 ledger holds (it never recorded it) and for leads not created yet
        "ALTER TABLE leads ADD COLUMN created_run TEXT",
        _RUNS,
        # the runs a version 1 ledger still names, as far as it does
        """INSERT INTO runs (run_id, recorded_at, creations_known)
        SELECT run_id, min(created_at), 0 FROM (
            SELECT run_id, created_at FROM leads
            UNION ALL SELECT run_id, created_at FROM activities
            UNION ALL SELECT run_id, created_at FROM rejected_rows
        ) GROUP BY run_id""",
    ),
}

# Tables added after version 1 without changing what older ones hold: created
# when missing, so a ledger written by an earlier rg-import gains them on open.
ADDITIONS = (
    # rows that failed validation, by the digest of their raw bytes (which is
    # salted with the mapping): a re-run reports them again without checking them
    """CREATE TABLE IF NOT EXISTS rejected_rows (
        site TEXT NOT NULL,
        source TEXT NOT NULL,
        row_digest TEXT NOT NULL,
        key TEXT NOT NULL,
        problems TEXT NOT NULL,
        run_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (site, source, row_digest)
    ) WITHOUT ROWID""",
    # every rejected row a run reported (at any stage), by digest, with its key and
    # codes: the next run tells a reject reported before from a new one
    """CREATE TABLE IF NOT EXISTS reported_rejects (
        site TEXT NOT NULL,
        source TEXT NOT NULL,
        row_digest TEXT NOT NULL,
        key TEXT NOT NULL,
        codes TEXT NOT NULL,
        run_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (site, source, row_digest)
    ) WITHOUT ROWID""",
)
# the tables every version has (what makes a file an rg-import ledger)
BASE_TABLES = frozenset({"schema_version", "leads", "activities"})
MIGRATED_TABLES = frozenset({"runs"})
ADDED_TABLES = frozenset({"rejected_rows", "reported_rejects"})
