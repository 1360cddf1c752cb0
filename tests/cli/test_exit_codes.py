"""Exit codes a nightly job can act on, and output quiet enough for cron (issue 13, items 3 and 4).

Every run goes through ``rg-import`` in-process (``main``) to a sandbox on
loopback: rejects an earlier run reported are told from new ones
(``--fail-on``), a file with only its header is a problem (``empty_input``),
``--quiet`` prints nothing when all is well and ``--summary-line`` one line.
The lock code and SIGTERM are in tests/send/test_run_storage.py and
tests/send/test_run_crash.py, which run real processes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from importer.errors import ExitCode
from importer.models import Outcome
from importer.sandbox.runner import Sandbox
from tests.cli.test_cli import PEOPLE, invoke
from tests.conftest import SITE
from tests.send.test_run import cli_env, run_result, write_people  # noqa: F401 (a fixture)

PEOPLE_REJECTS = 9  # rows of the sample export the checks refuse (2 of them duplicate keys)


def run_args(sandbox: Sandbox, path: Path, ledger: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run", str(path), "-m", "followupboss", "--site", SITE, "--base-url", sandbox.url,
        "--ledger", str(ledger), "--out", str(out), "--yes", *extra,
    ]  # fmt: skip


def report(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "report.json").read_text())
    return data


def known_new(report: dict[str, Any]) -> dict[str, int]:
    """report.json's count of rejects reported by an earlier run, and of new ones."""
    return {k: report["rejects"][k] for k in ("known", "new")}


def writes(sandbox: Sandbox) -> int:
    """Requests that could change the site: all but the users listing (a read, for assign:)."""
    stats = sandbox.stats()
    return int(stats["total"]) - sum(stats["requests"].get("list_users", {}).values())


def with_a_copy_of_its_second_row(path: Path) -> Path:
    """The sample export, byte for byte, plus a copy of its first data row: a new duplicate."""
    data = PEOPLE.read_bytes()
    first_row = data.split(b"\r\n")[1]
    path.write_bytes(data + first_row + b"\r\n")
    return path


