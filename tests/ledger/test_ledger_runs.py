"""Which run created a lead (schema version 2), and ledgers written before it (version 1).

A version 1 ledger is made here the way an earlier rg-import left it: this
version's file without what version 2 added (``leads.created_run``, the
``runs`` table, the version 2 row). It must stay readable as it is, and a run
that opens it brings it up to date without changing what it holds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from importer.errors import ConfigError, LedgerError
from importer.ledger.ledger import Ledger
from importer.ledger.listing import ledger_rows
from importer.ledger.schema import SCHEMA_VERSION
from tests.conftest import SITE
from tests.ledger.test_ledger import SOURCE, begin, lead_id_for


def created_keys(book: Ledger, run_id: str) -> list[str]:
    return [r.key for r in book.iter_created(run_id)]


def test_the_run_whose_create_was_confirmed_keeps_the_lead(ledger_spec: Path | str) -> None:
    with Ledger(ledger_spec, run_id="run-1") as first:
        first.begin_run()
        for key in ("sent", "doubt", "refused", "stopped"):
            begin(first, key, {"email": f"{key}@example.com"})
        first.lead_sent(SITE, SOURCE, "sent", status=201, created=True)
        first.lead_in_doubt(SITE, SOURCE, "doubt", status=None, error="timeout")
        first.lead_failed(SITE, SOURCE, "refused", status=422, error="bad email")
        # "stopped" stays sending: the next run recovers it in doubt
        assert first.find_run("run-1") is not None
        assert created_keys(first, "run-1") == ["sent", "doubt", "stopped"]
    with Ledger(ledger_spec, run_id="run-2") as second:
        second.recover()
        second.begin_run()
        # run 2 updates the lead run 1 created, and confirms the create run 1 left in doubt
        begin(second, "sent", {"email": "new@example.com"})
        second.lead_sent(SITE, SOURCE, "sent", status=200)
        begin(second, "doubt", {"email": "doubt@example.com"})
        second.lead_sent(SITE, SOURCE, "doubt", status=201, created=True)
        begin(second, "fresh", {"email": "fresh@example.com"})
        second.lead_sent(SITE, SOURCE, "fresh", status=201, created=True)
        assert created_keys(second, "run-1") == ["sent", "stopped"]
        assert created_keys(second, "run-2") == ["doubt", "fresh"]
        assert [r.state for r in second.iter_created("run-1")] == ["sent", "in_doubt"]
        assert created_keys(second, "run-2") == [
            r.key for r in second.iter_created("run-2", state="sent")
        ]
        assert second.find_run("no-such-run") is None


def test_ledger_export_run_lists_what_it_created_and_refuses_an_unknown_run(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path, run_id="run-1") as book:
        book.begin_run()
        begin(book, "p1", {"email": "a@example.com"})
        book.lead_sent(SITE, SOURCE, "p1", status=201, created=True)
    assert [r[2:4] for r in ledger_rows(path, run="run-1")] == [["p1", lead_id_for("p1")]]
    with pytest.raises(ConfigError, match="no run run-9 in the ledger"):
        ledger_rows(path, run="run-9")


def make_version_1(path: Path) -> None:
    """A ledger as rg-import before schema version 2 left it: one lead sent by run ``old``."""
    with Ledger(path, run_id="old") as book:
        begin(book, "p1", {"email": "a@example.com"})
        book.lead_sent(SITE, SOURCE, "p1", status=201)
    with sqlite3.connect(path) as raw:
        raw.execute("ALTER TABLE leads DROP COLUMN created_run")
        raw.execute("DROP TABLE runs")
        raw.execute("UPDATE schema_version SET version = 1")  # a new ledger has one row
    raw.close()


def test_a_version_1_ledger_is_read_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    make_version_1(path)
    with Ledger(path, run_id="inspect", readonly=True) as book:
        assert book.store.version == 1
        assert [r.key for r in book.iter_leads()] == ["p1"]
        with pytest.raises(LedgerError, match=r"older rg-import .*version 1"):
            book.find_run("old")
    assert [r[2] for r in ledger_rows(path)] == ["p1"]
    with sqlite3.connect(path) as raw:  # reading changed nothing
        assert raw.execute("SELECT max(version) FROM schema_version").fetchone() == (1,)
    raw.close()


def test_a_run_brings_a_version_1_ledger_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    make_version_1(path)
    with Ledger(path, run_id="new") as book:
        assert book.store.version == SCHEMA_VERSION == 2
        book.begin_run()
        old = book.lookup(SITE, SOURCE, ["p1"])["p1"]
        assert (old.state, old.payload, old.run_id) == ("sent", {"email": "a@example.com"}, "old")
        begin(book, "p2", {"email": "b@example.com"})
        book.lead_sent(SITE, SOURCE, "p2", status=201, created=True)
        assert created_keys(book, "new") == ["p2"]
        found = book.find_run("old")
        assert found is not None and not found.creations_known  # it never recorded them
    with sqlite3.connect(path) as raw:
        versions = [v for (v,) in raw.execute("SELECT version FROM schema_version ORDER BY 1")]
    raw.close()
    assert versions == [1, 2]
    with pytest.raises(ConfigError, match="run old sent before the ledger"):
        ledger_rows(path, run="old")
    assert [r[2] for r in ledger_rows(path, run="new")] == ["p2"]
