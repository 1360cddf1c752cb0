"""What a PostgreSQL ledger adds: runs share it, each row claimed by one run at a time.

The ledger suite (test_ledger.py) runs on PostgreSQL too; these are the
sharing itself (claims, leases, a dead run's rows taken over), the schema's
versions, the ``--ledger postgresql://`` spec, and its password kept out of
every message.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from importer.errors import LedgerError, LedgerMissing, LedgerWriteError, RowClaimed
from importer.ledger import pg_schema, pg_statistics
from importer.ledger.ledger import POSTGRES_EXTRA, Ledger, open_store
from importer.ledger.pg_sql import postgres_sql
from importer.ledger.schema import MIGRATIONS, SCHEMA_VERSION
from importer.ledger.spec import is_database_url, ledger_spec, mask_url, shown
from tests.conftest import ROOT, SITE
from tests.ledger.test_ledger import SOURCE, begin, kill, lead_id_for, record, run_python

# -- the spec and the SQL, no server needed ----------------------------------------


def test_a_url_stays_text_and_anything_else_is_a_path() -> None:
    url = "postgresql://rg:s3cret@db.example.com:5432/ledger?sslmode=require"
    assert ledger_spec(url) == url and is_database_url(url)
    assert ledger_spec("postgres://db/ledger") == "postgres://db/ledger"
    assert ledger_spec("ledger.sqlite") == Path("ledger.sqlite")
    assert ledger_spec("./postgresql:/not-a-url") == Path("postgresql:/not-a-url")
    assert not is_database_url(Path("postgresql://x"))  # a Path is always a file


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://rg:s3cret@db/ledger", "postgresql://rg:***@db/ledger"),
        ("postgresql://rg@db/ledger", "postgresql://rg@db/ledger"),
        ("postgresql://db/ledger?user=rg&password=s3cret&x=1",
         "postgresql://db/ledger?user=rg&password=***&x=1"),
        ("postgresql://rg:p%40ss@db:5432/ledger", "postgresql://rg:***@db:5432/ledger"),
        ("--ledger=postgresql://rg:s3cret@db/x", "--ledger=postgresql://rg:***@db/x"),
    ],
)  # fmt: skip
def test_the_password_is_masked(url: str, masked: str) -> None:
    assert mask_url(url) == shown(url) == masked


def test_sqlite_spelling_becomes_postgresql_spelling() -> None:
    assert postgres_sql(
        "SELECT a FROM t WHERE b = ? AND c IN (SELECT value FROM json_each(?)) "
        "AND d LIKE 'x?%' AND e % 2 = 0"
    ) == (
        "SELECT a FROM t WHERE b = %s AND c IN (SELECT value FROM "
        "json_array_elements_text(%s::json)) AND d LIKE 'x?%%' AND e %% 2 = 0"
    )


def test_every_sqlite_migration_has_its_postgresql_one() -> None:
    later = {v for v in MIGRATIONS if v > pg_schema.FIRST_VERSION}
    assert set(pg_schema.MIGRATIONS) == later
    assert pg_schema.FIRST_VERSION <= SCHEMA_VERSION


def test_without_psycopg_the_error_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg now fails
    monkeypatch.delitem(sys.modules, "importer.ledger.postgres", raising=False)
    with pytest.raises(LedgerError) as missing:
        open_store("postgresql://rg:s3cret@db/ledger", run_id="run-1")
    assert str(missing.value) == (
        "a PostgreSQL ledger needs psycopg, which is not installed: "
        "pip install 'rg-import[postgres]'"
    )
    assert POSTGRES_EXTRA in str(missing.value)


def test_the_cli_says_so_in_one_line_with_exit_2(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['psycopg'] = None\n"
        "sys.argv = ['rg-import', 'ledger', 'show', '--ledger', sys.argv[1]]\n"
        "from importer.cli.main import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "postgresql://rg:s3cret@db/ledger"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "Error: a PostgreSQL ledger needs psycopg, which is not installed: "
        "pip install 'rg-import[postgres]'\n"
    )


# -- a server ----------------------------------------------------------------------


def test_a_wrong_url_is_one_line_without_the_password(postgres_server: str) -> None:
    url = f"postgresql://postgres:s3cret@/no_such_db?host={postgres_server}"
    with pytest.raises(LedgerError) as refused:
        Ledger(url, run_id="run-1")
    message = str(refused.value)
    assert message.startswith(
        "cannot connect to the ledger database postgresql://postgres:***@/no_such_db?host="
    )
    assert "s3cret" not in message and "\n" not in message


def test_a_second_run_cannot_take_a_row_another_live_run_is_sending(postgres_url: str) -> None:
    with (
        Ledger(postgres_url, run_id="run-1") as first,
        Ledger(postgres_url, run_id="run-2") as second,
    ):
        begin(first, "p1", {"email": "a@example.com"}, activity_hashes={"h1": {"type": "note"}})
        with pytest.raises(RowClaimed, match="being sent by run run-1"):
            begin(second, "p1", {"email": "a@example.com"})
        with pytest.raises(RowClaimed, match="being sent by run run-1"):
            second.begin_activities(lead_id_for("p1"), {"h1": {"type": "note"}})
        # the refused claims changed nothing, and recovery leaves a live run's rows alone
        assert second.recover() == {"leads": 0, "activities": 0}
        assert (record(second, "p1").state, record(second, "p1").run_id) == ("sending", "run-1")
        # a row run 1 sent after run 2 started is not sent again by run 2
        first.lead_sent(SITE, SOURCE, "p1", status=201, activity_hashes=["h1"], created=True)
        with pytest.raises(RowClaimed, match="sent by run run-1 since this run started"):
            begin(second, "p1", {"email": "a@example.com"})
        # rows no other run has are the second run's, as always
        begin(second, "p2", {"email": "b@example.com"})
        second.lead_sent(SITE, SOURCE, "p2", status=201, created=True)
    with Ledger(postgres_url, run_id="run-3") as later:  # a run started after both: as usual
        begin(later, "p1", {"email": "new@example.com"})
        later.lead_sent(SITE, SOURCE, "p1", status=200)
        assert record(later, "p1").payload == {"email": "new@example.com"}
        assert later.counts()["leads"]["sent"] == 2


_SENDING_THEN_WAIT = """
import sys
import threading
from importer.ledger.ledger import Ledger
from tests.ledger.test_ledger import begin
ledger = Ledger(sys.argv[1], run_id="doomed", lease=float(sys.argv[2]))
begin(ledger, "p1", {"email": "a@example.com"}, activity_hashes=["h1"])
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.mark.slow
def test_a_dead_runs_rows_are_taken_over_once_its_lease_runs_out(postgres_url: str) -> None:
    lease = 2.0
    child = run_python(_SENDING_THEN_WAIT, postgres_url, str(lease))
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with Ledger(postgres_url, run_id="next") as after:
            time.sleep(lease)  # the child is alive: it renews its lease meanwhile
            assert after.recover() == {"leads": 0, "activities": 0}
            with pytest.raises(RowClaimed):
                begin(after, "p1", {"email": "a@example.com"})
            kill(child)  # SIGKILL: no chance to give the lease back
            deadline = time.monotonic() + 10 * lease
            while (recovered := after.recover()) == {"leads": 0, "activities": 0}:
                assert time.monotonic() < deadline, "the dead run's lease never ran out"
                time.sleep(0.2)
            assert recovered == {"leads": 1, "activities": 1}
            assert record(after, "p1").state == "in_doubt"
            begin(after, "p1", {"email": "a@example.com"})  # now this run's to send
            after.lead_sent(SITE, SOURCE, "p1", status=201, created=True)
            assert record(after, "p1").run_id == "next"
    finally:
        if child.poll() is None:
            kill(child)


