"""``rg-import ledger backup``: a consistent private copy, refused while a run holds the
ledger; and the ledger path check of ``jobs check``, which writes nothing."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from importer.errors import ConfigError, LedgerError
from importer.ledger.backup import backup_ledger
from importer.ledger.ledger import Ledger
from importer.ledger.path_check import check_ledger_path
from importer.ledger.store import payload_hash
from tests.conftest import SITE
from tests.ledger.test_ledger import lead_id_for

SOURCE = "followupboss"


def filled_ledger(path: Path, leads: int = 3) -> Path:
    with Ledger(path, run_id="r1") as book:
        for n in range(leads):
            payload = {"email": f"p{n}@example.com"}
            book.begin_lead(SITE, SOURCE, f"k{n}", lead_id_for(f"k{n}"), payload=payload,
                            payload_hash=payload_hash(payload))  # fmt: skip
            book.lead_sent(SITE, SOURCE, f"k{n}", status=201)
    return path


def test_a_backup_is_a_private_copy_that_reads_as_the_ledger(tmp_path: Path) -> None:
    source = filled_ledger(tmp_path / "ledger.sqlite")
    target = tmp_path / "backups" / "ledger-copy.sqlite"
    target.parent.mkdir()
    assert backup_ledger(source, target) == 3
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with Ledger(target, run_id="t", readonly=True) as copy:
        assert sorted(r.key for r in copy.iter_leads()) == ["k0", "k1", "k2"]
    assert sorted(
        p.name for p in target.parent.iterdir() if not p.name.endswith(("-wal", "-shm"))
    ) == ["ledger-copy.sqlite"]


def test_a_backup_is_refused_while_a_run_holds_the_ledger(tmp_path: Path) -> None:
    source = filled_ledger(tmp_path / "ledger.sqlite")
    target = tmp_path / "copy.sqlite"
    with (
        Ledger(source, run_id="the-run"),
        pytest.raises(LedgerError, match=r"is in use by another run \(pid \d+, run the-run\)"),
    ):
        backup_ledger(source, target)
    assert not target.exists()
    assert backup_ledger(source, target) == 3  # once the run is over


def test_a_run_cannot_start_while_a_backup_holds_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importer.ledger.backup as backup_module

    source = filled_ledger(tmp_path / "ledger.sqlite")
    target = tmp_path / "copy.sqlite"
    copy = backup_module._copy
    met: list[str] = []

    def copy_meeting_a_run(conn: sqlite3.Connection, to: Path) -> None:
        with pytest.raises(LedgerError, match=r"in use by another run \(pid \d+, run backup\)"):
            Ledger(source, run_id="late-run")
        met.append("refused")
        copy(conn, to)

    monkeypatch.setattr(backup_module, "_copy", copy_meeting_a_run)
    backup_ledger(source, target)
    assert met == ["refused"] and target.exists()


def test_a_backup_never_replaces_a_file(tmp_path: Path) -> None:
    source = filled_ledger(tmp_path / "ledger.sqlite")
    target = tmp_path / "copy.sqlite"
    target.write_text("yesterday", encoding="utf-8")
    with pytest.raises(ConfigError, match="already exists"):
        backup_ledger(source, target)
    assert target.read_text(encoding="utf-8") == "yesterday"


def test_checking_a_ledger_path_writes_nothing(tmp_path: Path) -> None:
    source = filled_ledger(tmp_path / "ledger.sqlite")
    os.remove(f"{source}.lock")
    before = sorted(os.listdir(tmp_path))
    check_ledger_path(source)
    check_ledger_path(tmp_path / "new.sqlite")  # a run would create it
    assert sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize(
    ("case", "words"),
    [("folder", "is a directory"), ("no_parent", "does not exist"),
     ("not_sqlite", "is not an rg-import ledger"), ("other_db", "is not an rg-import ledger")],
)  # fmt: skip
def test_a_ledger_path_a_run_could_not_use_is_named(tmp_path: Path, case: str, words: str) -> None:
    path = tmp_path / "ledger.sqlite"
    if case == "folder":
        path.mkdir()
    elif case == "no_parent":
        path = tmp_path / "missing" / "ledger.sqlite"
    elif case == "not_sqlite":
        path.write_text("hello, this is text and no database at all" * 50, encoding="utf-8")
    else:
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE t (x)")
    with pytest.raises(LedgerError, match=words):
        check_ledger_path(path)
