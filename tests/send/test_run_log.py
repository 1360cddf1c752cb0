"""``rg-import run --log-file``: JSON lines of a run's start, tries, rows and end, and nothing private.

Every run here goes through the command line to a sandbox over loopback.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest

from importer.sandbox.runner import start_sandbox
from importer.send import run_log
from tests.conftest import SITE
from tests.send.test_run import (
    PEOPLE,
    cli_exit,
    digits,
    people_rows,
    read_csv,
    us_phone,
    use_cli_env,
)  # fmt: skip

USER = "importer-user-7731"
SECRET = "S3cr3t-pa55-Zq9"  # the API password: must never reach the log
# the paths a run asks for: leads, their activities, and the site's users (for assign:)
PATH = re.compile(rf"^/rest/sites/{SITE}/(users|leads(/[0-9a-f-]{{36}}(/activities)?)?)$")


def log_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_logged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, log: Path, *extra: str, **sandbox: Any
) -> tuple[int, dict[str, Any]]:
    """One ``rg-import run`` of the people sample with ``--log-file log``; exit code and report."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RG_USERNAME", USER)
    monkeypatch.setenv("RG_PASSWORD", SECRET)
    for name in ("RG_SITE", "RG_BASE_URL", "RG_LEDGER"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
    with start_sandbox(port=0, username=USER, password=SECRET, **sandbox) as server:
        code = cli_exit([
            "run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--base-url", server.url,
            "--ledger", str(tmp_path / "ledger.sqlite"), "--out", str(out), "--yes", "-q",
            "--log-file", str(log), *extra,
        ])  # fmt: skip
    return code, json.loads((out / "report.json").read_text())


def personal_values() -> set[str]:
    """Names, emails and phones of the people sample, as written and as the import writes them."""
    found: set[str] = set()
    for row in people_rows().values():
        for column, value in row.items():
            value = value.strip()
            if not value:
                continue
            if column.startswith("Email") and "Type" not in column:
                found.add(value.lower())
            elif column.startswith("Phone") and "Type" not in column and len(digits(value)) >= 10:
                found |= {value, digits(value), us_phone(value)}
            elif column in ("Name", "First Name", "Last Name") and len(value) > 2:
                found.add(value)
    return found


def test_the_log_holds_start_every_try_every_row_and_end_but_nothing_private(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "logs" / "rg-import.jsonl"
    log.parent.mkdir()
    code, report = run_logged(monkeypatch, tmp_path, log)
    assert code == 3  # the sample has rejects on purpose

    text = log.read_text(encoding="utf-8")
    assert SECRET not in text and USER not in text
    # (the sample has a person named "null", a dirty case: JSON writes that word too)
    leaked = sorted(v for v in personal_values() - {"null"} if v.lower() in text.lower())
    assert leaked == []
    assert stat.S_IMODE(log.stat().st_mode) == 0o600

    lines = log_lines(log)
    assert {line["run_id"] for line in lines} == {report["run_id"]}
    assert all(re.match(r"\d{4}-\d\d-\d\dT", line["ts"]) for line in lines)
    events = [line["event"] for line in lines]
    assert events[0] == "run_start" and events[-1] == "run_end"
    start, end = lines[0], lines[-1]
    assert start["mapping"] == "followupboss" and start["site"] == SITE
    assert start["input"] == str(PEOPLE) and start["command"].startswith("rg-import run")
    assert end["exit_code"] == 3 and end["leads"] == report["leads"]

    requests = [line for line in lines if line["event"] == "request"]
    assert len(requests) == report["requests"]["total"]
    assert all(PATH.match(r["path"]) for r in requests), {r["path"] for r in requests}
    assert {(r["method"], r["status"], r["attempt"]) for r in requests} == {
        ("POST", 201, 1), ("GET", 200, 1)  # the leads, and the site's users once (assign:)
    }  # fmt: skip
    assert all(r["latency_ms"] >= 0 for r in requests)

    rows = {line["row"]: line for line in lines if line["event"] == "row"}
    assert len(rows) == report["input"]["rows"]
    outcomes: dict[str, int] = {}
    for row in rows.values():
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
    assert outcomes == {k: v for k, v in report["leads"].items() if v}
    # a rejected row names its codes, as rejects.csv does
    _, rejects = read_csv(Path(report["rejects_file"]))
    assert {int(r["_row"]): r["_code"] for r in rejects} == {
        n: ";".join(row["codes"]) for n, row in rows.items() if row["outcome"] == "rejected"
    }
    assert all(row["codes"] == [] for row in rows.values() if row["outcome"] == "created")
    assert run_log.enabled() is False  # detached after the run


def test_every_try_is_logged_with_its_attempt_number_and_status(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "run.jsonl"
    _, report = run_logged(
        monkeypatch, tmp_path, log, "--max-attempts", "10",
        fault_rate=0.4, faults=("500",), seed=3,
    )  # fmt: skip
    requests = [line for line in log_lines(log) if line["event"] == "request"]
    assert len(requests) == report["requests"]["total"]
    assert sum(r["attempt"] == 1 for r in requests) == len(requests) - report["requests"]["retries"]
    failed = [r for r in requests if r["status"] == 500]
    assert failed and all(r["failure"] == "500" for r in failed)
    assert any(r["attempt"] > 1 and r["status"] == 201 for r in requests)


def test_runs_append_to_one_log_and_an_existing_file_keeps_its_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "shared.jsonl"
    log.write_text('{"event": "someone else\'s line"}\n')
    os.chmod(log, 0o640)
    _, first = run_logged(monkeypatch, tmp_path, log)
    _, second = run_logged(monkeypatch, tmp_path, log)  # a re-run: every row unchanged

    lines = log_lines(log)
    assert lines[0] == {"event": "someone else's line"}
    assert [line["run_id"] for line in lines if line["event"] == "run_start"] == [
        first["run_id"],
        second["run_id"],
    ]
    assert stat.S_IMODE(log.stat().st_mode) == 0o640
    unchanged = [
        line for line in lines
        if line.get("run_id") == second["run_id"] and line.get("outcome") == "unchanged"
    ]  # fmt: skip
    assert len(unchanged) == second["leads"]["unchanged"] == 47


@pytest.mark.parametrize("where", ["no folder", "a link"])
def test_a_log_file_that_cannot_be_opened_stops_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    if where == "a link":
        log = tmp_path / "link.jsonl"
        log.symlink_to(tmp_path / "elsewhere.jsonl")
    else:
        log = tmp_path / "missing-folder" / "run.jsonl"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RG_USERNAME", USER)
    monkeypatch.setenv("RG_PASSWORD", SECRET)
    with start_sandbox(port=0, username=USER, password=SECRET) as server:
        code = cli_exit([
            "run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--base-url", server.url,
            "--ledger", str(tmp_path / "l.sqlite"), "--yes", "-q", "--log-file", str(log),
        ])  # fmt: skip
        assert server.stats()["total"] == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith(f"Error: cannot open log file {log}")
    assert not (tmp_path / "elsewhere.jsonl").exists()


def test_without_a_log_file_no_event_is_even_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The guard: a run without --log-file hands the sender no hook and logs nothing at all."""
    seen: list[logging.LogRecord] = []
    catcher = logging.Handler()
    catcher.emit = seen.append  # type: ignore[method-assign]
    run_log.EVENTS.addHandler(catcher)
    try:
        use_cli_env(monkeypatch, tmp_path)
        with start_sandbox(port=0) as server:
            code = cli_exit([
                "run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--base-url", server.url,
                "--ledger", str(tmp_path / "l.sqlite"), "--yes", "-q",
            ])  # fmt: skip
    finally:
        run_log.EVENTS.removeHandler(catcher)
    assert code == 3
    assert seen == []
