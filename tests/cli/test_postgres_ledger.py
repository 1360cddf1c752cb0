"""The command line with a PostgreSQL ledger: ``--ledger postgresql://…`` and RG_LEDGER.

A run against the real sandbox over loopback, with the ledger in a database of
the session's PostgreSQL (``pgserver``); then the commands that read a ledger,
the doctor and a job's check. The URL's password never shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.errors import ExitCode
from tests.cli.test_cli import clean_env, invoke
from tests.conftest import SAMPLE_DATA, SITE

__all__ = ["clean_env"]  # the fixture, used by name

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"


def with_password(url: str) -> str:
    """``url`` with a password the server does not need (it trusts local sockets)."""
    return url.replace("postgresql://postgres:@", "postgresql://postgres:s3cret@")


def test_a_run_with_rg_ledger_a_url_then_the_ledger_commands(
    clean_env: Path, sandbox_env: object, postgres_url: str,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    url = with_password(postgres_url)
    monkeypatch.setenv("RG_LEDGER", url)
    code, out, err = invoke(
        capsys, "run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--yes",
        "--out", str(clean_env / "first"),
    )  # fmt: skip
    assert code == ExitCode.REJECTS, err
    first = json.loads((clean_env / "first" / "report.json").read_text())
    assert first["leads"]["created"] == 47
    assert not list(clean_env.glob("*.sqlite*"))  # no ledger file was made
    # the same file again: the database remembers every row
    code, _, err = invoke(
        capsys, "run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--yes",
        "--ledger", url, "--out", str(clean_env / "again"),
    )  # fmt: skip
    again = json.loads((clean_env / "again" / "report.json").read_text())
    assert (again["leads"]["created"], again["leads"]["unchanged"]) == (0, 47)

    # plan reads the database too (read-only): every valid row is unchanged
    code, out, err = invoke(
        capsys, "plan", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--ledger", url,
        "--out", str(clean_env / "plan"),
    )  # fmt: skip
    assert code == ExitCode.REJECTS, err
    actions = (clean_env / "plan" / "plan.csv").read_text(encoding="utf-8-sig")
    assert actions.count(",unchanged,") == 47 and ",create," not in actions
    code, out, err = invoke(capsys, "ledger", "show")
    assert code == 0 and out.startswith("47 leads: 47 sent"), err
    code, out, _ = invoke(capsys, "ledger", "export", "--run", first["run_id"], "--format", "json")
    assert code == 0 and len(json.loads(out)) == 47
    code, out, err = invoke(capsys, "ledger", "backup", str(clean_env / "copy.sqlite"))
    assert code == ExitCode.USAGE and "back it up with pg_dump" in err
    written = b"".join(p.read_bytes() for p in clean_env.rglob("*") if p.is_file())
    assert "s3cret" not in out + err and b"s3cret" not in written


def test_doctor_and_jobs_check_connect_without_showing_the_password(
    clean_env: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = with_password(postgres_url)
    masked = url.replace("s3cret", "***")
    _, out, err = invoke(capsys, "doctor", "--ledger", url, "--base-url", "http://127.0.0.1:9")
    assert f"ok       ledger: {masked} reachable, shared by runs" in out.splitlines()
    assert "disk (ledger)" not in out
    wrong = url.replace(postgres_url.split("/")[3].split("?")[0], "no_such_db")
    code, out, err = invoke(capsys, "doctor", "--ledger", wrong, "--base-url", "http://127.0.0.1:9")
    assert code == ExitCode.USAGE
    line = next(x for x in out.splitlines() if "ledger:" in x)
    assert line.startswith("problem  ledger: cannot connect to the ledger database")
    assert "s3cret" not in out + err


def test_a_jobs_ledger_url_is_not_taken_for_a_path(
    clean_env: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    (clean_env / "rg-import.toml").write_text(
        f'[jobs.people]\ninput = "{PEOPLE}"\nmapping = "followupboss"\nsite = "{SITE}"\n'
        f'ledger = "{postgres_url}"\n',
        encoding="utf-8",
    )
    code, out, err = invoke(capsys, "jobs", "check")
    assert code == 0, out + err
