"""``rg-import users`` against the sandbox over loopback HTTP (issue 14 item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.sandbox.runner import Sandbox
from tests.cli.test_cli import clean_env, invoke  # noqa: F401 (a fixture)
from tests.cli.test_doctor import UNKNOWN_SITE, closed_port
from tests.conftest import SITE

TEAM = [
    {"id": "501", "name": "Ana Díaz", "email": "ana@example.com", "role": "Agent", "admin": True},
    {"id": "502", "name": "Bo Chen", "email": "", "role": "Lender", "admin": False},
    {
        "id": "503",
        "name": "Bo Chen",
        "email": "bo.chen@example.com",
        "role": "Agent",
        "admin": False,
    },
]


@pytest.fixture
def users_env(
    clean_env: Path,  # noqa: F811 (the fixture)
    monkeypatch: pytest.MonkeyPatch,
    sandbox: Sandbox,
) -> Sandbox:
    sandbox.seed_users(TEAM)
    monkeypatch.setenv("RG_USERNAME", "sandbox")
    monkeypatch.setenv("RG_PASSWORD", "sandbox")
    monkeypatch.setenv("RG_BASE_URL", sandbox.url)
    return sandbox


def test_users_prints_an_aligned_table(
    capsys: pytest.CaptureFixture[str], users_env: Sandbox
) -> None:
    code, out, err = invoke(capsys, "users", "--site", SITE)
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "id   name      email                role    admin",
        "501  Ana Díaz  ana@example.com      Agent   yes",
        "502  Bo Chen                        Lender  no",
        "503  Bo Chen   bo.chen@example.com  Agent   no",
    ]


def test_users_json_is_a_list_of_the_five_fields(
    capsys: pytest.CaptureFixture[str], users_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RG_SITE", SITE)  # the site from the environment, as for run
    code, out, _ = invoke(capsys, "users", "--json")
    assert code == 0
    assert json.loads(out) == [{**u, "email": u["email"] or None} for u in TEAM]


def test_refused_credentials_exit_4_in_one_line(
    capsys: pytest.CaptureFixture[str], users_env: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RG_PASSWORD", "Pw-not-this-one-42")
    code, out, err = invoke(capsys, "users", "--site", SITE)
    assert (code, out) == (4, "")
    [line] = err.splitlines()
    assert line.startswith("Error: HTTP 401") and "RG_PASSWORD" in line
    assert "Pw-not-this-one-42" not in line


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--site", "not-a-site"], ["not a UUID"]),
        ([], ["--site is required"]),
    ],
)
def test_bad_input_exits_2_in_one_line(
    capsys: pytest.CaptureFixture[str], users_env: Sandbox, args: list[str], words: list[str]
) -> None:
    code, out, err = invoke(capsys, "users", *args)
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert all(word in line for word in words), line


def test_an_unknown_site_exits_2(capsys: pytest.CaptureFixture[str], clean_env: Path) -> None:  # noqa: F811
    from importer.sandbox.runner import start_sandbox

    with start_sandbox(port=0, sites=(SITE,)) as server:
        code, out, err = invoke(
            capsys, "users", "--site", UNKNOWN_SITE, "--base-url", server.url
        )  # no credentials in the environment: stops before asking
        assert code == 2 and "RG_USERNAME and RG_PASSWORD not set" in err
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("RG_USERNAME", "sandbox")
            patch.setenv("RG_PASSWORD", "sandbox")
            code, out, err = invoke(
                capsys, "users", "--site", UNKNOWN_SITE, "--base-url", server.url
            )
    assert (code, out) == (2, "")
    assert err.startswith(f"Error: site {UNKNOWN_SITE} not found (HTTP 404")


def test_an_unreachable_api_exits_4(capsys: pytest.CaptureFixture[str], users_env: Sandbox) -> None:
    url = f"http://127.0.0.1:{closed_port()}/rest"
    code, out, err = invoke(
        capsys, "users", "--site", SITE, "--base-url", url, "--max-attempts", "1"
    )
    assert (code, out) == (4, "")
    assert "could not list the users" in err and "could not connect" in err


def test_users_sandbox_needs_no_credentials(
    capsys: pytest.CaptureFixture[str],
    clean_env: Path,  # noqa: F811
) -> None:
    code, out, err = invoke(capsys, "users", "--sandbox", "--json")
    assert code == 0, err
    users = json.loads(out)
    names = [u["name"] for u in users]
    assert {u["role"] for u in users} == {"Agent", "Lender"}
    assert len(names) == len(set(names)) + 1  # two users share a name
