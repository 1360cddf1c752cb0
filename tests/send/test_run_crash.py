"""``rg-import run`` killed or interrupted mid-run, as a real process, then resumed.

Each run is ``python -m importer run`` in a subprocess, sending to a sandbox
in this process whose answers are slowed down so the kill lands mid-send.
The write-ahead ledger must let the next run finish the job with every valid
lead stored exactly once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from importer.sandbox.runner import Sandbox, start_sandbox
from importer.send.send_loop import THREADS_PER_WORKER
from tests.conftest import ROOT, SITE
from tests.send.test_run import (
    assert_invariant,
    leads_by_id,
    ledger_counts,
    plan_of,
    read_csv,
    write_people,
)


def run_command(
    sandbox: Sandbox, input_path: Path, ledger: Path | str, out: Path, workers: int = 2
) -> list[str]:
    return [
        sys.executable, "-m", "importer", "run", str(input_path), "-m", "followupboss",
        "--site", SITE, "--base-url", sandbox.url, "--ledger", str(ledger), "--out", str(out),
        "--yes", "-q", "--workers", str(workers), "--timeout", "5", "--max-attempts", "12",
    ]  # fmt: skip


def run_env() -> dict[str, str]:
    """The environment of a run started by a test: the sandbox's login, none of the caller's
    site, base URL or ledger."""
    env = {**os.environ, "RG_USERNAME": "sandbox", "RG_PASSWORD": "sandbox",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    for name in ("RG_SITE", "RG_BASE_URL", "RG_LEDGER"):
        env.pop(name, None)
    return env


def start_run(command: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command, cwd=cwd, env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_sigint_as_at_a_terminal,
    )  # fmt: skip


def _sigint_as_at_a_terminal() -> None:
    # A test session started in the background (`make test &`, nohup) ignores
    # SIGINT, and its children would inherit that: the run must get Ctrl-C as
    # from a terminal, where Python turns it into KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(
    condition: Callable[[], bool], proc: subprocess.Popen[str], timeout: float = 30
) -> None:
    """Poll until ``condition`` holds; fail if the run ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before it was stopped")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run sent nothing in time")
        time.sleep(0.02)


def stored_more_than(sandbox: Sandbox, stored: int) -> bool:
    return len(sandbox.leads(SITE)) > stored


def valid_lead_ids(path: Path, tmp_path: Path) -> set[str]:
    return {p["lead_id"] for p in plan_of(path, "followupboss", tmp_path / "plan").values()
            if p["action"] == "create"}  # fmt: skip


def assert_each_lead_once(sandbox: Sandbox, wanted: set[str]) -> None:
    stored = leads_by_id(sandbox)
    assert set(stored) == wanted
    assert all(lead["ids"] == [lead_id] for lead_id, lead in stored.items())
    assert len(sandbox.leads(SITE)) == len(wanted)


def finish(
    sandbox: Sandbox, input_path: Path, ledger: Path, out: Path, cwd: Path
) -> dict[str, Any]:
    """Run to the end (with more workers, so a slowed-down sandbox is quick); return its report."""
    proc = start_run(run_command(sandbox, input_path, ledger, out, workers=8), cwd)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode in (0, 3), stderr
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    assert report["exit_code"] == proc.returncode
    return report


# --------------------------------------------------------------------------- 9. SIGKILL


@pytest.mark.slow
def test_killed_runs_resume_to_every_lead_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(9)
    path = write_people(tmp_path / "people.csv", 240, seed=19, dirty_share=0.05)
    wanted = valid_lead_ids(path, tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0, latency_ms=50) as sandbox:
        killed = 0
        for attempt in range(3):
            # killed once it stored a lead: its first request lists the site's users,
            # and planning may take a while on a busy machine
            stored = len(sandbox.leads(SITE))
            out = tmp_path / f"out{attempt}"
            proc = start_run(run_command(sandbox, path, ledger, out), tmp_path)
            wait_for(partial(stored_more_than, sandbox, stored), proc)
            time.sleep(rng.uniform(0.2, 1.5))
            proc.kill()
            proc.communicate(timeout=30)
            killed += proc.returncode == -signal.SIGKILL
            if attempt == 0:
                # a killed run leaves SQLite's side files behind: private like the ledger
                for suffix in ("", "-wal", "-shm", ".lock"):
                    side = Path(f"{ledger}{suffix}")
                    assert side.exists() and stat.S_IMODE(side.stat().st_mode) == 0o600, side
        assert killed == 3
        assert 0 < len(sandbox.leads(SITE)) < len(wanted)

        report = finish(sandbox, path, ledger, tmp_path / "final", tmp_path)
        assert_each_lead_once(sandbox, wanted)

    assert_invariant(report)
    leads = report["leads"]
    assert leads["created"] + leads["updated"] + leads["unchanged"] == len(wanted)
    assert leads["in_doubt"] == leads["not_sent"] == 0
    # write-ahead (docs/architecture.md): a kill leaves at most one row open per sending
    # thread (THREADS_PER_WORKER per worker) and one unchanged row the main thread refreshes
    assert report["recovered_in_doubt"]["leads"] <= 2 * THREADS_PER_WORKER + 1
    assert ledger_counts(ledger)["leads"] == {"sending": 0, "sent": len(wanted), "failed": 0,
                                              "in_doubt": 0}  # fmt: skip
    assert ledger_counts(ledger)["activities"]["sending"] == 0