@pytest.mark.usefixtures("cli_env")
def test_rejects_reported_before_are_known_and_only_new_ones_fail_the_run(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    new_only = ("--fail-on", "new-rejects", "--summary-line")

    # night 1: every reject is new
    code, out, _ = invoke(capsys, *run_args(sandbox, PEOPLE, ledger, tmp_path / "n1"), *new_only)
    assert code == ExitCode.REJECTS
    assert known_new(report(tmp_path / "n1")) == {"known": 0, "new": PEOPLE_REJECTS}
    assert out == f"{PEOPLE}: 56 rows, 47 created, 0 updated, 0 unchanged, 9 new rejects, exit 3\n"
    sent = writes(sandbox)

    # night 2, the same export: the same rejects, already reported; nothing new, exit 0
    code, out, err = invoke(capsys, *run_args(sandbox, PEOPLE, ledger, tmp_path / "n2"), *new_only)
    assert code == ExitCode.OK, err
    assert known_new(report(tmp_path / "n2")) == {"known": PEOPLE_REJECTS, "new": 0}
    assert report(tmp_path / "n2")["exit_code"] == 0
    assert out == (
        f"{PEOPLE}: 56 rows, 0 created, 0 updated, 47 unchanged, "
        "0 new rejects (9 already reported), exit 0\n"
    )
    assert writes(sandbox) == sent

    # the default stays today's: any reject is exit 3; the summary says which are known
    code, out, _ = invoke(capsys, *run_args(sandbox, PEOPLE, ledger, tmp_path / "n3"))
    assert code == ExitCode.REJECTS
    assert "  rejected         9  (9 already reported)" in out.splitlines()
    code, _, _ = invoke(capsys, *run_args(sandbox, PEOPLE, ledger, tmp_path / "n4"),
                        "--fail-on", "never")  # fmt: skip
    assert code == ExitCode.OK

    # a plan with the ledger tells them apart too (it only reads the ledger)
    plan = ["plan", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--ledger", str(ledger),
            "--out", str(tmp_path / "plan"), "--fail-on", "new-rejects",
            "--base-url", sandbox.url]  # (its owners are matched to the sandbox's users)  # fmt: skip
    code, out, _ = invoke(capsys, *plan)
    assert code == ExitCode.OK
    assert known_new(report(tmp_path / "plan")) == {"known": PEOPLE_REJECTS, "new": 0}
    assert "  reject           9  (9 already reported)" in out.splitlines()

    # a new reject (a copy of a sent row: a duplicate key) fails the run, once
    night = with_a_copy_of_its_second_row(tmp_path / "people.csv")
    code, out, _ = invoke(capsys, *run_args(sandbox, night, ledger, tmp_path / "n5"), *new_only)
    assert code == ExitCode.REJECTS
    assert known_new(report(tmp_path / "n5")) == {"known": PEOPLE_REJECTS, "new": 1}
    assert out.endswith("1 new rejects (9 already reported), exit 3\n")
    code, _, _ = invoke(capsys, *run_args(sandbox, night, ledger, tmp_path / "n6"), *new_only)
    assert code == ExitCode.OK
    assert known_new(report(tmp_path / "n6")) == {"known": PEOPLE_REJECTS + 1, "new": 0}


def test_the_same_bytes_again_in_one_run_are_not_reported_before(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    # three copies of one row, read a row at a time: the third is looked up after the
    # second was remembered, by this very run, so it is new too
    path = tmp_path / "thrice.csv"
    data = PEOPLE.read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join([data[0], data[1], data[1], data[1], b""]))
    result = run_result(sandbox, path, tmp_path / "l.sqlite", tmp_path / "o", chunk_rows=1)
    assert result.leads[Outcome.REJECT] == 2
    assert known_new(report(tmp_path / "o")) == {"known": 0, "new": 2}


@pytest.mark.usefixtures("cli_env")
def test_a_file_with_only_its_header_is_a_problem_unless_allowed(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header_only = tmp_path / "header.csv"
    header_only.write_bytes(PEOPLE.read_bytes().split(b"\r\n")[0] + b"\r\n")
    ledger = tmp_path / "ledger.sqlite"

    code, out, err = invoke(capsys, *run_args(sandbox, header_only, ledger, tmp_path / "r"), "-q")
    assert code == ExitCode.REJECTS
    assert out == ""
    assert err.splitlines() == [
        f"empty_input: {header_only} has no data rows, only a header: the export that made it "
        "may have failed; check it, or pass --allow-empty if an empty file is expected"
    ]
    problems = report(tmp_path / "r")["problems"]
    assert [p["code"] for p in problems] == ["empty_input"]
    assert report(tmp_path / "r")["exit_code"] == 3

    code, out, _ = invoke(capsys, *run_args(sandbox, header_only, ledger, tmp_path / "s"),
                          "--summary-line")  # fmt: skip
    assert out.endswith("0 new rejects, empty_input, exit 3\n")

    plan = ["plan", str(header_only), "-m", "followupboss", "--out", str(tmp_path / "p")]
    code, out, _ = invoke(capsys, *plan)
    assert code == ExitCode.REJECTS
    assert "problem:" in out and "(empty_input)" in out

    code, _, _ = invoke(capsys, *run_args(sandbox, header_only, ledger, tmp_path / "a"),
                        "--allow-empty")  # fmt: skip
    assert code == ExitCode.OK
    assert report(tmp_path / "a")["problems"] == []
    code, _, _ = invoke(capsys, *plan[:-1], str(tmp_path / "pa"), "--allow-empty")
    assert code == ExitCode.OK
    assert writes(sandbox) == 0


@pytest.mark.usefixtures("cli_env")
def test_quiet_prints_nothing_at_all_on_a_clean_run(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_people(tmp_path / "people.csv", 30, seed=5)
    # no --mapping: the "Using mapping ..." notice is left out too
    args = ["run", str(path), "--site", SITE, "--base-url", sandbox.url, "--ledger",
            str(tmp_path / "ledger.sqlite"), "--yes", "--quiet"]  # fmt: skip
    code, out, err = invoke(capsys, *args)
    assert (code, out, err) == (0, "", "")
    assert len(sandbox.leads(SITE)) == 30
    # the same for a plan, and a re-run that sends nothing
    code, out, err = invoke(capsys, "plan", str(path), "--quiet")
    assert (code, out, err) == (0, "", "")
    code, out, err = invoke(capsys, *args)
    assert (code, out, err) == (0, "", "")
    # --summary-line: one line and nothing else, named by the input as typed
    code, out, err = invoke(capsys, *args, "--summary-line")
    assert err == ""
    assert out == f"{path}: 30 rows, 0 created, 0 updated, 30 unchanged, 0 new rejects, exit 0\n"


def test_the_summary_line_names_the_job_when_there_is_one(tmp_path: Path) -> None:
    from importer.cli.summaries import summary_line
    from importer.mapping.files import load_mapping
    from importer.plan.plan_file import PlanRequest, plan_file

    path = write_people(tmp_path / "people.csv", 12, seed=8)
    result = plan_file(PlanRequest(input=path, mapping=load_mapping("followupboss"),
                                   out=tmp_path / "p"))  # fmt: skip
    assert summary_line(result, "nightly") == (
        "job nightly: 12 rows, 12 to create, 0 to update, 0 unchanged, 0 new rejects, exit 0"
    )
