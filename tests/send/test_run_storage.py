"""Runs whose own files fail: a shared or vanished ledger, a full disk.

Over real loopback HTTP against the sandbox. A full disk is made without
filling the real one: SQLite's ``max_page_count`` caps the ledger (writes then
fail with SQLITE_FULL), and output files are pointed at ``/dev/full``, whose
every write fails with ENOSPC from the kernel.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from importer.cli.main import main
from importer.errors import ExitCode, RunWriteFailed
from importer.ledger.store import LedgerStore
from importer.outputs import private_files
from importer.outputs.report import shown_json
from importer.progress import NullProgress
from importer.sandbox.runner import Sandbox, start_sandbox
from tests.conftest import ROOT, SITE
from tests.send.test_run import (
    SANDBOX_LOGIN,
    assert_invariant,
    ledger_counts,
    load_mapping,
    write_people,
)
from tests.send.test_run_crash import run_command, start_run, wait_for
from tests.send.test_run_faults import duplicated_activities


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with start_sandbox(port=0) as server:
        yield server


@pytest.fixture
def login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_USERNAME", SANDBOX_LOGIN.username)
    monkeypatch.setenv("RG_PASSWORD", SANDBOX_LOGIN.password)
    for name in ("RG_SITE", "RG_BASE_URL", "RG_LEDGER"):
        monkeypatch.delenv(name, raising=False)


# --------------------------------------------------------------------------- one ledger, one run


@pytest.mark.slow
def test_two_runs_through_a_symlinked_ledger_path_one_is_refused(tmp_path: Path) -> None:
    path = write_people(tmp_path / "people.csv", 400, seed=31)
    ledger = tmp_path / "ledger.sqlite"
    alias = tmp_path / "alias.sqlite"
    alias.symlink_to(ledger.name)  # a relative link, as `ln -s ledger.sqlite alias.sqlite` makes
    # slow answers keep the first run busy while the second starts (no timing is asserted)
    with start_sandbox(port=0, latency_ms=50) as sandbox:
        first = start_run(run_command(sandbox, path, ledger, tmp_path / "first"), tmp_path)
        wait_for(lambda: sandbox.stats()["total"] >= 5, first)
        second = subprocess.run(
            run_command(sandbox, path, alias, tmp_path / "second"),
            cwd=tmp_path, env=first_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        still_running = first.poll() is None
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=60)
        assert still_running

        # its own exit code (5), not a configuration error's (2)
        assert second.returncode == ExitCode.LOCKED == 5
        assert second.stderr.splitlines() == [
            f"Error: ledger {alias} is in use by another run (pid {first.pid}, run "
            + json.loads((tmp_path / "first" / "report.json").read_text())["run_id"]
            + "); try again when it has finished, or pass --wait SECONDS, "
            "or use --ledger to pick another file"
        ]
        assert not (tmp_path / "second").exists()
        assert duplicated_activities(sandbox) == 0


@pytest.mark.slow
def test_a_run_with_wait_waits_for_the_run_holding_the_ledger_then_runs(tmp_path: Path) -> None:
    path = write_people(tmp_path / "people.csv", 300, seed=37)
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0, latency_ms=50) as sandbox:
        first = start_run(run_command(sandbox, path, ledger, tmp_path / "first"), tmp_path)
        wait_for(lambda: sandbox.stats()["total"] >= 5, first)
        # without -q, so it says that it waits (and for whom)
        waiting = [a for a in run_command(sandbox, path, ledger, tmp_path / "second") if a != "-q"]
        second = start_run([*waiting, "--wait", "600", "--workers", "8"], tmp_path)
        assert second.stderr is not None
        notice = next(line for line in second.stderr if line.startswith("Waiting up to 600 s"))
        assert f"in use by another run (pid {first.pid}," in notice
        still_running = first.poll() is None
        first.send_signal(signal.SIGTERM)  # the first run ends (stopped part-way)
        first.communicate(timeout=60)
        _, rest = second.communicate(timeout=120)
        assert still_running

        assert first.returncode == ExitCode.TERMINATED
        assert second.returncode == ExitCode.OK, rest
        report = json.loads((tmp_path / "second" / "report.json").read_text())
        stored = sandbox.leads(SITE)
    # the waiting run sent what the first left, each lead once
    leads = report["leads"]
    assert leads["created"] > 0 and leads["unchanged"] > 0
    done = leads["created"] + leads["updated"] + leads["unchanged"]
    assert done == len(stored) == report["input"]["rows"]


def first_env() -> dict[str, str]:
    env = {**os.environ, "RG_USERNAME": "sandbox", "RG_PASSWORD": "sandbox",
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    for name in ("RG_SITE", "RG_BASE_URL", "RG_LEDGER"):
        env.pop(name, None)
    return env


@pytest.fixture
def slow_sandbox() -> Iterator[Sandbox]:
    """Answers slow enough that the main thread acts long before the last row is sent."""
    with start_sandbox(port=0, latency_ms=20) as server:
        yield server


@pytest.mark.parametrize("what", ["deleted", "replaced"])
def test_a_ledger_deleted_or_replaced_mid_run_stops_the_run(
    slow_sandbox: Sandbox, tmp_path: Path, what: str
) -> None:
    from importer.send.run import RunRequest, run_file

    sandbox = slow_sandbox

    path = write_people(tmp_path / "people.csv", 60, seed=37)
    ledger = tmp_path / "ledger.sqlite"
    spare = tmp_path / "spare.sqlite"

    def pull_the_ledger(desc: str, **_: Any) -> Any:
        class Bar(NullProgress):
            done = False

            def advance(self, n: int) -> None:
                if desc == "Sending" and n and not Bar.done:  # once the first row settled
                    Bar.done = True
                    if what == "deleted":
                        ledger.unlink()
                    else:
                        shutil.copy(ledger, spare)
                        os.replace(spare, ledger)

        return Bar()

    request = RunRequest(
        input=path, mapping=load_mapping("followupboss"), site=SITE, base_url=sandbox.url,
        credentials=SANDBOX_LOGIN, ledger=ledger, out=tmp_path / "out", workers=1,
    )  # fmt: skip
    with pytest.raises(RunWriteFailed) as stopped:
        run_file(request, progress=pull_the_ledger)

    report = shown_json(stopped.value.result)
    leads = report["leads"]
    assert_invariant(report)
    assert report["exit_code"] == 4
    assert (
        str(stopped.value)
        == report["stopped"]
        == (
            f"the ledger {ledger} was {what}{' by another file' if what == 'replaced' else ''} "
            f"during the run; {leads['created']} rows were sent. Put that ledger file back, then "
            "run again to resume: a run with a new ledger sends every row again and repeats its notes"
        )
    )
    assert leads["not_sent"] > 0 and leads["created"] >= 1
    # the row in flight when the write failed reached the server: it is in doubt, not lost
    assert len(sandbox.leads(SITE)) == leads["created"] + leads["in_doubt"]
    assert json.loads((tmp_path / "out" / "report.json").read_text())["stopped"] == str(
        stopped.value
    )
    if what == "replaced":  # the file now at the path got nothing of this run
        assert ledger_counts(ledger)["leads"]["sent"] <= leads["created"]


# --------------------------------------------------------------------------- full disk


def cap_the_ledger(monkeypatch: pytest.MonkeyPatch, spare_pages: int) -> None:
    """Every ledger opened from now on may grow by ``spare_pages`` pages, then its "disk" is full."""
    prepare = LedgerStore._prepare

    def capped(self: LedgerStore, *, create: bool) -> None:
        prepare(self, create=create)
        conn = self.connection()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + spare_pages}")

    monkeypatch.setattr(LedgerStore, "_prepare", capped)


def invoke(*args: str) -> int:
    with pytest.raises(SystemExit) as ended:
        main(list(args))
    return int(ended.value.code or 0)


def run_args(sandbox: Sandbox, path: Path, ledger: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run", str(path), "-m", "followupboss", "--site", SITE, "--base-url", sandbox.url,
        "--ledger", str(ledger), "--out", str(out), "--yes", "-q", "--workers", "1", *extra,
    ]  # fmt: skip


@pytest.mark.usefixtures("login")
def test_a_full_ledger_disk_after_the_first_request_stops_and_the_next_run_resumes(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_people(tmp_path / "people.csv", 80, seed=41)
    ledger = tmp_path / "ledger.sqlite"
    with monkeypatch.context() as patched:
        cap_the_ledger(patched, spare_pages=3)
        args = [a for a in run_args(sandbox, path, ledger, tmp_path / "full") if a != "-q"]
        code = invoke(*args)
    out, err = capsys.readouterr()
    report = json.loads((tmp_path / "full" / "report.json").read_text())
    sent = len(sandbox.leads(SITE))

    assert code == 4
    assert out == ""
    assert err.splitlines()[-1] == (
        f"Error: disk full at {ledger}; {sent} rows were sent, run again to resume"
    )
    assert "Stopped early: disk full at" in err  # the summary went to stderr
    assert "Traceback" not in err
    assert 0 < sent < 80
    assert report["exit_code"] == 4 and report["leads"]["created"] == sent
    assert report["leads"]["not_sent"] == 80 - sent
    # the row whose first write failed was never sent; every sent row is recorded
    assert ledger_counts(ledger)["leads"] == {
        "sending": 0, "sent": sent, "failed": 0, "in_doubt": 0,
    }  # fmt: skip

    code = invoke(*run_args(sandbox, path, ledger, tmp_path / "resumed"))
    resumed = json.loads((tmp_path / "resumed" / "report.json").read_text())
    assert code == 0
    assert resumed["leads"]["unchanged"] == sent
    assert resumed["leads"]["created"] == 80 - sent
    assert len(sandbox.leads(SITE)) == 80
    assert duplicated_activities(sandbox) == 0


def to_dev_full(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Output files with these names are written to /dev/full: every flush fails with ENOSPC."""
    open_private = private_files.open_private

    def opener(path: Path, *, encoding: str = "utf-8") -> IO[str]:
        if path.name in names:
            return open("/dev/full", "w", encoding=encoding, newline="")
        return open_private(path, encoding=encoding)

    monkeypatch.setattr(private_files, "open_private", opener)


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


