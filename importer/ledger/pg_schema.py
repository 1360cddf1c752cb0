"""The PostgreSQL ledger's schema: the SQLite ledger's tables, plus what sharing needs.

The tables, columns, states and keys are ``importer.ledger.schema``'s, so the
one set of transitions and queries runs on both. What a ledger that many runs
share at once adds:

* ``rowid``: an identity column on ``leads`` and ``activities``, which the
  listings page on (SQLite has one of its own);
* ``run_leases``: each run writing the ledger, when it started and until when
  it is alive (it renews that while it runs, on the database's clock);
* ``claimed_at`` and the ``claim`` triggers: a row becomes ``sending`` for one
  run at a time. The trigger refuses (SQLSTATE ``RGCLM``) to make a row
  ``sending`` for a run when another run is sending it and its lease still
  runs, or when another run began it after this run started (this run planned
  the row before that, from what it is no longer). The row's primary key
  ``(site, source, key)`` keeps each source row to one record in the
  database itself, whatever the runs do.

``SCHEMA`` creates a ledger of ``FIRST_VERSION``; ``MIGRATIONS`` bring it up
to ``importer.ledger.schema.SCHEMA_VERSION``, one entry per version, as the
SQLite ledger's migrations do (the versions are the same).
"""

from __future__ import annotations

from importer.ledger.schema import ACTIVITY_STATES, LEAD_STATES

FIRST_VERSION = 2  # the SQLite schema version the PostgreSQL ledger started at
CLAIM_REFUSED = "RGCLM"  # the SQLSTATE the claim triggers raise

_CLAIM_CHECK = """
    IF NEW.state = 'sending' THEN
        IF TG_OP = 'UPDATE' AND OLD.run_id <> NEW.run_id THEN
            IF OLD.state = 'sending' AND EXISTS (
                SELECT 1 FROM run_leases
                WHERE run_id = OLD.run_id AND lease_until > clock_timestamp()
            ) THEN
                RAISE EXCEPTION USING ERRCODE = 'RGCLM',
                    MESSAGE = format('being sent by run %s', OLD.run_id);
            END IF;
            IF OLD.state <> 'sending' AND OLD.claimed_at >= (
                SELECT started_at FROM run_leases WHERE run_id = NEW.run_id
            ) THEN
                RAISE EXCEPTION USING ERRCODE = 'RGCLM',
                    MESSAGE = format('sent by run %s since this run started', OLD.run_id);
            END IF;
        END IF;
        NEW.claimed_at := clock_timestamp();
    END IF;
    RETURN NEW;
"""

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
        rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        claimed_at TIMESTAMPTZ,
        PRIMARY KEY (site, source, key)
    )""",
    "CREATE UNIQUE INDEX leads_lead_id ON leads (lead_id)",
    "CREATE INDEX leads_digest ON leads (site, source, row_digest, state, key, lead_id, row_activities)",
    "CREATE INDEX leads_state ON leads (state, rowid)",
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
        rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        claimed_at TIMESTAMPTZ,
        PRIMARY KEY (lead_id, activity_hash)
    )""",
    "CREATE INDEX activities_state ON activities (state, rowid)",
    """CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        recorded_at TEXT NOT NULL,
        creations_known INTEGER NOT NULL
    )""",
    """CREATE TABLE rejected_rows (
        site TEXT NOT NULL,
        source TEXT NOT NULL,
        row_digest TEXT NOT NULL,
        key TEXT NOT NULL,
        problems TEXT NOT NULL,
        run_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (site, source, row_digest)
    )""",
    """CREATE TABLE reported_rejects (
        site TEXT NOT NULL,
        source TEXT NOT NULL,
        row_digest TEXT NOT NULL,
        key TEXT NOT NULL,
        codes TEXT NOT NULL,
        run_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (site, source, row_digest)
    )""",
    """CREATE TABLE run_leases (
        run_id TEXT PRIMARY KEY,
        started_at TIMESTAMPTZ NOT NULL,
        lease_until TIMESTAMPTZ NOT NULL
    )""",
    f"""CREATE FUNCTION rg_claim() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN {_CLAIM_CHECK}
    END $$""",
    """CREATE TRIGGER leads_claim BEFORE INSERT OR UPDATE ON leads
        FOR EACH ROW EXECUTE FUNCTION rg_claim()""",
    """CREATE TRIGGER activities_claim BEFORE INSERT OR UPDATE ON activities
        FOR EACH ROW EXECUTE FUNCTION rg_claim()""",
)

# version -> the statements that bring a PostgreSQL ledger of the version before
# up to it; one for each SQLite migration after FIRST_VERSION (a test checks).
MIGRATIONS: dict[int, tuple[str, ...]] = {}

# the tables of a PostgreSQL ledger (what makes a database one)
TABLES = frozenset(
    {"schema_version", "leads", "activities", "runs", "rejected_rows", "reported_rejects",
     "run_leases"}
)  # fmt: skip
