"""``rg-import doctor`` against a sandbox over real loopback HTTP (issue 14 item 7).

All ok, then each problem alone: a wrong password, a wrong site, an unreachable
URL, a held ledger, a TLS handshake that fails, a site the credentials may not
use, no credentials, a mapping that does not fit. Each is named on its own line
with the documented exit code, and nothing is ever written.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from importer.ledger.ledger import Ledger
from importer.sandbox.runner import Sandbox, start_sandbox
from tests.cli.test_cli import PEOPLE, clean_env, invoke  # noqa: F401 (a fixture)
from tests.conftest import SITE

OTHER_SITE = "11111111-2222-4333-8444-555555555555"  # has users, but not for these credentials
UNKNOWN_SITE = "99999999-2222-4333-8444-555555555555"
SECRET = "Pw-doctor-7f3e!distinctive"


@pytest.fixture
def site_sandbox() -> Iterator[Sandbox]:
    """A sandbox whose credentials know SITE only; OTHER_SITE exists with a user of its own."""
    server = start_sandbox(
        port=0,
        password=SECRET,
        sites=(SITE,),
        users=[
            {"id": "1", "name": "Ana Díaz", "email": "ana@example.com", "role": "Agent", "admin": True},
            {"id": "2", "name": "Bo Chen", "email": "", "role": "Lender", "admin": False, "site": OTHER_SITE},
        ],
    )  # fmt: skip
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def doctor_env(
    clean_env: Path,  # noqa: F811 (the fixture)
    monkeypatch: pytest.MonkeyPatch,
    site_sandbox: Sandbox,
) -> Path:
    monkeypatch.setenv("RG_USERNAME", "sandbox")
    monkeypatch.setenv("RG_PASSWORD", SECRET)
    monkeypatch.setenv("RG_BASE_URL", site_sandbox.url)
    monkeypatch.setenv("RG_SITE", SITE)
    return clean_env


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def doctor(capsys: pytest.CaptureFixture[str], folder: Path, *args: str) -> tuple[int, list[str]]:
    """Run the doctor in ``folder``; check it wrote nothing and never showed the password."""
    before = files_under(folder)
    code, out, err = invoke(capsys, "doctor", "--ledger", str(folder / "ledger.sqlite"), *args)
    assert files_under(folder) == before, "the doctor wrote something"
    assert SECRET not in out + err and err == "" and "Traceback" not in out
    return code, out.splitlines()


def problems(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("problem")]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_all_ok_then_each_problem_on_its_own_line_with_its_exit_code(
    capsys: pytest.CaptureFixture[str], doctor_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, lines = doctor(capsys, doctor_env)
    assert code == 0, lines
    assert all(line.startswith("ok ") for line in lines), lines
    names = [line.split(":", 1)[0].split(None, 1)[1] for line in lines]
    assert names == [
        "credentials", "base URL", "connection", "TLS", "site", "ledger",
        "disk (ledger)", "disk (outputs)",
    ]  # fmt: skip
    assert "1 user(s)" in lines[4]

    monkeypatch.setenv("RG_PASSWORD", "wrong")
    code, lines = doctor(capsys, doctor_env)
    [problem] = problems(lines)
    assert code == 4 and problem.startswith("problem  credentials: refused by the API (HTTP 401")

    monkeypatch.setenv("RG_PASSWORD", SECRET)
    code, lines = doctor(capsys, doctor_env, "--site", UNKNOWN_SITE)
    [problem] = problems(lines)
    assert code == 2 and problem.startswith(f"problem  site: {UNKNOWN_SITE} not found (HTTP 404")

    url = f"http://127.0.0.1:{closed_port()}/rest"
    code, lines = doctor(capsys, doctor_env, "--base-url", url)
    [problem] = problems(lines)
    assert code == 2 and problem.startswith("problem  connection: cannot reach 127.0.0.1:")
    assert any(line.startswith("skipped  site:") for line in lines)

    ledger = doctor_env / "ledger.sqlite"
    with Ledger(ledger, run_id="the-nightly-run"):
        code, lines = doctor(capsys, doctor_env)
    [problem] = problems(lines)
    assert code == 2 and problem.startswith(f"problem  ledger: ledger {ledger} is in use by a run")
    assert "run the-nightly-run" in problem
    # the ledger the run left behind is fine again
    assert doctor(capsys, doctor_env)[0] == 0


def test_a_tls_handshake_failure_is_named_as_such(
    capsys: pytest.CaptureFixture[str], doctor_env: Path, site_sandbox: Sandbox
) -> None:
    # https to a server that speaks plain http: the handshake itself fails
    url = site_sandbox.url.replace("http://", "https://")
    code, lines = doctor(capsys, doctor_env, "--base-url", url)
    [problem] = problems(lines)
    assert code == 2 and problem.startswith("problem  TLS: TLS handshake with 127.0.0.1 failed")


def test_a_site_the_credentials_may_not_use_is_told_from_an_unknown_one(
    capsys: pytest.CaptureFixture[str], doctor_env: Path
) -> None:
    code, lines = doctor(capsys, doctor_env, "--site", OTHER_SITE)
    [problem] = problems(lines)
    assert code == 4 and "may not use this site (HTTP 403" in problem


def test_missing_credentials_and_site_are_problems_and_nothing_is_tried(
    capsys: pytest.CaptureFixture[str], doctor_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RG_PASSWORD")
    code, lines = doctor(capsys, doctor_env)
    assert code == 2
    assert problems(lines) == [
        "problem  credentials: RG_PASSWORD not set: export them or put them in a .env file "
        "(use --sandbox to try the tool without credentials)"
    ]
    assert any(line.startswith("skipped  site:") and "no credentials" in line for line in lines)
    monkeypatch.setenv("RG_PASSWORD", SECRET)
    monkeypatch.delenv("RG_SITE")
    code, lines = doctor(capsys, doctor_env)
    [problem] = problems(lines)
    assert code == 2 and problem.startswith("problem  site: no site: pass --site")


def test_plain_http_to_a_remote_host_is_refused_before_connecting(
    capsys: pytest.CaptureFixture[str], doctor_env: Path
) -> None:
    code, lines = doctor(capsys, doctor_env, "--base-url", "http://receivers.example.com/rest")
    [problem] = problems(lines)
    assert code == 2 and problem.startswith("problem  base URL:") and "https://" in problem


def test_the_mapping_is_checked_against_the_input(
    capsys: pytest.CaptureFixture[str], doctor_env: Path
) -> None:
    code, lines = doctor(capsys, doctor_env, "-m", "followupboss", "--input", str(PEOPLE))
    assert code == 0 and lines[-1] == f"ok       mapping: followupboss loads and fits {PEOPLE}"
    code, lines = doctor(capsys, doctor_env, "--input", str(PEOPLE))
    assert code == 0 and "detected mapping followupboss" in lines[-1]
    other = doctor_env / "inventory.csv"
    other.write_text("Colour,Size\nred,L\n")
    code, lines = doctor(capsys, doctor_env, "-m", "followupboss", "--input", str(other))
    [problem] = problems(lines)
    assert (
        code == 2 and problem.startswith("problem  mapping: mapping") and "does not fit" in problem
    )
    code, lines = doctor(capsys, doctor_env, "-m", "no-such-mapping")
    [problem] = problems(lines)
    assert code == 2 and "no-such-mapping" in problem
