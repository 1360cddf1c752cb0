"""Two ``rg-import run`` processes sharing one PostgreSQL ledger on the same file.

Each run is ``python -m importer run`` in a subprocess, sending to a sandbox in
this process (slowed down, so the runs overlap) with ``--ledger postgresql://…``
pointing at one database of the session's PostgreSQL (``pgserver``). Each row
is claimed before it is sent, so every lead is created by exactly one request,
and the two reports together account for every row: a row one run left to the
other ends ``not sent`` there with the code ``claimed``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from importer.ledger.ledger import Ledger
from importer.sandbox.runner import start_sandbox
from tests.send.test_run import assert_invariant, read_results, write_people
from tests.send.test_run_crash import (
    assert_each_lead_once,
    run_command,
    start_run,
    valid_lead_ids,
    wait_for,
)

ROWS = 100


def finished(proc: Any, out: Path) -> dict[str, Any]:
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode in (0, 3), stderr
    assert "Traceback" not in stderr
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    assert report["exit_code"] == proc.returncode
    return report


@pytest.mark.slow
def test_two_runs_sharing_a_postgresql_ledger_send_every_row_once(
    tmp_path: Path, postgres_url: str
) -> None:
    path = write_people(tmp_path / "people.csv", ROWS, seed=31, dirty_share=0.05)
    wanted = valid_lead_ids(path, tmp_path)
    with start_sandbox(port=0, latency_ms=10) as sandbox:
        # the first sends 5 rows a second, so however slow the second is to start, it
        # finds the first still at work; it starts once the first has sent some
        slow = [*run_command(sandbox, path, postgres_url, tmp_path / "a"), "--rps", "5"]
        first = start_run(slow, tmp_path)
        wait_for(lambda: sandbox.stats()["total"] >= 10, first, timeout=60)
        second = start_run(run_command(sandbox, path, postgres_url, tmp_path / "b"), tmp_path)
        reports = [finished(first, tmp_path / "a"), finished(second, tmp_path / "b")]
        creates = Counter(
            entry["body"]["id"]
            for entry in sandbox.requests_log()
            if entry["route"] == "create_lead"
        )
        assert_each_lead_once(sandbox, wanted)

    assert set(creates) == wanted
    assert set(creates.values()) == {1}  # no lead was sent twice
    for report in reports:
        assert_invariant(report)
        assert report["leads"]["in_doubt"] == 0
        # what a run did not send, the other run had: not sent here, code claimed
        not_sent = [r for r in read_results(report) if r["outcome"] == "not_sent"]
        assert {r["codes"].split(";")[0] for r in not_sent} <= {"claimed"}
    created = [report["leads"]["created"] for report in reports]
    assert sum(created) == len(wanted)
    assert all(created), created  # both runs sent part of the file
    # the first run planned rows the second sent meanwhile: it left them (claimed)
    assert reports[0]["leads"]["not_sent"] > 0
    for report in reports:
        leads = report["leads"]
        valid = leads["created"] + leads["unchanged"] + leads["not_sent"]
        assert valid == len(wanted)  # every valid row: sent here, sent before, or left to the other
    with Ledger(postgres_url, run_id="check", readonly=True) as book:
        assert book.counts()["leads"] == {
            "sending": 0, "sent": len(wanted), "failed": 0, "in_doubt": 0,
        }  # fmt: skip
