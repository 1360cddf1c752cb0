"""Issue 13, done when: a job driven through three nights from a drop folder, over real
loopback HTTP to the sandbox, the way a nightly export lands there.

Night 1 creates; night 2 brings edits, new rows, two deleted rows and the same rejects
as night 1, sends only the changes, names the two missing keys and exits 0 under
``--fail-on new-rejects``; night 3 brings a file with only its header and exits 3
``empty_input``.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from importer.errors import ExitCode
from importer.sandbox.runner import Sandbox
from tests.cli.test_cli import invoke
from tests.cli.test_jobs import project, write_jobs  # noqa: F401 (a fixture)
from tests.conftest import SAMPLE_DATA, SITE

NIGHTLY = """
[jobs.nightly]
inbox = "drop"
mapping = "followupboss"
site = "{site}"
ledger = "nightly.ledger.sqlite"
out = "runs"
yes = true
quiet = true
fail_on = "new-rejects"
settle_seconds = 0
"""


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, header)
        writer.writeheader()
        writer.writerows(rows)


def night(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The cron line: run the job on whatever the drop folder holds."""
    return invoke(capsys, "run", "--job", "nightly", "--config", str(folder / "rg-import.toml"))


def report_of(folder: Path, name: str) -> dict[str, Any]:
    run_dir = folder / "drop" / "processed" / f"{name}.run"
    data: dict[str, Any] = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    return data


def test_three_nights_from_a_drop_folder(
    project: Path,  # noqa: F811 (the fixture)
    sandbox_env: Sandbox,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_jobs(project, NIGHTLY.format(site=SITE))
    drop = project / "drop"
    drop.mkdir()
    # the sample Follow Up Boss export (its headers and values are the vendor's own
    # layout), which carries rejects on purpose
    header, rows = read_rows(SAMPLE_DATA / "followupboss_people.csv")

    # night 1: every valid row is created, the rejects are new
    write_rows(drop / "people-1.csv", header, rows)
    code, out, err = night(project, capsys)
    first = report_of(project, "people-1.csv")
    assert code == ExitCode.REJECTS, err  # new rejects fail the night
    assert (out, first["rejects"]["known"]) == ("", 0)
    first_rejects = drop / "processed" / "people-1.csv.run" / "rejects.csv"
    rejected_rows = {int(r["_row"]) for r in read_rows(first_rejects)[1]}
    assert first["leads"]["rejected"] == len(rejected_rows) > 0
    created = first["leads"]["created"]
    assert created == len(sandbox_env.leads(SITE)) > 10  # type: ignore[attr-defined]

    # night 2: two rows deleted, three edited, two new, the rejected rows as they were
    # (row numbers are 1-based data rows, the header being row 1: see rejects.csv's _row)
    valid = [i for i in range(len(rows)) if i + 2 not in rejected_rows]
    deleted = {valid[0], valid[1]}
    edited = valid[2:5]
    tonight = []
    for i, row in enumerate(rows):
        if i in deleted:
            continue
        row = dict(row)
        if i in edited:
            row["Tags"] = "nightly edit"
        tonight.append(row)
    for n, extra in enumerate((valid[5], valid[6])):
        new = dict(rows[extra])
        new["ID"] = f"99000{n}"
        new["Email 1"] = f"new.lead.{n}@example.org"
        new["Phone 1"] = ""
        tonight.append(new)
    write_rows(drop / "people-2.csv", header, tonight)
    mark = sandbox_env.stats()["total"]  # type: ignore[attr-defined]
    code, out, err = night(project, capsys)
    second = report_of(project, "people-2.csv")
    assert (code, out, err) == (ExitCode.OK, "", ""), second
    leads = second["leads"]
    assert (leads["created"], leads["updated"]) == (2, 3)
    assert leads["unchanged"] == created - 2 - 3
    assert leads["rejected"] == first["leads"]["rejected"]
    assert (second["rejects"]["known"], second["rejects"]["new"]) == (leads["rejected"], 0)
    assert second["missing_since_last_run"] == 2
    missing = read_rows(drop / "processed" / "people-2.csv.run" / "missing.csv")[1]
    assert sorted(m["key"] for m in missing) == sorted(rows[i]["ID"] for i in deleted)
    # only the changes went out: two new leads, three updates (and their activities)
    assert len(sandbox_env.leads(SITE)) == created + 2  # type: ignore[attr-defined]
    sent = sandbox_env.stats()["total"] - mark  # type: ignore[attr-defined]
    assert sent == second["requests"]["total"] >= 5

    # night 3: the export broke upstream and wrote only its header
    write_rows(drop / "people-3.csv", header, [])
    code, out, err = night(project, capsys)
    assert code == ExitCode.REJECTS, err
    assert "empty_input" in err and out == ""
    assert len(sandbox_env.leads(SITE)) == created + 2  # type: ignore[attr-defined]


TWO_JOBS = """
[jobs.{name}]
input = "{input}"
mapping = "followupboss"
site = "{site}"
base_url = "{url}"
ledger = "shared.ledger.sqlite"
out = "runs-{name}"
yes = true
quiet = true
workers = 2
"""


def latest_report(runs: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((runs / "latest" / "report.json").read_text("utf-8"))
    return data


@pytest.mark.slow
@pytest.mark.parametrize("wait", [False, True], ids=["refused", "waits"])
def test_two_jobs_started_at_once_on_one_ledger(tmp_path: Path, wait: bool) -> None:
    """Issue 13, done when: two jobs on one ledger at once; one runs, the other exits with
    the lock's code (5), or, given ``wait``, waits for it and then runs."""
    from importer.sandbox.runner import start_sandbox
    from tests.send.test_run import write_people
    from tests.send.test_run_crash import start_run, wait_for

    first_file = write_people(tmp_path / "first.csv", 200, seed=41)
    second_file = write_people(tmp_path / "second.csv", 30, seed=42)
    with start_sandbox(port=0, latency_ms=50) as sandbox:
        jobs = "".join(
            TWO_JOBS.format(name=name, input=path.name, site=SITE, url=sandbox.url)
            for name, path in (("first", first_file), ("second", second_file))
        )
        (tmp_path / "rg-import.toml").write_text(
            jobs + ("wait = 600\n" if wait else ""), encoding="utf-8"
        )
        command = [sys.executable, "-m", "importer", "run", "--job"]
        first = start_run([*command, "first"], tmp_path)
        wait_for(lambda: sandbox.stats()["total"] >= 5, first)
        second = start_run([*command, "second"], tmp_path)
        if wait:
            _, err = second.communicate(timeout=300)
            first.communicate(timeout=300)
            assert first.returncode == second.returncode == ExitCode.OK, err
            # the second ran after the first: every row of both files ended once, and the
            # leads the two created are all there is (the files share some keys)
            reports = [latest_report(tmp_path / f"runs-{n}") for n in ("first", "second")]
            assert [r["input"]["rows"] for r in reports] == [200, 30]
            assert all(r["leads"]["rejected"] == 0 for r in reports)
            created = sum(r["leads"]["created"] for r in reports)
            assert created == len(sandbox.leads(SITE)) > 200
        else:
            out, err = second.communicate(timeout=60)
            assert first.poll() is None  # refused while the first still runs
            first.communicate(timeout=300)
            assert second.returncode == ExitCode.LOCKED, err
            assert out == "" and len(err.splitlines()) == 1 and "in use by another run" in err
            assert first.returncode == ExitCode.OK
            assert len(sandbox.leads(SITE)) == 200  # the refused job sent nothing
