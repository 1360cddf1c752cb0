"""``rg-import ledger export --run RUN_ID``: the leads one run created, to find and clean up an import.

Runs go through the command line to the sandbox (loopback HTTP); the export
must list exactly the leads each run's results.csv calls created, and no lead a
later run only updated or added notes to.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import assert_one_error_line, invoke
from tests.conftest import SITE
from tests.send.test_run import NOTES, PEOPLE, read_csv, read_results, write_csv


def run_cli(
    capsys: pytest.CaptureFixture[str], path: Path, ledger: Path, out: Path, mapping: str
) -> dict[str, Any]:
    code, _, err = invoke(
        capsys, "run", str(path), "-m", mapping, "--site", SITE, "--yes", "-q",
        "--ledger", str(ledger), "--out", str(out),
    )  # fmt: skip
    assert code in (0, 3), err
    return dict(json.loads((out / "report.json").read_text()))


def exported(capsys: pytest.CaptureFixture[str], ledger: Path, *args: str) -> list[dict[str, str]]:
    code, out, err = invoke(capsys, "ledger", "export", "--ledger", str(ledger), *args)
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


def created_ids(report: dict[str, Any]) -> set[str]:
    return {r["lead_id"] for r in read_results(report) if r["outcome"] == "created"}


def test_ledger_export_run_lists_the_leads_that_run_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_env: Any
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    first = run_cli(capsys, PEOPLE, ledger, tmp_path / "first", "followupboss")
    header, rows = read_csv(PEOPLE)
    rows[0]["Address 1 - City"] = "Springfield"  # an update
    rows.append({**rows[1], "ID": "990001", "Email 1": "new.person@example.com"})  # a new lead
    edited = write_csv(tmp_path / "edited.csv", header, rows)
    second = run_cli(capsys, edited, ledger, tmp_path / "second", "followupboss")
    notes = run_cli(capsys, NOTES, ledger, tmp_path / "notes", "followupboss_notes")
    assert second["leads"]["created"] == 1 and second["leads"]["updated"] == 1
    assert notes["leads"]["created"] > 0  # notes sent: no lead created

    listed = exported(capsys, ledger, "--run", first["run_id"])
    assert {r["lead_id"] for r in listed} == created_ids(first)
    assert len(listed) == first["leads"]["created"]
    assert {r["lead_id"] for r in exported(capsys, ledger, "--run", second["run_id"])} == (
        created_ids(second)
    )
    assert exported(capsys, ledger, "--run", notes["run_id"]) == []

    code, out, _ = invoke(capsys, "ledger", "export", "--ledger", str(ledger),
                          "--run", second["run_id"], "--format", "json")  # fmt: skip
    assert code == 0
    assert [(r["key"], r["state"]) for r in json.loads(out)] == [("990001", "sent")]


def test_ledger_export_of_an_unknown_run_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_env: Any
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    run_cli(capsys, PEOPLE, ledger, tmp_path / "first", "followupboss")
    code, out, err = invoke(
        capsys, "ledger", "export", "--ledger", str(ledger), "--run", "20240101T000000Z-dead"
    )
    assert_one_error_line(code, out, err, "no run 20240101T000000Z-dead", "report.json")
