"""Client.list_users against the sandbox over loopback HTTP (and one scripted loopback answer)."""

from __future__ import annotations

import pytest

from importer.config import Credentials
from importer.errors import AuthError, NotFoundError, ServerError, UnexpectedAnswerError
from importer.sandbox.runner import Sandbox
from importer.send.client import Client
from importer.send.client_settings import ClientSettings
from importer.send.users import User
from tests.conftest import SITE
from tests.send.test_client import RecordingSleep, client_for, json_answer, sandbox_with, scripted

TEAM = [
    {"id": "31", "name": "Jane Doe", "email": "JANE@example.com", "role": "Agent", "admin": True},
    {"id": "32", "name": "Lou Banks", "email": "", "role": "Lender", "admin": False},
]


def test_list_users_returns_the_sites_users_as_user_values(sandbox: Sandbox) -> None:
    sandbox.seed_users(TEAM)
    with client_for(sandbox.url) as client:
        users = client.list_users(SITE)
    assert users == [
        User(id="31", name="Jane Doe", email="JANE@example.com", role="Agent", admin=True),
        User(id="32", name="Lou Banks", email=None, role="Lender", admin=False),
    ]
    [request] = sandbox.requests_log()
    assert (request["method"], request["path"]) == ("GET", f"/rest/sites/{SITE}/users")


def test_list_users_is_asked_once_per_site_for_the_clients_life(sandbox: Sandbox) -> None:
    with client_for(sandbox.url) as client:
        first = client.list_users(SITE)
        first.clear()  # the caller's copy: the cache is not touched
        again = client.list_users(SITE.upper())
        assert len(again) == 4
    assert sandbox.stats()["requests"] == {"list_users": {"200": 1}}
    with client_for(sandbox.url) as fresh:  # a new client (a new run) asks again
        fresh.list_users(SITE)
    assert sandbox.stats()["requests"] == {"list_users": {"200": 2}}


def test_list_users_retries_a_server_error_like_every_call() -> None:
    sleep = RecordingSleep()
    # seed 4: the first request draws a 500, the second is answered
    with sandbox_with(fault_rate=0.5, faults=("500",), seed=4) as faulty:
        with client_for(faulty.url, sleep) as client:
            users = client.list_users(SITE)
        assert len(users) == 4
        assert faulty.stats()["requests"] == {"list_users": {"500": 1, "200": 1}}
    assert len(sleep.delays) == 1


def test_list_users_gives_up_after_max_attempts() -> None:
    with (
        sandbox_with(fault_rate=1.0, faults=("500",)) as faulty,
        client_for(faulty.url, max_attempts=3) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.list_users(SITE)
    assert caught.value.attempts == 3


def test_refused_credentials_are_an_auth_error_not_retried(sandbox: Sandbox) -> None:
    client = Client(
        Credentials("sandbox", "wrong"),
        ClientSettings(base_url=sandbox.url),
        sleep=RecordingSleep(),
    )
    with client, pytest.raises(AuthError) as caught:
        client.list_users(SITE)
    assert (caught.value.status, caught.value.attempts) == (401, 1)


def test_an_unknown_site_is_not_found_at_once() -> None:
    with sandbox_with(sites=(SITE,)) as server, client_for(server.url) as client:
        with pytest.raises(NotFoundError) as caught:
            client.list_users("99999999-2222-4333-8444-555555555555")
        assert caught.value.attempts == 1 and len(server.requests_log()) == 1


@pytest.mark.parametrize(
    ("answer", "named"), [({"users": []}, "not a list"), ([{"name": "no id"}], "with an id")]
)
def test_an_answer_that_is_not_a_list_of_users_is_unexpected(answer: object, named: str) -> None:
    with (
        scripted(json_answer(200, answer)) as server,
        client_for(server.url) as client,
        pytest.raises(UnexpectedAnswerError, match=named),
    ):
        client.list_users(SITE)
