"""GET /sites/{site}/users on the sandbox over loopback HTTP: defaults, seeding, auth and sites."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from importer.api_contract import SITE_USER_FIELDS
from importer.errors import ConfigError
from importer.sandbox.config import SandboxConfig
from importer.sandbox.runner import Sandbox, start_sandbox
from importer.sandbox.users import DEFAULT_USERS
from tests.conftest import ROOT, SITE
from tests.sandbox.test_sandbox_ops import _first_line

OTHER_SITE = "11111111-2222-4333-8444-555555555555"
AUTH = ("sandbox", "sandbox")


def users_of(sandbox: Sandbox, site: str = SITE, auth: tuple[str, str] = AUTH) -> requests.Response:
    return requests.get(f"{sandbox.url}/sites/{site}/users", auth=auth, timeout=10)


@pytest.fixture
def seeded(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    server = start_sandbox(port=0, **request.param)
    try:
        yield server
    finally:
        server.stop()


def test_default_users_are_listed_with_every_documented_field(sandbox: Sandbox) -> None:
    answer = users_of(sandbox)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    users = answer.json()
    assert [u["id"] for u in users] == [u["id"] for u in DEFAULT_USERS]
    assert all(list(u) == list(SITE_USER_FIELDS) for u in users)
    assert all(isinstance(u["id"], str) and isinstance(u["admin"], bool) for u in users)
    names = [u["name"] for u in users]
    assert any(names.count(n) == 2 for n in names), "two users share a name"
    assert {u["role"] for u in users} == {"Agent", "Lender"}
    # the embedded sandbox of `run --sandbox` has its own site: the defaults are on every site
    assert users_of(sandbox, "7e57c0de-5a4d-4b0c-8000-000000000001").json() == users


def test_wrong_credentials_get_401_in_the_api_error_shape(sandbox: Sandbox) -> None:
    answer = users_of(sandbox, auth=("sandbox", "wrong"))
    assert answer.status_code == 401 and "credentials" in answer.json()["error"]


def test_a_site_that_is_not_a_uuid_is_404(sandbox: Sandbox) -> None:
    answer = users_of(sandbox, "not-a-site")
    assert answer.status_code == 404 and "not a UUID" in answer.json()["error"]


@pytest.mark.parametrize(
    "seeded",
    [
        {
            "sites": (SITE,),
            "users": [
                {"id": "7", "name": "Pat Lee", "email": "pat@example.com", "role": "Agent", "admin": False},
                {"id": "8", "name": "Sam Roe", "email": "", "role": "lender", "admin": "yes", "site": OTHER_SITE},
            ],
        }
    ],
    indirect=True,
)  # fmt: skip
def test_sites_known_unknown_and_forbidden_are_told_apart(seeded: Sandbox) -> None:
    own = users_of(seeded)
    assert own.status_code == 200 and [u["id"] for u in own.json()] == ["7"]
    # users given for OTHER_SITE by name: it exists, but not for these credentials
    forbidden = users_of(seeded, OTHER_SITE)
    assert forbidden.status_code == 403 and OTHER_SITE in forbidden.json()["error"]
    unknown = users_of(seeded, "99999999-2222-4333-8444-555555555555")
    assert unknown.status_code == 404 and "not found" in unknown.json()["error"]
    # writes to a site outside --site keep their 401
    assert (
        requests.post(
            f"{seeded.url}/sites/{OTHER_SITE}/leads", json={}, auth=AUTH, timeout=10
        ).status_code
        == 401
    )


def test_users_come_from_a_csv_file_with_a_site_column(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_text(
        "id,name,email,role,admin,site\n"
        "501,Ana Díaz,ana@example.com,Agent,true,\n"
        f"502,Bo Chen,,Lender,false,{OTHER_SITE}\n",
        encoding="utf-8",
    )
    with start_sandbox(port=0, users=str(path)) as server:
        everywhere = users_of(server).json()
        assert [(u["id"], u["name"], u["admin"]) for u in everywhere] == [("501", "Ana Díaz", True)]
        there = users_of(server, OTHER_SITE).json()
        assert [u["id"] for u in there] == ["502", "501"] and there[0]["email"] == ""


def test_users_come_from_a_json_list_and_can_be_replaced_while_running(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(
        json.dumps(
            [{"id": 9, "name": "Al", "email": "al@example.com", "role": "Agent", "admin": False}]
        )
    )
    with start_sandbox(port=0, users=path) as server:
        assert [u["id"] for u in users_of(server).json()] == ["9"]
        server.seed_users(
            [{"id": "10", "name": "Bea", "email": None, "role": "Lender", "admin": True}]
        )
        assert [(u["id"], u["email"]) for u in users_of(server).json()] == [("10", "")]
        server.seed_users([])
        assert users_of(server).json() == []


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("id,name,email,role\n1,A,a@example.com,Agent\n", "missing column(s) admin"),
        ("id,name,email,role,admin\n1,A,a@example.com,Boss,false\n", "'Boss'"),
        ("id,name,email,role,admin\n1,A,a@example.com,Agent,maybe\n", "'maybe'"),
        ("id,name,email,role,admin\n,A,a@example.com,Agent,false\n", "no id"),
        ("id,name,email,role,admin\n1,A,,Agent,false\n1,B,,Agent,false\n", "repeats id '1'"),
        ("id,name,email,role,admin,site\n1,A,,Agent,false,nowhere\n", "'nowhere'"),
        ("id,name,email,role,admin,team\n1,A,,Agent,false,x\n", "unknown field(s) team"),
    ],
)
def test_a_bad_users_file_is_named_in_one_line(tmp_path: Path, text: str, named: str) -> None:
    path = tmp_path / "users.csv"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        SandboxConfig(users=str(path))
    assert named in str(caught.value) and str(path) in str(caught.value)


def test_a_missing_or_non_list_users_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        SandboxConfig(users=str(tmp_path / "none.csv"))
    (tmp_path / "u.json").write_text('{"id": "1"}')
    with pytest.raises(ConfigError, match="JSON list"):
        SandboxConfig(users=str(tmp_path / "u.json"))


def test_cli_sandbox_serves_the_users_of_its_file(tmp_path: Path) -> None:
    path = tmp_path / "team.csv"
    path.write_text("id,name,email,role,admin\n77,Kim Park,kim@example.com,Agent,false\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--users", str(path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = _first_line(process).split(" on ", 1)[1].strip()
        answer: Any = requests.get(f"{url}/sites/{SITE}/users", auth=AUTH, timeout=10).json()
        assert [(u["id"], u["name"]) for u in answer] == [("77", "Kim Park")]
    finally:
        process.terminate()
        process.wait(timeout=60)