@needs_dev_full
@pytest.mark.usefixtures("login")
def test_a_full_output_disk_stops_with_exit_4_and_the_next_run_writes_the_rejects(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_people(tmp_path / "people.csv", 120, seed=43, dirty_share=0.1)
    ledger = tmp_path / "ledger.sqlite"
    out = tmp_path / "full"
    with monkeypatch.context() as patched:
        to_dev_full(patched, "rejects.csv")
        code = invoke(*run_args(sandbox, path, ledger, out))
    _, err = capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    sent = report["leads"]["created"]

    assert code == 4
    assert err.splitlines()[-1] == (
        f"Error: disk full at {out / 'rejects.csv'}; {sent} rows were sent, run again to resume"
    )
    assert "internal error" not in err and "Traceback" not in err
    assert sent == len(sandbox.leads(SITE)) > 0
    assert report["leads"]["rejected"] > 0 and report["exit_code"] == 4

    code = invoke(*run_args(sandbox, path, ledger, tmp_path / "again"))
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert code == 3  # the rejects are reported again, now into a file
    assert again["leads"]["created"] == 0 and again["leads"]["unchanged"] == sent
    assert again["leads"]["rejected"] == report["leads"]["rejected"]
    assert (tmp_path / "again" / "rejects.csv").exists()
    assert duplicated_activities(sandbox) == 0


@needs_dev_full
@pytest.mark.usefixtures("login")
def test_a_report_that_cannot_be_written_goes_to_stderr(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_people(tmp_path / "people.csv", 30, seed=47)
    out = tmp_path / "full"
    to_dev_full(monkeypatch, "report.json")
    code = invoke(*run_args(sandbox, path, tmp_path / "ledger.sqlite", out, "--json"))
    stdout, err = capsys.readouterr()

    assert code == 4
    assert stdout == ""
    report_text, error_line = err.rsplit("\n", 2)[0], err.splitlines()[-1]
    report = json.loads(report_text)
    assert report["leads"]["created"] == 30 == len(sandbox.leads(SITE))
    assert report["exit_code"] == 4 and report["report_file"] is None
    assert error_line == (
        f"Error: disk full at {out / 'report.json'}; 30 rows were sent, run again to resume"
    )


@pytest.mark.usefixtures("login")
@pytest.mark.parametrize("command", ["run", "plan"])
@pytest.mark.parametrize(
    ("kind", "what"),
    [("/dev/null", "a character device"), ("dir", "a directory"), ("fifo", "a FIFO (named pipe)")],
)
def test_a_ledger_that_is_not_a_regular_file_stops_the_command_with_one_line(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    kind: str,
    what: str,
) -> None:
    path = write_people(tmp_path / "people.csv", 5, seed=53)
    ledger = Path(kind) if kind.startswith("/") else tmp_path / kind
    if kind == "dir":
        ledger.mkdir()
    elif kind == "fifo":
        os.mkfifo(ledger)
    null_mode = os.stat(os.devnull).st_mode
    args = run_args(sandbox, path, ledger, tmp_path / "out")
    if command == "plan":
        args = ["plan", str(path), "-m", "followupboss", "--site", SITE, "--ledger", str(ledger),
                "--out", str(tmp_path / "out")]  # fmt: skip
    code = invoke(*args)
    _, err = capsys.readouterr()

    assert code == 2
    assert err.splitlines() == [
        f"Error: ledger {ledger} is {what}, not a regular file; "
        "give --ledger the path of a file (a run creates it if missing)"
    ]
    assert sandbox.stats()["total"] == 0
    assert not (tmp_path / "out").exists()
    assert os.stat(os.devnull).st_mode == null_mode
    assert not os.path.exists(os.devnull + ".lock")


# --------------------------------------------------------------------------- an answer recorded later


def test_an_answer_whose_later_ledger_write_fails_is_in_doubt_and_stops_the_run(
    tmp_path: Path,
) -> None:
    """A sending thread hands a row's outcome to the ledger ``later`` and goes on; the
    row is told to the run once the write is committed, or, when the write failed as
    the disk or file failed, told in doubt (the server has it, the ledger may not say)
    with the run stopped, as when the thread's own write fails."""
    import threading
    import uuid

    from importer.ledger.ledger import Ledger
    from importer.models import Outcome
    from importer.send.breaker import CircuitBreaker
    from importer.send.send_outcome import SendOutcome, SendPolicy
    from importer.send.sender import Sender

    path = tmp_path / "ledger.sqlite"
    told: list[tuple[Any, Any]] = []
    with Ledger(path, run_id="later") as ledger:
        breaker = CircuitBreaker(10)
        sender = Sender(None, ledger, SendPolicy(site=SITE, source="fub", kind="lead"), breaker)

        def answered(key: str) -> None:  # what a sending thread does once its POST got a 201
            created = SendOutcome(key, Outcome.CREATE)  # type: ignore[arg-type]
            ledger.lead_sent(SITE, "fub", key, status=201, later=True)
            sender.settled(created, lambda outcome, error: told.append((outcome, error)))

        for key in ("kept", "lost"):
            ledger.begin_lead(SITE, "fub", key, str(uuid.uuid4()), payload={"key": key})
        for key in ("kept", "lost"):
            if key == "lost":
                path.unlink()
            thread = threading.Thread(target=answered, args=(key,))
            thread.start()
            thread.join(10)

    [(kept, none), (lost, also_none)] = told
    assert none is None and also_none is None
    assert kept.result is Outcome.CREATE and kept.plan == "kept"
    assert lost.result is Outcome.IN_DOUBT and lost.plan == "lost"
    assert lost.problems[0].message.startswith("sent, but the ledger could not record the answer")
    assert breaker.stop.is_set() and f"the ledger {path} was deleted" in (breaker.reason or "")
