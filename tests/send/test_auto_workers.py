"""``rg-import run --workers auto`` against a sandbox that answers 429 above a rate.

The adaptive limit changes how many requests are out at once, never what
happens to a row: every row still ends in exactly one place, and every valid
row is stored once. (How fast it goes is measured outside the tests.)
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from importer.sandbox.runner import start_sandbox
from tests.conftest import SITE
from tests.send.test_run import assert_invariant, cli_exit, use_cli_env, write_people


def test_auto_workers_against_a_rate_limit_send_every_row_exactly_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    people = write_people(tmp_path / "people.csv", 240, seed=15)
    use_cli_env(monkeypatch, tmp_path)
    out = tmp_path / "out"
    with start_sandbox(port=0, rate_limit=60.0) as sandbox:
        code = cli_exit([
            "run", str(people), "-m", "followupboss", "--site", SITE, "--base-url", sandbox.url,
            "--ledger", str(tmp_path / "ledger.sqlite"), "--out", str(out), "--assign", "off",
            "--workers", "auto", "--max-workers", "8", "--yes", "--json",
        ])  # fmt: skip
        stored = sandbox.leads(SITE)
        statuses = sandbox.stats()["requests"]["create_lead"]
    report = json.loads(capsys.readouterr().out)
    assert code in (0, 3)  # 3: the generated file has a few rejected rows
    assert_invariant(report)
    leads = report["leads"]
    assert leads["in_doubt"] == 0 and leads["not_sent"] == 0
    assert leads["created"] == len(stored) == statuses["201"]
    assert all(n == 1 for n in Counter(lead["id"] for lead in stored).values())
    # the 429s were retried: every try is counted, and the limit kept to its bounds
    assert report["requests"]["total"] == sum(statuses.values())
    workers = report["requests"]["workers"]
    assert 1 <= workers["final"] <= workers["peak"] <= 8
    assert json.loads((out / "report.json").read_text())["requests"] == report["requests"]


def test_a_fixed_worker_count_reports_no_adaptive_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    people = write_people(tmp_path / "people.csv", 20, seed=16)
    use_cli_env(monkeypatch, tmp_path)
    with start_sandbox(port=0) as sandbox:
        code = cli_exit([
            "run", str(people), "-m", "followupboss", "--site", SITE, "--base-url", sandbox.url,
            "--ledger", str(tmp_path / "ledger.sqlite"), "--out", str(tmp_path / "out"),
            "--assign", "off", "--workers", "3", "--max-workers", "2", "--yes", "--json",
        ])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code in (0, 3)
    assert_invariant(report)
    assert "workers" not in report["requests"]
