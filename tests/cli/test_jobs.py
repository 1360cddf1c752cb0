"""``rg-import run --job``, drop folders, ``jobs list|check``, retention and ``ledger backup``,
through the command line against the sandbox over real loopback HTTP."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from importer.errors import ExitCode
from importer.ledger.ledger import Ledger
from importer.sandbox.runner import Sandbox
from tests.cli.test_cli import assert_one_error_line, invoke
from tests.conftest import SAMPLE_DATA, SITE
from tests.send.test_run import write_people

OTHER_SITE = "5f0c6d0e-8a47-4c4e-9d0c-1d2e3f405162"
THIRD_SITE = "0b8f3a52-4c1e-4f6e-8b9a-77c2d4e5f601"


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_env: Sandbox
) -> Iterator[Path]:
    """A project folder; the working directory is another one, with no RG_SITE or RG_LEDGER."""
    for name in ("RG_SITE", "RG_LEDGER", "RG_PHONE_REGION"):
        monkeypatch.delenv(name, raising=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    folder = tmp_path / "project"
    folder.mkdir()
    yield folder


def write_jobs(folder: Path, text: str) -> Path:
    path = folder / "rg-import.toml"
    path.write_text(text, encoding="utf-8")
    return path


JOB = """
[jobs.nightly]
input = "exports/people-*.csv"
mapping = "followupboss"
site = "{site}"
ledger = "nightly.ledger.sqlite"
out = "runs"
yes = true
quiet = true
"""


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_run_job_sends_the_newest_export_with_the_jobs_settings(
    project: Path, sandbox_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "exports").mkdir()
    older = write_people(project / "exports" / "people-2026-01-02.csv", 30, seed=1)
    newest = write_people(project / "exports" / "people-2026-01-01.csv", 12, seed=2)
    os.utime(older, (1_000_000, 1_000_000))
    config = write_jobs(project, JOB.format(site=SITE) + "workers = 2\njson = true\n")

    code, out, err = invoke(capsys, "run", "--job", "nightly", "--config", str(config))

    assert code == ExitCode.OK, err
    report = json.loads(out)
    assert report["input"]["path"] == str(newest) and report["input"]["rows"] == 12
    assert len(sandbox_env.leads(SITE)) == 12  # type: ignore[attr-defined]
    run_dir = project / "runs" / report["run_id"]
    assert (run_dir / "report.json").is_file()
    assert os.readlink(project / "runs" / "latest") == report["run_id"]
    with Ledger(project / "nightly.ledger.sqlite", run_id="t", readonly=True) as book:
        assert book.counts()["leads"]["sent"] == 12
    assert not Path("rg-import-runs").exists()  # nothing in the working directory


def test_flags_and_the_environment_win_over_the_file(
    project: Path, sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    (project / "exports").mkdir()
    write_people(project / "exports" / "people-1.csv", 5, seed=3)
    config = write_jobs(project, JOB.format(site=SITE))
    monkeypatch.setenv("RG_SITE", OTHER_SITE)
    code, _, err = invoke(capsys, "run", "--job", "nightly", "--config", str(config))
    assert code == 0, err
    code, _, err = invoke(capsys, "run", "--job", "nightly", "--config", str(config),
                          "--site", THIRD_SITE, "--ledger", "flag.sqlite")  # fmt: skip
    assert code == 0, err
    sites = {s: len(sandbox_env.leads(s)) for s in (SITE, OTHER_SITE, THIRD_SITE)}  # type: ignore[attr-defined]
    assert sites == {SITE: 0, OTHER_SITE: 5, THIRD_SITE: 5}
    assert Path("flag.sqlite").is_file()  # the flag's path, from the working directory


@pytest.mark.parametrize(("setting", "processes"), [('"auto"', 2), ("1", 1), ('"1"', 1)])
def test_a_jobs_send_processes_is_a_number_or_auto(
    project: Path, sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], setting: str, processes: int,
) -> None:  # fmt: skip
    from importer.send import process_count

    monkeypatch.setattr(process_count, "usable_cpus", lambda: 2)  # auto's rule, on any machine
    (project / "exports").mkdir()
    write_people(project / "exports" / "people-1.csv", 40, seed=4)
    extra = f"workers = 32\nsend_processes = {setting}\njson = true\n"
    config = write_jobs(project, JOB.format(site=SITE) + extra)
    code, out, err = invoke(capsys, "run", "--job", "nightly", "--config", str(config))
    assert code == ExitCode.OK, err
    report = json.loads(out)
    assert report["requests"]["send_processes"] == processes
    assert report["leads"]["created"] == len(sandbox_env.leads(SITE)) == 40  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ("wrokers = 2", ["unknown key 'wrokers'", "did you mean 'workers'?"]),
        ("workers = 0", ["[jobs.nightly] workers = 0", "is not in the range"]),
        ('workers = "some"', ["[jobs.nightly] workers = 'some'", "'auto'"]),
        ("max_workers = 0", ["[jobs.nightly] max_workers = 0", "is not in the range"]),
        ('send_processes = "two"', ["[jobs.nightly] send_processes = 'two'", "'auto'"]),
        ("send_processes = 0", ["[jobs.nightly] send_processes = 0", "is not in the range"]),
        ('update_api = "v9"', ["update_api = 'v9'", "v1"]),
        ('api_token = "abc"', ["credentials never go in rg-import.toml"]),
    ],
)
def test_a_wrong_setting_is_one_line_and_exit_2(
    project: Path, sandbox_env: Sandbox, capsys: pytest.CaptureFixture[str], extra: str,
    words: list[str],
) -> None:  # fmt: skip
    config = write_jobs(project, JOB.format(site=SITE) + extra + "\n")
    code, out, err = invoke(capsys, "run", "--job", "nightly", "--config", str(config))
    assert_one_error_line(code, out, err, *words)
    assert sandbox_env.stats()["total"] == 0  # type: ignore[attr-defined]


def test_run_job_without_a_match_or_a_file_says_so(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_jobs(project, JOB.format(site=SITE))
    code, out, err = invoke(capsys, "run", "--job", "nightly", "--config", str(config))
    assert_one_error_line(code, out, err, "no file matches", "people-*.csv")
    code, out, err = invoke(capsys, "run", "--job", "weekly", "--config", str(config))
    assert_one_error_line(code, out, err, "has no job 'weekly'; its jobs: nightly")
    code, out, err = invoke(capsys, "run", "--job", "nightly")  # no rg-import.toml here
    assert_one_error_line(code, out, err, "no rg-import.toml in", "--config PATH")
    code, out, err = invoke(capsys, "run")
    assert_one_error_line(code, out, err, "Missing argument 'INPUT'", "--job NAME")


def test_jobs_list_shows_each_jobs_input_site_and_mapping(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jobs(project, JOB.format(site=SITE) + '\n[jobs.drop]\ninbox = "drop"\nsandbox = true\n')
    os.chdir(project)
    code, out, err = invoke(capsys, "jobs", "list")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["JOB", "INPUT", "SITE", "MAPPING"]
    assert lines[1].split() == ["nightly", "exports/people-*.csv", SITE, "followupboss"]
    assert lines[2].split() == ["drop", "inbox", "drop", "-", "-"]


def test_jobs_check_finds_every_problem_and_writes_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "exports").mkdir()
    write_people(project / "exports" / "people-1.csv", 3, seed=4)
    (project / "drop").mkdir()
    (project / "not-a-ledger.sqlite").write_text("plain text, no database" * 40, encoding="utf-8")
    config = write_jobs(project, JOB.format(site=SITE) + f"""
