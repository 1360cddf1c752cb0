"""``--send-processes N``: the requests made by N processes, the rest of the run as with one.

Runs against the sandbox over loopback HTTP. A sending process that dies must
leave its rows in doubt (never rejected, never lost), which the next run
settles; a stop must reach the processes; none may outlive the run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from importer import errors
from importer.errors import ApiError, RateLimitedError, Stopping
from importer.outputs.report import shown_json
from importer.sandbox.runner import Sandbox, start_sandbox
from importer.send import process_wire as wire
from tests.conftest import SITE
from tests.send.test_run import (
    PEOPLE,
    assert_invariant,
    cli_env,  # noqa: F401  (a fixture)
    cli_exit,
    leads_by_id,
    ledger_counts,
    run_result,
    write_people,
)
from tests.send.test_run_crash import (
    assert_each_lead_once,
    finish,
    run_command,
    run_env,
    start_run,
    stored_more_than,
    valid_lead_ids,
    wait_for,
)


def children_of(pid: int) -> set[int]:
    """The processes ``pid`` started that still run (Linux: /proc/PID/task/*/children)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; its parent has not reaped it yet


def wait_gone(pids: set[int], timeout: float = 20) -> set[int]:
    """The ones of ``pids`` still running after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return {p for p in pids if running(p)}


def stored_state(sandbox: Sandbox) -> dict[str, Any]:
    """The leads as the sandbox keeps them, without what differs from run to run."""
    skip = {"created_at", "updated_at", "received_at"}

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if k not in skip}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return {lead_id: plain(lead) for lead_id, lead in leads_by_id(sandbox).items()}


def with_send_processes(command: list[str], processes: int) -> list[str]:
    return [*command, "--send-processes", str(processes)]


# --------------------------------------------------------------------------- the same result


def test_two_processes_store_what_one_does(tmp_path: Path) -> None:
    path = write_people(tmp_path / "people.csv", 120, seed=31, dirty_share=0.05)
    reports, states = [], []
    for processes in (1, 2):
        with start_sandbox(port=0) as sandbox:
            where = tmp_path / f"p{processes}"
            where.mkdir()
            report = shown_json(run_result(sandbox, path, where / "ledger.sqlite", where / "out",
                                           workers=4, send_processes=processes))  # fmt: skip
            assert_invariant(report)
            # the processes' stats add up to every request the server got
            assert report["requests"]["total"] == sandbox.stats()["total"]
            assert sum(report["requests"]["by_status"].values()) == report["requests"]["total"]
            states.append(stored_state(sandbox))
            reports.append(report)
    one, two = reports
    assert one["leads"] == two["leads"] and one["activities"] == two["activities"]
    assert one["requests"]["by_status"] == two["requests"]["by_status"]
    assert states[0] == states[1]
    assert all(lead["ids"] == [lead_id] for lead_id, lead in states[1].items())


def test_a_rerun_with_two_processes_sends_nothing_again(sandbox: Sandbox, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    first = shown_json(run_result(sandbox, PEOPLE, ledger, tmp_path / "a", send_processes=2))
    stored = sandbox.stats()["total"]
    again = shown_json(run_result(sandbox, PEOPLE, ledger, tmp_path / "b", send_processes=2))
    assert_invariant(again)
    assert again["leads"]["unchanged"] == first["leads"]["created"]
    assert again["requests"]["total"] == 0 and sandbox.stats()["total"] == stored


# --------------------------------------------------------------------------- auto, the default


@pytest.fixture
def two_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto counts 2 usable CPUs, whatever machine runs the tests (a CI runner may have 1)."""
    from importer.send import process_count

    monkeypatch.setattr(process_count, "usable_cpus", lambda: 2)


def cli_run(sandbox: Sandbox, path: Path, tmp_path: Path, name: str, *flags: str) -> dict[str, Any]:
    """``rg-import run PATH FLAGS`` in-process into ``sandbox``; its report.json."""
    out = tmp_path / name
    code = cli_exit(["run", str(path), "-m", "followupboss", "--site", SITE, "--base-url", sandbox.url,
                     "--ledger", str(tmp_path / f"{name}.sqlite"), "--out", str(out), "--yes", *flags])  # fmt: skip
    report: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert code == report["exit_code"] in (0, 3)
    return report


@pytest.mark.usefixtures("cli_env", "two_cpus")
def test_by_default_32_workers_send_from_two_processes_and_end_as_one_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_people(tmp_path / "people.csv", 120, seed=37, dirty_share=0.05)
    reports, states = {}, {}
    for label, flags in (("default", ()), ("one", ("--send-processes", "1"))):
        with start_sandbox(port=0) as sandbox:
            reports[label] = cli_run(sandbox, path, tmp_path, label, "--workers", "32", *flags)
            assert_invariant(reports[label])
            assert reports[label]["requests"]["total"] == sandbox.stats()["total"]
            states[label] = stored_state(sandbox)
    default, one = reports["default"], reports["one"]
    assert default["requests"]["send_processes"] == 2  # what auto chose, for the user to see
    assert one["requests"]["send_processes"] == 1
    assert default["leads"] == one["leads"] and default["activities"] == one["activities"]
    assert default["requests"]["by_status"] == one["requests"]["by_status"]
    assert states["default"] == states["one"]
    assert all(lead["ids"] == [lead_id] for lead_id, lead in states["default"].items())
    summaries = [line for line in capsys.readouterr().out.splitlines() if "requests:" in line]
    assert len(summaries) == 2
    assert "from 2 sending processes" in summaries[0]
    assert "sending processes" not in summaries[1]


@pytest.mark.usefixtures("cli_env", "two_cpus")
@pytest.mark.parametrize("flags", [["--workers", "4"], ["--workers", "auto", "--max-workers", "64"],
                                   ["--workers", "4", "--send-processes", "auto"]])  # fmt: skip
def test_by_default_fewer_workers_or_auto_send_from_one_process(
    sandbox: Sandbox, tmp_path: Path, flags: list[str]
) -> None:
    report = cli_run(sandbox, PEOPLE, tmp_path, "run", "-q", *flags)
    assert_invariant(report)
    assert report["requests"]["send_processes"] == 1
    assert report["leads"]["created"] == len(sandbox.leads(SITE)) > 0


@pytest.mark.usefixtures("cli_env", "two_cpus")
def test_auto_with_dask_local_is_no_error_of_send_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the run goes on past the flags to what a Dask run needs (a ledger its tasks share);
    # that its tasks send from one process each is tests/scale/test_executor_flags.py's
    argv = ["run", str(PEOPLE), "--sandbox", "--yes", "-q", "--ledger", str(tmp_path / "l.sqlite"),
            "--executor", "dask-local", "--workers", "64", "--send-processes", "auto"]  # fmt: skip
    assert cli_exit(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ledger postgresql://" in err[0], err
    assert "send-processes" not in err[0]


# --------------------------------------------------------------------------- bad values


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    "flags",
    [["--send-processes", "0"], ["--send-processes", "-1"], ["--send-processes", "two"],
     ["--send-processes", "33"], ["--send-processes", ""], ["--send-processes", "3", "--workers", "2"],
     ["--send-processes", "2", "--executor", "dask-local", "--sandbox"]],
    ids=["zero", "negative", "text", "too-many", "empty", "more-than-workers", "with-dask"],
)  # fmt: skip
def test_a_bad_send_processes_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    argv = ["run", str(PEOPLE), "--sandbox", "--yes", "-q", "--ledger", str(tmp_path / "l.sqlite"),
            "--out", str(tmp_path / "out"), *flags]  # fmt: skip
    assert cli_exit(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "send-processes" in err[0], err
    assert "Traceback" not in err[0]
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- errors as data


@pytest.mark.parametrize(
    "cls", [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, ApiError)]
)
def test_api_errors_cross_the_pipe_with_their_fields(cls: type[ApiError]) -> None:
    extra = {"retry_after": 7.5} if issubclass(cls, RateLimitedError) else {}
    sent = cls("slow down", status=429, method="POST", url="http://127.0.0.1/rest/sites/x/leads",
               attempts=3, maybe_applied=True, **extra)  # type: ignore[arg-type]  # fmt: skip
    back = wire.rebuilt_error(wire.error_data(sent))
    assert type(back) is cls and str(back) == str(sent)
    fields = ("error", "status", "method", "url", "attempts", "maybe_applied", "retry_after")
    assert all(getattr(back, f, None) == getattr(sent, f, None) for f in fields)


@pytest.mark.parametrize("maybe_applied", [True, False])
def test_a_stop_crosses_the_pipe_saying_whether_it_may_have_applied(maybe_applied: bool) -> None:
    back = wire.rebuilt_error(wire.error_data(Stopping(maybe_applied=maybe_applied)))
    assert isinstance(back, Stopping) and back.maybe_applied is maybe_applied


# --------------------------------------------------------------------------- dying, stopping


def sending_processes(proc: subprocess.Popen[str], count: int) -> set[int]:
    """The run's ``count`` sending processes, once each runs process_child: a child caught
    between fork and exec still shows the run's own command line."""
    deadline = time.monotonic() + 30
    while len(found := _sending(children_of(proc.pid))) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(found) == count, found
    return found


def _sending(pids: set[int]) -> set[int]:
    found = set()
    for pid in pids:
        try:
            if b"importer.send.process_child" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_a_killed_sending_process_leaves_rows_in_doubt_that_a_rerun_settles(
    tmp_path: Path,
) -> None:
    path = write_people(tmp_path / "people.csv", 200, seed=37, dirty_share=0.05)
    wanted = valid_lead_ids(path, tmp_path)
    ledger, out = tmp_path / "ledger.sqlite", tmp_path / "killed"
    with start_sandbox(port=0, latency_ms=200) as sandbox:
        command = with_send_processes(run_command(sandbox, path, ledger, out, workers=8), 2)
        proc = start_run(command, tmp_path)
        children = sending_processes(proc, 2)
        wait_for(partial(stored_more_than, sandbox, 5), proc)
        victim = min(children)
        os.kill(victim, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
        assert wait_gone(children) == set()

        # the run stops (exit 4) and says why; the killed process's rows are in doubt
        assert proc.returncode == 4, stderr
        assert "Traceback" not in stderr
        report = json.loads((out / "report.json").read_text())
        assert_invariant(report)
        assert "sending process" in report["stopped"] and "signal 9" in report["stopped"]
        assert report["leads"]["in_doubt"] > 0
        assert report["leads"]["rejected"] == len(_rejected_rows(path, tmp_path))
        counts = ledger_counts(ledger)
        assert counts["leads"]["sending"] == 0

        final = finish(sandbox, path, ledger, tmp_path / "final", tmp_path)
        assert_each_lead_once(sandbox, wanted)
    assert_invariant(final)
    assert final["leads"]["in_doubt"] == final["leads"]["not_sent"] == 0


def _rejected_rows(path: Path, tmp_path: Path) -> set[int]:
    from tests.send.test_run import plan_of

    plan = plan_of(path, "followupboss", tmp_path / "plan-rejects")
    return {row for row, p in plan.items() if p["action"] == "reject"}


def start_in_own_group(command: list[str], cwd: Path) -> subprocess.Popen[str]:
    """``start_run``, in a process group of its own (a signal to the group spares pytest)."""
    return subprocess.Popen(
        command, cwd=cwd, env=run_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("to_group", [False, True], ids=["to-the-run", "to-its-process-group"])
def test_sigterm_reaches_the_sending_processes_and_the_run_resumes(
    tmp_path: Path, to_group: bool
) -> None:
    path = write_people(tmp_path / "people.csv", 200, seed=41, dirty_share=0.05)
    wanted = valid_lead_ids(path, tmp_path)
    ledger, out = tmp_path / "ledger.sqlite", tmp_path / "stopped"
    with start_sandbox(port=0, latency_ms=30) as sandbox:
        command = with_send_processes(run_command(sandbox, path, ledger, out, workers=4), 2)
        proc = start_in_own_group(command, tmp_path)
        children = sending_processes(proc, 2)
        wait_for(lambda: sandbox.stats()["total"] >= 10, proc)
        if to_group:  # a service manager stopping the unit: every process gets it
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 143, stderr
        assert "sending process" not in stderr  # none died of it: each finished its tries
        assert wait_gone(children) == set()
        report = json.loads((out / "report.json").read_text())
        assert_invariant(report)
        assert report["stopped"] == "stopped by SIGTERM" and report["leads"]["not_sent"] > 0
        assert report["requests"]["total"] == sandbox.stats()["total"]
        assert ledger_counts(ledger)["leads"]["sending"] == 0

        finish(sandbox, path, ledger, tmp_path / "final", tmp_path)
        assert_each_lead_once(sandbox, wanted)


@pytest.mark.slow
def test_the_sending_processes_get_no_credentials_and_end_with_a_killed_run(tmp_path: Path) -> None:
    path = write_people(tmp_path / "people.csv", 200, seed=43)
    with start_sandbox(port=0, latency_ms=200) as sandbox:
        command = run_command(sandbox, path, tmp_path / "l.sqlite", tmp_path / "out", workers=8)
        proc = start_run(with_send_processes(command, 3), tmp_path)
        children = sending_processes(proc, 3)
        for child in children:  # the credentials came over the pipe: none in argv or environment
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[:-1]
            assert (
                argv[1:4] == [b"-m", b"importer.send.process_child", argv[3]] and argv[3].isdigit()
            )
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
            assert not any(v.startswith((b"RG_PASSWORD=", b"RG_USERNAME=")) for v in environ)
        wait_for(partial(stored_more_than, sandbox, 0), proc)
        proc.kill()
        proc.communicate(timeout=30)
        assert wait_gone(children) == set()
        assert len(sandbox.leads(SITE)) > 0


# --------------------------------------------------------------------------- what the run shows


def test_every_try_of_every_process_is_in_the_log_and_no_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.send.test_run_log import SECRET, log_lines, run_logged

    log = tmp_path / "run.log"
    code, report = run_logged(monkeypatch, tmp_path, log, "--send-processes", "2", "--workers", "4")
    assert code == 3  # the sample's rejects
    tries = [line for line in log_lines(log) if line["event"] == "request"]
    assert len(tries) == report["requests"]["total"] > 0
    assert SECRET not in log.read_text(encoding="utf-8")


def test_auto_workers_are_the_processes_limits_added_up(tmp_path: Path) -> None:
    from dataclasses import replace

    from importer.send.run import run_file

    with start_sandbox(port=0) as sandbox:
        result = run_result(sandbox, PEOPLE, tmp_path / "l.sqlite", tmp_path / "a", workers=4)
        request = replace(
            _request_of(sandbox, tmp_path), workers="auto", max_workers=8, send_processes=2
        )
        report = shown_json(run_file(request))
    assert_invariant(report)
    assert report["leads"]["created"] == result.leads[_created()]
    workers = report["requests"]["workers"]
    # each process starts at 4 places of its 4 (--max-workers 8 over 2 processes)
    assert 2 <= workers["final"] <= workers["peak"] <= 8


def _request_of(sandbox: Sandbox, tmp_path: Path) -> Any:
    from importer.mapping.files import load_mapping
    from importer.send.client_settings import ClientSettings
    from importer.send.run import RunRequest
    from tests.send.test_run import SANDBOX_LOGIN

    return RunRequest(
        input=PEOPLE, mapping=load_mapping("followupboss"), site=SITE, base_url=sandbox.url,
        credentials=SANDBOX_LOGIN, ledger=tmp_path / "auto.sqlite", out=tmp_path / "auto",
        client_settings=ClientSettings(base_url=sandbox.url, read_timeout=5.0),
    )  # fmt: skip


def _created() -> Any:
    from importer.models import Outcome

    return Outcome.CREATE