def test_a_closed_run_gives_its_rows_back_at_once(postgres_url: str) -> None:
    with Ledger(postgres_url, run_id="run-1") as first:
        begin(first, "p1", {"a": 1})
    with Ledger(postgres_url, run_id="run-2") as second:
        assert second.recover() == {"leads": 1, "activities": 0}


def test_a_run_that_cannot_renew_its_lease_stops_writing(postgres_url: str) -> None:
    with Ledger(postgres_url, run_id="run-1", lease=0.5) as ledger:
        ledger.store._lease.stop()  # no more renewing, as if the database were out of reach
        time.sleep(0.6)
        with pytest.raises(LedgerError, match="could not renew its lease"):
            begin(ledger, "p1", {"a": 1})


def test_readonly_on_an_empty_database_creates_nothing(postgres_url: str) -> None:
    with pytest.raises(LedgerMissing, match="no ledger in the database"):
        Ledger(postgres_url, run_id="report", readonly=True)
    with psycopg.connect(postgres_url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert found == (0,)


def test_a_database_with_part_of_the_tables_is_no_ledger(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE leads (name TEXT)")
    with pytest.raises(LedgerError, match="has some of the ledger's tables but not all"):
        Ledger(postgres_url, run_id="run-1")


def test_a_newer_schema_is_refused_and_the_version_is_recorded(postgres_url: str) -> None:
    Ledger(postgres_url, run_id="run-1").close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        assert versions == [(v,) for v in range(pg_schema.FIRST_VERSION, SCHEMA_VERSION + 1)]
        conn.execute(
            "INSERT INTO schema_version VALUES (%s, '2030-01-01T00:00:00.000Z')",
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(LedgerError, match=f"schema version {SCHEMA_VERSION + 1}"):
        Ledger(postgres_url, run_id="run-2")


def test_runs_starting_together_make_the_schema_once(postgres_url: str) -> None:
    code = (
        "import sys\nfrom importer.ledger.ledger import Ledger\n"
        "Ledger(sys.argv[1], run_id=sys.argv[2]).close()\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", code, postgres_url, f"run-{n}"], cwd=ROOT)
        for n in range(4)
    ]
    assert [run.wait(timeout=60) for run in runs] == [0, 0, 0, 0]
    with Ledger(postgres_url, run_id="check", readonly=True) as book:
        assert book.store.version == SCHEMA_VERSION


def test_site_source_and_key_are_unique_in_the_database(postgres_url: str) -> None:
    Ledger(postgres_url, run_id="run-1").close()
    row = (SITE, SOURCE, "p1", lead_id_for("p1"), "sent", "run-1", "t", "t")
    insert = (
        "INSERT INTO leads (site, source, key, lead_id, state, run_id, created_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(insert, row)
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(insert, (*row[:3], lead_id_for("other"), *row[4:]))


def test_runs_deadlocked_over_the_same_rows_leave_them_to_each_other(postgres_url: str) -> None:
    """Two runs each writing two rows in one transaction, in opposite orders: the server
    refuses one (a deadlock), and that run is told the rows are claimed."""
    with Ledger(postgres_url, run_id="a") as first, Ledger(postgres_url, run_id="b") as second:
        for key in ("p1", "p2"):
            begin(first, key, {"key": key})
            first.lead_sent(SITE, SOURCE, key, status=201)
        both_hold_one = threading.Barrier(2, timeout=30)
        ended: dict[str, str] = {}

        def write(ledger: Ledger, keys: tuple[str, str]) -> None:
            try:
                with ledger.store.transaction() as conn:
                    for n, key in enumerate(keys):
                        conn.execute("UPDATE leads SET attempts = attempts WHERE key = ?", (key,))
                        if n == 0:
                            both_hold_one.wait()
                ended[ledger.store.run_id] = "committed"
            except RowClaimed as exc:
                ended[ledger.store.run_id] = str(exc)

        threads = [
            threading.Thread(target=write, args=(first, ("p1", "p2"))),
            threading.Thread(target=write, args=(second, ("p2", "p1"))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(ended.values())[0] == "being written by another run at the same moment: " + (
        "another run sharing the ledger has this row, so this run leaves it "
        "(the next run sends it if needed)"
    )
    assert sorted(ended.values())[1] == "committed"


def test_a_lost_connection_stops_the_run_with_a_write_error(postgres_url: str) -> None:
    """The server ends the run's session (a restart, a network cut): the write on it
    raises LedgerWriteError, which stops a run with exit 4."""
    with Ledger(postgres_url, run_id="run-1") as ledger:
        begin(ledger, "p1", {"a": 1})
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'rg-import' AND datname = current_database()"
            ).fetchall()
        assert ended == [(True,)]
        with pytest.raises(LedgerWriteError, match="cannot write the ledger postgresql://"):
            ledger.lead_sent(SITE, SOURCE, "p1", status=201)
        # the other connections are new ones: the next run finds the row to recover
        assert record(ledger, "p1").state == "sending"
    with Ledger(postgres_url, run_id="run-2") as after:  # the lease was given back
        assert after.recover() == {"leads": 1, "activities": 0}


def test_both_ledgers_have_the_same_tables_and_columns(postgres_url: str, tmp_path: Path) -> None:
    """pg_schema restates schema.py's tables for PostgreSQL: a column added to one and not
    the other would pass until the one statement that uses it ran on the other store."""
    import sqlite3

    with Ledger(tmp_path / "l.sqlite", run_id="run-1"), Ledger(postgres_url, run_id="run-1"):
        pass
    lite = sqlite3.connect(tmp_path / "l.sqlite")
    tables = [r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    sqlite_columns = {t: {r[1] for r in lite.execute(f"PRAGMA table_info({t})")} for t in tables}
    lite.close()
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        ).fetchall()
    pg_columns: dict[str, set[str]] = {}
    for table, column in rows:
        pg_columns.setdefault(table, set()).add(column)
    sharing_only = {"run_leases"}  # what runs sharing the database add (see pg_schema)
    assert set(pg_columns) - sharing_only == set(sqlite_columns)
    for table, columns in sqlite_columns.items():
        assert columns <= pg_columns[table], table
        assert pg_columns[table] - columns <= {"rowid", "claimed_at"}, table


_LOOKUP = "EXPLAIN SELECT lead_id, state FROM leads WHERE site = %s AND source = %s AND key = %s"


def test_a_growing_ledger_is_analyzed_so_leads_are_found_by_their_key(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without statistics PostgreSQL found a lead through leads_digest, reading the whole
    index at every lookup (a first import of 20,000 leads slowed to a quarter of its rate
    until autovacuum came); a writing run analyzes the tables as they grow."""
    monkeypatch.setattr(pg_statistics, "FIRST_AFTER", 16)
    with Ledger(postgres_url, run_id="run-1") as ledger:
        for n in range(150):
            begin(ledger, f"p{n}", {"email": f"{n}@example.com"})
            ledger.lead_sent(SITE, SOURCE, f"p{n}", status=201, created=True)
    with psycopg.connect(postgres_url) as conn:
        [(tuples,)] = conn.execute("SELECT reltuples FROM pg_class WHERE relname = 'leads'")
        assert tuples > 0  # -1 until a table is first analyzed
        plan = "\n".join(row[0] for row in conn.execute(_LOOKUP, (SITE, SOURCE, "p7")))
    assert "leads_pkey" in plan, plan


def test_an_analyze_that_fails_raises_nothing_in_the_writing_thread() -> None:
    """ANALYZE only helps the planner: a failing one (here, no connection) is left to autovacuum."""

    def refuse() -> object:
        raise psycopg.OperationalError("the database is out of reach")

    keeper = pg_statistics.StatisticsKeeper(refuse, first_after=1)
    for _ in range(4):
        keeper.wrote()
    keeper.stop()
    assert keeper.analyzed == 0