[jobs.broken]
input = "exports/missing-*.csv"
mapping = "no_such_mapping"
site = "not-a-uuid"
ledger = "not-a-ledger.sqlite"

[jobs.drop]
inbox = "drop"
mapping = "followupboss"
site = "{SITE}"
ledger = "state/drop.sqlite"
workers = 99
""")  # fmt: skip
    before = files_under(project.parent)

    code, out, err = invoke(capsys, "jobs", "check", "--config", str(config))

    assert code == ExitCode.USAGE, err
    assert files_under(project.parent) == before  # no ledger, lock, -wal or run folder made
    lines = out.splitlines()
    assert lines[0] == "job nightly: ok"
    assert lines[1] == "job broken: 4 problem(s)"
    broken = "\n".join(lines[2:6])
    for words in ("no file matches", "site 'not-a-uuid' is not a UUID",
                  "not-a-ledger.sqlite is not an rg-import ledger", "no mapping named 'no_such_mapping'"):  # fmt: skip
        assert words in broken, (words, out)
    assert lines[6] == "job drop: 1 problem(s)"
    assert "workers = 99" in lines[7]
    assert "Traceback" not in out + err


def test_jobs_check_of_a_good_file_exits_0(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "exports").mkdir()
    write_people(project / "exports" / "people-1.csv", 3, seed=4)
    config = write_jobs(project, JOB.format(site=SITE))
    before = files_under(project)
    assert invoke(capsys, "jobs", "check", "--config", str(config))[:2] == (0, "job nightly: ok\n")
    assert files_under(project) == before


# --------------------------------------------------------------------------- drop folders

INBOX_JOB = """
[jobs.drop]
inbox = "drop"
mapping = "followupboss"
site = "{site}"
ledger = "drop.ledger.sqlite"
out = "runs"
yes = true
quiet = true
settle_seconds = 0
"""


def test_a_drop_folder_runs_each_file_in_name_order_and_files_it_away(
    project: Path, sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import importer.jobs.inbox as inbox_module

    drop = project / "drop"
    drop.mkdir()
    write_people(drop / "1-clean.csv", 8, seed=5)
    (drop / "2-with-rejects.csv").write_bytes(
        (SAMPLE_DATA / "followupboss_people.csv").read_bytes()
    )
    (drop / "3-empty.csv").write_bytes(b"")
    (drop / ".4-partial.csv").write_text("still copying", encoding="utf-8")
    config = write_jobs(project, INBOX_JOB.format(site=SITE))
    ledger = project / "drop.ledger.sqlite"
    filed: list[tuple[str, str, int]] = []
    file_away = inbox_module.file_away

    def file_away_after_the_run(path: Path, outcome: str, **kwargs: object) -> Path:
        # the run has returned: its ledger is closed (no lock held) and holds its rows
        with Ledger(ledger, run_id="probe") as book:
            filed.append((path.name, outcome, book.counts()["leads"]["sent"]))
        return file_away(path, outcome, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox_module, "file_away", file_away_after_the_run)
    code, out, err = invoke(capsys, "run", "--job", "drop", "--config", str(config))

    assert code == ExitCode.USAGE, err  # the worst of 0, 3 and 2
    assert [(name, outcome) for name, outcome, _ in filed] == [
        ("1-clean.csv", "processed"), ("2-with-rejects.csv", "processed"), ("3-empty.csv", "failed")
    ]  # fmt: skip
    assert filed[0][2] == 8 and filed[1][2] > 8
    assert sorted(p.name for p in drop.iterdir()) == [".4-partial.csv", "failed", "processed"]
    processed = drop / "processed"
    for name in ("1-clean.csv", "2-with-rejects.csv"):
        report = json.loads((processed / f"{name}.run" / "report.json").read_text(encoding="utf-8"))
        assert report["input"]["path"] == str(drop / name)
        assert (processed / f"{name}.run").resolve().parent == (project / "runs").resolve()
    assert "is empty" in (drop / "failed" / "3-empty.csv.error.txt").read_text(encoding="utf-8")
    assert err.count("Error: ") == 1 and "3-empty.csv" in err

    # the next night: nothing new in the drop folder, nothing sent
    mark = sandbox_env.stats()["total"]  # type: ignore[attr-defined]
    code, out, err = invoke(capsys, "run", "--job", "drop", "--config", str(config))
    assert (code, out, err) == (0, "", "")
    assert sandbox_env.stats()["total"] == mark  # type: ignore[attr-defined]


def test_a_run_stopped_early_leaves_its_file_and_the_rest_in_the_drop_folder(
    project: Path, sandbox_env: Sandbox, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    drop = project / "drop"
    drop.mkdir()
    write_people(drop / "a.csv", 4, seed=6)
    write_people(drop / "b.csv", 4, seed=7)
    config = write_jobs(project, INBOX_JOB.format(site=SITE))
    monkeypatch.setenv("RG_PASSWORD", "wrong")  # the server refuses: the run stops (exit 4)

    code, _, err = invoke(capsys, "run", "--job", "drop", "--config", str(config))

    assert code == ExitCode.ABORTED, err
    assert sorted(p.name for p in drop.iterdir()) == ["a.csv", "b.csv"]
    assert len(list((project / "runs").iterdir())) == 2  # a's run directory, and latest


# --------------------------------------------------------------------------- retention


def test_keep_runs_keeps_the_newest_run_directories_and_nothing_else_is_touched(
    project: Path, sandbox_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "exports").mkdir()
    write_people(project / "exports" / "people-1.csv", 3, seed=8)
    config = write_jobs(project, JOB.format(site=SITE) + "keep_runs = 2\njson = true\n")
    (project / "runs" / "notes").mkdir(parents=True)
    run_ids = []
    for _ in range(4):
        code, out, err = invoke(capsys, "run", "--job", "nightly", "--config", str(config))
        assert code == 0, err
        run_ids.append(json.loads(out)["run_id"])
    assert sorted(p.name for p in (project / "runs").iterdir()) == sorted(
        [*run_ids[-2:], "latest", "notes"]
    )
    assert os.readlink(project / "runs" / "latest") == run_ids[-1]


def test_keep_runs_with_out_is_refused(
    project: Path, sandbox_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(capsys, "run", str(SAMPLE_DATA / "followupboss_people.csv"),
                            "--site", SITE, "--yes", "--keep-runs", "2", "--out", "here")  # fmt: skip
    assert_one_error_line(code, out, err, "--keep-runs", "--out")
    assert sandbox_env.stats()["total"] == 0  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- ledger backup


def test_ledger_backup_copies_the_ledger_of_a_run(
    project: Path, sandbox_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = Path("ledger.sqlite")
    code, _, err = invoke(capsys, "run", str(SAMPLE_DATA / "followupboss_people.csv"),
                          "--site", SITE, "--yes", "-q", "--ledger", str(ledger))  # fmt: skip
    assert code == ExitCode.REJECTS, err
    code, out, err = invoke(capsys, "ledger", "backup", "copy.sqlite", "--ledger", str(ledger))
    assert code == 0, err
    assert out.startswith(f"Ledger {ledger} (") and "copied to copy.sqlite" in out
    assert stat.S_IMODE(Path("copy.sqlite").stat().st_mode) == 0o600
    with (
        Ledger("copy.sqlite", run_id="t", readonly=True) as copy,
        Ledger(ledger, run_id="t", readonly=True) as original,
    ):
        assert copy.counts() == original.counts()
    with Ledger(ledger, run_id="busy"):
        code, out, err = invoke(capsys, "ledger", "backup", "again.sqlite", "--ledger", str(ledger))
    # the lock's own exit code (5), as for a run refused by another
    assert code == ExitCode.LOCKED and out == "" and len(err.splitlines()) == 1, err
    assert "is in use by another run" in err and "run busy" in err
    assert not Path("again.sqlite").exists()
