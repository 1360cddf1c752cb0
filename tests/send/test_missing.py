"""``missing_since_last_run``: leads an earlier run sent that the file no longer holds.

Runs go to a sandbox over loopback; the ledger is the one the runs share.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from importer.outputs.report import RunResult
from importer.sandbox.runner import Sandbox, start_sandbox
from tests.conftest import SITE
from tests.send.test_run import (
    NOTES,
    PEOPLE,
    cli_exit,
    ledger_records,
    new_out,
    read_csv,
    run,
    run_result,
    use_cli_env,
    write_csv,
    write_people,
)  # fmt: skip


def nights(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """Night 1's file and night 2's: two sent rows and a rejected one gone, one now rejected.

    Returns both files and the keys by role.
    """
    header, rows = read_csv(write_people(tmp_path / "gen.csv", 12, seed=5))
    rows[0]["ID"] = "=1+2"  # a key a spreadsheet would run as a formula
    rows[1]["Email 1"] = "not-an-email"  # rejected on night 1, never sent
    keys = {"formula": rows[0]["ID"], "gone": rows[2]["ID"], "rejected_only": rows[1]["ID"],
            "now_rejected": rows[3]["ID"]}  # fmt: skip
    first = write_csv(tmp_path / "night1.csv", header, rows)
    rows[3]["Email 1"] = "broken@"  # still in the file, rejected now: not missing
    rows[4]["First Name"] = "Edited"
    second = write_csv(tmp_path / "night2.csv", header, [rows[i] for i in range(3, 12)])
    return first, second, keys


def test_keys_sent_before_and_gone_from_the_file_are_counted_and_listed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    first, second, keys = nights(tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    night1 = run(sandbox, first, ledger, new_out(tmp_path))
    assert night1["leads"]["created"] == 11 and night1["leads"]["rejected"] == 1
    assert night1["missing_since_last_run"] == 0 and night1["missing_file"] is None

    night2 = run(sandbox, second, ledger, new_out(tmp_path))
    assert night2["leads"]["updated"] == 1 and night2["leads"]["rejected"] == 1
    assert night2["missing_since_last_run"] == 2
    missing = Path(night2["missing_file"])
    assert missing.name == "missing.csv" and missing.parent == Path(night2["out_dir"])
    assert stat.S_IMODE(missing.stat().st_mode) == 0o600
    header, listed = read_csv(missing)
    assert header == ["key", "lead_id", "state", "last_sent_at", "last_run_id"]
    records = ledger_records(ledger)
    assert sorted(r["key"] for r in listed) == sorted(["'=1+2", keys["gone"]])  # neutralised
    for row in listed:
        record = records[row["key"].removeprefix("'")]
        assert row["lead_id"] == record.lead_id and row["state"] == "sent"
        assert row["last_sent_at"] == record.updated_at and row["last_run_id"] == night1["run_id"]
    # nothing was deleted: the server still has every lead of night 1
    assert len(sandbox.leads(SITE)) == 11
    assert json.loads(Path(night2["report_file"]).read_text())["missing_since_last_run"] == 2


def test_a_stopped_run_does_not_say_what_vanished(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, second, _ = nights(tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0) as server:
        run(server, tmp_path / "night1.csv", ledger, new_out(tmp_path))
    use_cli_env(monkeypatch, tmp_path)
    out = tmp_path / "refused"
    with start_sandbox(port=0, password="something-else") as refusing:
        code = cli_exit([
            "run", str(second), "-m", "followupboss", "--site", SITE, "--base-url", refusing.url,
            "--ledger", str(ledger), "--out", str(out), "--yes",
        ])  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert code == 4 and report["stopped"]
    assert report["missing_since_last_run"] is None and not (out / "missing.csv").exists()
    assert "Missing:  not checked (the run stopped early)" in capsys.readouterr().out


def test_a_run_that_read_part_of_its_file_does_not_say_what_vanished(tmp_path: Path) -> None:
    """A refusal on the first rows leaves the rest unplanned: their keys would all look gone.

    (The rows it never reached are still listed, as not sent, so every row is counted.)"""
    path = write_people(tmp_path / "people.csv", 200, seed=31)
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0) as server:
        assert run(server, path, ledger, new_out(tmp_path))["leads"]["created"] == 200
    header, rows = read_csv(path)
    for row in rows:
        row["First Name"] += "x"  # every row changed: each needs a request
    write_csv(path, header, rows)
    with start_sandbox(port=0, password="something-else") as refusing:
        report = run(refusing, path, ledger, new_out(tmp_path), chunk_rows=25)
    assert report["input"]["read_to_end"] is False
    assert report["leads"]["not_sent"] == report["input"]["rows"] == 200
    assert report["missing_since_last_run"] is None


def test_rows_of_an_activity_file_are_never_missing_leads(sandbox: Sandbox, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    run(sandbox, PEOPLE, ledger, new_out(tmp_path))
    notes = run(sandbox, NOTES, ledger, new_out(tmp_path), mapping="followupboss_notes")
    assert notes["missing_since_last_run"] is None


def test_the_summary_names_missing_csv(sandbox: Sandbox, tmp_path: Path) -> None:
    from importer.cli.summaries import run_summary

    first, second, _ = nights(tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    run(sandbox, first, ledger, new_out(tmp_path))
    result: RunResult = run_result(sandbox, second, ledger, new_out(tmp_path))
    assert (
        f"Missing:  {result.missing_file}  (2 leads sent by earlier runs are not in this file; "
        "nothing was deleted: check them in your CRM)"
    ) in run_summary(result)