# --------------------------------------------------------------------------- 11. Ctrl-C / SIGTERM


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_reports_and_resumes(tmp_path: Path, stop_signal: signal.Signals) -> None:
    path = write_people(tmp_path / "people.csv", 200, seed=23, dirty_share=0.05)
    wanted = valid_lead_ids(path, tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    out = tmp_path / "interrupted"
    with start_sandbox(port=0, latency_ms=30) as sandbox:
        proc = start_run(run_command(sandbox, path, ledger, out), tmp_path)
        wait_for(lambda: sandbox.stats()["total"] >= 10, proc)
        proc.send_signal(stop_signal)
        stdout, stderr = proc.communicate(timeout=30)
        stored = len(sandbox.leads(SITE))

        # SIGTERM (systemd, a container runtime) stops as Ctrl-C does, but says so: exit 143
        code, said = {
            signal.SIGINT: (130, "interrupted (Ctrl-C)"),
            signal.SIGTERM: (143, "stopped by SIGTERM"),
        }[stop_signal]
        assert proc.returncode == code, stderr
        assert "Traceback" not in stderr
        report = json.loads((out / "report.json").read_text())
        assert report["exit_code"] == code and report["stopped"] == said
        assert_invariant(report)
        assert report["leads"]["not_sent"] > 0
        assert report["leads"]["created"] == stored < len(wanted)
        # -q: no summary; what needs a look is one line each on stderr
        assert stdout == ""
        assert f"stopped early: {said}" in stderr.splitlines()
        counts = ledger_counts(ledger)
        assert counts["leads"]["sending"] == counts["activities"]["sending"] == 0
        assert counts["leads"]["sent"] == stored and counts["leads"]["in_doubt"] == 0

        final = finish(sandbox, path, ledger, tmp_path / "final", tmp_path)
        assert_each_lead_once(sandbox, wanted)

    assert_invariant(final)
    assert final["leads"]["unchanged"] == stored
    assert final["leads"]["created"] == len(wanted) - stored
    assert final["recovered_in_doubt"] == {"leads": 0, "activities": 0}


@pytest.mark.slow
def test_interrupt_during_retries_holds_rows_in_doubt_then_resumes(tmp_path: Path) -> None:
    """Ctrl-C while workers wait to retry 500s: those rows end in doubt, the next run settles them."""
    path = write_people(tmp_path / "people.csv", 150, seed=29)
    wanted = valid_lead_ids(path, tmp_path)
    ledger = tmp_path / "ledger.sqlite"
    out = tmp_path / "interrupted"
    store = str(tmp_path / "sandbox.sqlite")  # the leads outlive the faulty sandbox
    with start_sandbox(port=0, latency_ms=20, fault_rate=0.5, faults=("500",), seed=2,
                       store=store) as faulty:  # fmt: skip
        proc = start_run(run_command(faulty, path, ledger, out, workers=4), tmp_path)
        wait_for(lambda: faulty.stats()["total"] >= 20, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
        stored = len(faulty.leads(SITE))

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    report = json.loads((out / "report.json").read_text())
    assert_invariant(report)
    assert report["leads"]["created"] == stored
    assert report["leads"]["in_doubt"] > 0
    _, doubts = read_csv(out / "in_doubt.csv")
    assert len(doubts) == report["leads"]["in_doubt"]
    assert "interrupted" in {d["_code"] for d in doubts}
    counts = ledger_counts(ledger)
    assert counts["leads"]["sending"] == counts["activities"]["sending"] == 0
    assert counts["leads"]["in_doubt"] == report["leads"]["in_doubt"]

    with start_sandbox(port=0, store=store) as healthy:
        final = finish(healthy, path, ledger, tmp_path / "final", tmp_path)
        assert_each_lead_once(healthy, wanted)
    assert_invariant(final)
    assert final["recovered_in_doubt"] == {"leads": 0, "activities": 0}
    assert final["leads"]["unchanged"] == stored
    assert final["leads"]["created"] == len(wanted) - stored
