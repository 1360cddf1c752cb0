"""The API client against the real sandbox over loopback HTTP (no mocked transport).

A tiny scripted ``http.server`` stands in only where the sandbox cannot produce
the answer (403, 502 with HTML, an HTTP-date Retry-After, a redirect) or where
the test needs the raw request headers and bytes. Sleeping is always faked.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import socket
import threading
import traceback
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importer import __version__
from importer.api_contract import DEFAULT_BASE_URL, V2_PATH_TEMPLATES
from importer.config import Credentials
from importer.errors import (
    ApiError,
    AuthError,
    BadRequestError,
    ClientError,
    ConfigError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from importer.sandbox.runner import Sandbox, start_sandbox
from importer.send.client import Client, Response, RetryEvent
from importer.send.client_settings import ClientSettings
from importer.send.http_errors import parse_retry_after, readable_error
from importer.send.throttle import RateLimiter
from tests.conftest import SITE

SANDBOX = Credentials("sandbox", "sandbox")
SECRET = "Pw-7f3e!distinctive-Zq9"


class RecordingSleep:
    """Stands in for time.sleep: remembers every delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)


class MaxRandom(random.Random):
    """An RNG whose uniform(a, b) is always b: exposes the backoff ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


def new_lead(n: int = 0, **extra: Any) -> dict[str, Any]:
    lead = {"id": str(uuid.uuid4()), "source": "rg-import tests", "email": f"lead{n}@example.com"}
    lead.update(extra)
    return lead


def note(text: str) -> dict[str, Any]:
    return {"type": "note", "source": "rg-import tests", "description": text}


@contextmanager
def sandbox_with(**options: Any) -> Iterator[Sandbox]:
    server = start_sandbox(port=0, **options)
    try:
        yield server
    finally:
        server.stop()


def client_for(url: str, sleep: RecordingSleep | None = None, **settings: Any) -> Client:
    return Client(
        SANDBOX, ClientSettings(base_url=url, **settings), sleep=sleep or RecordingSleep()
    )


# -- a scripted loopback server ------------------------------------------------------

Answer = tuple[int, dict[str, str], bytes]


class ScriptedServer:
    """Answers requests from a script (the last answer repeats); records each request."""

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers
        self.requests: list[dict[str, Any]] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body are two writes: without this, Nagle + delayed ACK cost 40 ms each.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    script.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                        }
                    )
                    index = min(len(script.requests), len(script.answers)) - 1
                status, headers, payload = script.answers[index]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_PATCH = do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/rest"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def scripted(*answers: Answer) -> Iterator[ScriptedServer]:
    server = ScriptedServer(list(answers))
    try:
        yield server
    finally:
        server.stop()


def json_answer(status: int, payload: Any, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(payload).encode()


CREATED: Answer = json_answer(201, {})


# -- settings ------------------------------------------------------------------------


def test_default_settings_point_at_the_real_service_over_https() -> None:
    settings = ClientSettings()
    assert (
        settings.base_url == DEFAULT_BASE_URL == "https://receivers.leadrouter.realgeeks.com/rest"
    )
    assert settings.server_root == "https://receivers.leadrouter.realgeeks.com"
    assert (settings.connect_timeout, settings.read_timeout, settings.max_attempts) == (
        5.0,
        30.0,
        6,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://receivers.leadrouter.realgeeks.com/rest",
        "http://10.0.0.5:8765/rest",
        "ftp://127.0.0.1/rest",
        "https://user:pw@receivers.leadrouter.realgeeks.com/rest",
        "https://receivers.leadrouter.realgeeks.com/rest?x=1",
    ],
)
def test_unsafe_or_odd_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        ClientSettings(base_url=url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765/rest/", "http://localhost/rest", "http://[::1]:9/rest"]
)
def test_plain_http_is_allowed_to_loopback_only(url: str) -> None:
    assert ClientSettings(base_url=url).base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "field, value",
    [
        ("update_api", "v3"),
        ("v2_path_template", "/v2/leads/{lead}"),
        ("max_attempts", 0),
        ("read_timeout", 0),
        ("pool_size", 0),
        ("not_found_delay", -1),
    ],
)
def test_bad_settings_are_refused(field: str, value: object) -> None:
    with pytest.raises(ConfigError):
        ClientSettings(**{field: value})  # type: ignore[arg-type]


# -- paths, verbs, bodies, headers ----------------------------------------------------


def test_create_lead_posts_the_lead_and_the_sandbox_stores_it(sandbox: Sandbox) -> None:
    lead = new_lead(first_name="José", activities=[note("Imported")])
    with client_for(sandbox.url) as client:
        response = client.create_lead(SITE, lead)
    assert response.status == 201
    assert (response.attempts, response.unknown_outcomes) == (1, 0)
    [entry] = sandbox.requests_log()
    assert (entry["method"], entry["path"], entry["body"]) == (
        "POST",
        f"/rest/sites/{SITE}/leads",
        lead,
    )
    [stored] = sandbox.leads(SITE)
    assert stored["id"] == lead["id"] and stored["first_name"] == "José"
    assert stored["activities"] == [note("Imported")]


def test_update_lead_v1_patches_the_lead(sandbox: Sandbox) -> None:
    lead = new_lead(first_name="Ann")
    with client_for(sandbox.url) as client:
        client.create_lead(SITE, lead)
        response = client.update_lead(SITE, lead["id"], {"first_name": "Anne", "city": "Hilo"})
    assert response.status == 200
    entry = sandbox.requests_log()[-1]
    assert (entry["method"], entry["path"]) == ("PATCH", f"/rest/sites/{SITE}/leads/{lead['id']}")
    assert entry["body"] == {"first_name": "Anne", "city": "Hilo"}
    [stored] = sandbox.leads(SITE)
    assert (stored["first_name"], stored["city"]) == ("Anne", "Hilo")


@pytest.mark.parametrize("template", V2_PATH_TEMPLATES)
def test_update_lead_v2_uses_the_template_from_the_server_root(
    sandbox: Sandbox, template: str
) -> None:
    lead = new_lead(first_name="Ann", city="Hilo")
    with client_for(sandbox.url, update_api="v2", v2_path_template=template) as client:
        client.create_lead(SITE, lead)
        assert client.update_lead(SITE, lead["id"], {"city": ""}).status == 200
    entry = sandbox.requests_log()[-1]
    assert entry["method"] == "PATCH"
    assert entry["path"] == template.format(site=SITE, lead=lead["id"])
    [stored] = sandbox.leads(SITE)
    assert "city" not in stored and stored["first_name"] == "Ann"  # v2 unsets fields sent as ""


def test_add_activities_posts_a_json_list(sandbox: Sandbox) -> None:
    lead = new_lead()
    activities = [note("Called"), note("Left a voicemail")]
    with client_for(sandbox.url) as client:
        client.create_lead(SITE, lead)
        response = client.add_activities(SITE, lead["id"], activities)
    assert response.status == 200
    entry = sandbox.requests_log()[-1]
    assert (entry["method"], entry["path"]) == (
        "POST",
        f"/rest/sites/{SITE}/leads/{lead['id']}/activities",
    )
    assert entry["body"] == activities
    assert sandbox.leads(SITE)[0]["activities"] == activities


def test_create_potential_seller_lead(sandbox: Sandbox) -> None:
    seller = {
        "id": str(uuid.uuid4()),
        "activities": [
            {
                "type": "property_viewed",
                "source": "t",
                "description": "Viewed",
                "property": {"full_baths": 2},
            }
        ],
    }
    with client_for(sandbox.url) as client:
        assert client.create_potential_seller_lead(SITE, seller).status == 201
    [entry] = sandbox.requests_log()
    assert (entry["method"], entry["path"]) == (
        "POST",
        f"/rest/sites/{SITE}/potential-seller-leads",
    )
    assert sandbox.leads(SITE)[0]["role"] == "Potential Seller"


def test_wire_format_headers_auth_and_utf8_body() -> None:
    lead = {"source": "tests", "first_name": "Zoë", "last_name": "Ñandú"}
    with scripted(CREATED) as server, client_for(server.url) as client:
        client.create_lead(SITE, lead)
    [request] = server.requests
    headers = request["headers"]
    assert headers["User-Agent"] == f"rg-import/{__version__}"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["Accept"] == "application/json"
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"sandbox:sandbox").decode()
    # Raw UTF-8, not \u escapes.
    assert request["body"] == json.dumps(lead, ensure_ascii=False).encode("utf-8")
    assert "Zoë".encode() in request["body"]


def test_requests_to_one_url_each_carry_their_own_body_and_cookies_come_back() -> None:
    """The prepared request kept per URL shares no body; a cookie the API sets is sent back."""
    with_cookie = (201, {"Content-Type": "application/json", "Set-Cookie": "lb=node-2; Path=/"},
                   b'{"id": "x"}')  # fmt: skip
    leads = [{"source": "t", "first_name": "A"}, {"source": "t", "first_name": "Bernadette"}]
    with scripted(with_cookie, CREATED) as server, client_for(server.url) as client:
        for lead in [*leads, {"source": "t"}]:
            client.create_lead(SITE, lead)
        client.update_lead(SITE, "lead-1", {})
    first, second, third, patch = server.requests
    assert [json.loads(r["body"]) for r in (first, second, third)] == [*leads, {"source": "t"}]
    for request in server.requests:
        assert request["headers"]["Content-Length"] == str(len(request["body"]))
    assert patch["method"] == "PATCH" and patch["body"] == b"{}"
    assert "Cookie" not in first["headers"]
    assert second["headers"]["Cookie"] == third["headers"]["Cookie"] == "lb=node-2"


def test_odd_ids_cannot_change_the_path() -> None:
    with scripted(json_answer(200, {})) as server, client_for(server.url) as client:
        client.update_lead(SITE, "../../other/leads/x", {"city": "Hilo"})
    assert server.requests[0]["path"] == f"/rest/sites/{SITE}/leads/..%2F..%2Fother%2Fleads%2Fx"


def test_empty_ids_and_nan_payloads_are_refused_before_sending() -> None:
    with scripted(CREATED) as server, client_for(server.url) as client:
        with pytest.raises(ValueError, match="non-empty"):
            client.update_lead(SITE, " ", {"city": "x"})
        with pytest.raises(ValueError, match="NaN"):
            client.create_lead(SITE, {"source": "t", "zip": float("nan")})
    assert server.requests == []


# -- errors that are never retried ------------------------------------------------------


def test_wrong_password_is_an_auth_error_sent_once(sandbox: Sandbox) -> None:
    client = Client(
        Credentials("sandbox", "wrong"),
        ClientSettings(base_url=sandbox.url),
        sleep=RecordingSleep(),
    )
    with client, pytest.raises(AuthError) as caught:
        client.create_lead(SITE, new_lead())
    error = caught.value
    assert (error.status, error.attempts, error.maybe_applied) == (401, 1, False)
    assert error.error.startswith("unauthorized")
    assert (error.method, error.url) == ("POST", f"{sandbox.url}/sites/{SITE}/leads")
    assert len(sandbox.requests_log()) == 1


def test_validation_error_carries_the_servers_message(sandbox: Sandbox) -> None:
    with client_for(sandbox.url) as client, pytest.raises(ValidationError) as caught:
        client.create_lead(SITE, {"id": str(uuid.uuid4()), "email": "a@example.com"})
    assert caught.value.status == 422
    assert caught.value.error == "Field 'source' is required and must not be empty."
    assert str(caught.value) == "HTTP 422: Field 'source' is required and must not be empty."
    [entry] = sandbox.requests_log()
    assert entry["status"] == "422"
    assert sandbox.leads(SITE) == []


def test_bad_request_is_not_retried(sandbox: Sandbox) -> None:
    lead = new_lead()
    with client_for(sandbox.url) as client:
        client.create_lead(SITE, lead)
        with pytest.raises(BadRequestError) as caught:
            client.add_activities(SITE, lead["id"], {"not": "a list"})  # type: ignore[arg-type]
    assert caught.value.status == 400
    assert "JSON list" in caught.value.error
    assert [e["status"] for e in sandbox.requests_log()] == ["201", "400"]


@pytest.mark.parametrize(
    "status, error_class",
    [
        (400, BadRequestError),
        (401, AuthError),
        (403, AuthError),
        (422, ValidationError),
        (409, ClientError),
    ],
)
def test_client_errors_are_sent_exactly_once(status: int, error_class: type[ApiError]) -> None:
    sleep = RecordingSleep()
    with (
        scripted(json_answer(status, {"error": f"nope {status}\n"})) as server,
        client_for(server.url, sleep) as client,
        pytest.raises(error_class) as caught,
    ):
        client.create_lead(SITE, new_lead())
    assert type(caught.value) is error_class
    assert (caught.value.status, caught.value.error, caught.value.attempts) == (
        status,
        f"nope {status}",
        1,
    )
    assert len(server.requests) == 1
    assert sleep.delays == []


def test_unknown_site_404_on_create_is_not_retried(sandbox: Sandbox) -> None:
    sleep = RecordingSleep()
    with client_for(sandbox.url, sleep) as client, pytest.raises(NotFoundError) as caught:
        client.create_lead("not-a-site-uuid", new_lead())
    assert (caught.value.status, caught.value.attempts) == (404, 1)
    assert "Site not found" in caught.value.error
    assert len(sandbox.requests_log()) == 1 and sleep.delays == []


def test_404_on_update_and_activities_gets_a_few_slow_retries(sandbox: Sandbox) -> None:
    sleep = RecordingSleep()
    missing = str(uuid.uuid4())
    with client_for(sandbox.url, sleep, not_found_attempts=3, not_found_delay=2.5) as client:
        with pytest.raises(NotFoundError) as on_update:
            client.update_lead(SITE, missing, {"city": "Hilo"})
        with pytest.raises(NotFoundError) as on_activities:
            client.add_activities(SITE, missing, [note("x")])
    assert on_update.value.attempts == on_activities.value.attempts == 3
    assert sleep.delays == [2.5, 2.5, 2.5, 2.5]
    assert [e["route"] for e in sandbox.requests_log()] == ["update_lead"] * 3 + [
        "add_activities"
    ] * 3


def test_a_lead_that_appears_while_retrying_404_is_updated() -> None:
    sleep = RecordingSleep()
    answers = (
        json_answer(404, {"error": "Lead not found"}),
        json_answer(404, {"error": "x"}),
        json_answer(200, {}),
    )
    with scripted(*answers) as server, client_for(server.url, sleep, not_found_delay=1.0) as client:
        response = client.update_lead(SITE, str(uuid.uuid4()), {"city": "Hilo"})
    assert (response.status, response.attempts, response.unknown_outcomes) == (200, 3, 0)
    assert sleep.delays == [1.0, 1.0]


def test_redirects_are_not_followed() -> None:
    moved = (301, {"Location": "https://elsewhere.example/rest/sites/x/leads"}, b"")
    with (
        scripted(moved) as server,
        client_for(server.url) as client,
        pytest.raises(ApiError) as caught,
    ):
        client.create_lead(SITE, new_lead())
    assert caught.value.status == 301 and "elsewhere.example" in caught.value.error
    assert len(server.requests) == 1


# -- readable error text ---------------------------------------------------------------


def test_html_503_from_a_proxy_reads_well(sandbox: Sandbox) -> None:
    with (
        sandbox_with(fault_rate=1.0, faults=("503-html",)) as faulty,
        client_for(faulty.url, max_attempts=2) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.create_lead(SITE, new_lead())
    assert caught.value.error == (
        '503 Service Unavailable (HTML error page from a proxy: "Sorry... the service is '
        'temporarily unavailable. Please try again.")'
    )
    assert (caught.value.attempts, caught.value.maybe_applied) == (2, True)


def test_html_502_is_retried_and_its_message_is_cut_short() -> None:
    page = (
        "<html><head><title>502</title><style>p{}</style></head><body><h1>Bad&nbsp;Gateway</h1>"
        + "<p>upstream " * 60
        + "</p><script>var x = 1;</script></body></html>"
    ).encode()
    bad_gateway: Answer = (502, {"Content-Type": "text/html"}, page)
    with (
        scripted(bad_gateway) as server,
        client_for(server.url, max_attempts=3) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.create_lead(SITE, new_lead())
    assert len(server.requests) == 3
    message = caught.value.error
    assert message.startswith(
        '502 Bad Gateway (HTML error page from a proxy: "Bad Gateway upstream upstream'
    )
    assert "<" not in message and "var x" not in message and "p{}" not in message
    assert len(message) < 200 and message.endswith('…")')


@pytest.mark.parametrize(
    "content_type, body, expected",
    [
        ("application/json", b'{"error": "something went wrong"}\n', "something went wrong"),
        ("application/json", b'{"message": "bad thing"}', "bad thing"),
        ("application/json", b'{"other": 1}', '500 Internal Server Error: {"other": 1}'),
        (
            "text/plain",
            b"  upstream\n\n  exploded  ",
            "500 Internal Server Error: upstream exploded",
        ),
        ("", b"", "500 Internal Server Error"),
        (
            "text/html",
            b"<html><head><title>Oops</title></head><body></body></html>",
            '500 Internal Server Error (HTML error page from a proxy: "Oops")',
        ),
    ],
)
def test_readable_error(content_type: str, body: bytes, expected: str) -> None:
    assert readable_error(500, "Internal Server Error", content_type, body) == expected


@given(
    status=st.integers(min_value=400, max_value=599),
    body=st.binary(max_size=400),
    ctype=st.sampled_from(["application/json", "text/html", "text/plain", ""]),
)
def test_readable_error_is_always_one_short_line(status: int, body: bytes, ctype: str) -> None:
    message = readable_error(status, None, ctype, body)
    assert "\n" not in message and "\r" not in message
    assert len(message) <= 200


def test_parse_retry_after() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3", now=now) == 3.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("Wed, 01 May 2024 12:00:42 GMT", now=now) == 42.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("-4", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None


# -- retries -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["500", "503-html", "429", "timeout", "reset"])
def test_retries_get_through_each_kind_of_fault(kind: str) -> None:
    sleep = RecordingSleep()
    events: list[RetryEvent] = []
    # The timeout fault answers after 0.4 s; the client gives up at 0.3 s (well above a normal answer).
    with sandbox_with(
        fault_rate=0.5, faults=(kind,), seed=11, fault_delay_s=0.4, retry_after_s=2
    ) as faulty:
        client = Client(
            SANDBOX,
            ClientSettings(base_url=faulty.url, read_timeout=0.3, max_attempts=12),
            sleep=sleep,
            on_retry=events.append,
        )
        leads = [new_lead(n) for n in range(8)]
        with client:
            responses = [client.create_lead(SITE, lead) for lead in leads]
        faults = faulty.stats()["faults"].get(kind, 0)
        stored = faulty.leads(SITE)
    assert faults > 0, "the seed should inject some faults"
    assert sorted(s["id"] for s in stored) == sorted(lead["id"] for lead in leads)
    assert (
        sum(r.attempts - 1 for r in responses) == faults == len(events) == client.stats()["retries"]
    )
    expected_key = {"503-html": "503", "reset": "connection"}.get(kind, kind)
    assert client.stats()["by_status"] == {"201": 8, expected_key: faults}
    assert {e.status_or_kind for e in events} == {
        int(expected_key) if expected_key.isdigit() else expected_key
    }
    if kind == "429":
        assert sleep.delays == [2.0] * faults  # Retry-After honoured
        assert sum(r.unknown_outcomes for r in responses) == 0
    else:
        assert sum(r.unknown_outcomes for r in responses) == faults


def test_retry_after_feeds_the_shared_rate_limiter() -> None:
    class CountingLimiter(RateLimiter):
        def __init__(self) -> None:
            self.clock = 0.0
            super().__init__(clock=lambda: self.clock, sleep=self._advance)
            self.calls: list[str] = []
            self.pauses: list[float | None] = []

        def _advance(self, seconds: float) -> None:
            self.clock += seconds

        def acquire(self) -> float:
            self.calls.append("acquire")
            return super().acquire()

        def on_throttled(self, retry_after: float | None) -> None:
            self.calls.append("throttled")
            self.pauses.append(retry_after)
            super().on_throttled(retry_after)

        def on_success(self) -> None:
            self.calls.append("success")
            super().on_success()

    limiter = CountingLimiter()
    with sandbox_with(fault_rate=0.5, faults=("429",), seed=3, retry_after_s=4) as faulty:
        client = Client(
            SANDBOX,
            ClientSettings(base_url=faulty.url),
            rate_limiter=limiter,
            sleep=RecordingSleep(),
        )
        with client:
            for n in range(6):
                client.create_lead(SITE, new_lead(n))
        served = faulty.stats()["total"]
        throttled = faulty.stats()["faults"]["429"]
    assert limiter.calls.count("acquire") == served  # every attempt asked the limiter first
    assert limiter.calls.count("throttled") == throttled and set(limiter.pauses) == {4.0}
    assert limiter.calls.count("success") == 6
    assert limiter.clock > 0  # the 429s cut the (unlimited) rate: later tries were spaced out


def test_http_date_retry_after_is_honoured() -> None:
    sleep = RecordingSleep()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    busy = json_answer(503, {"error": "maintenance"}, **{"Retry-After": when})
    with scripted(busy, CREATED) as server, client_for(server.url, sleep) as client:
        response = client.create_lead(SITE, new_lead())
    assert (response.status, response.attempts, response.unknown_outcomes) == (201, 2, 1)
    [delay] = sleep.delays
    assert 27.0 <= delay <= 30.0


def test_a_retry_after_longer_than_the_limit_fails_at_once() -> None:
    sleep = RecordingSleep()
    slow_down = json_answer(429, {"error": "slow down"}, **{"Retry-After": "3600"})
    with (
        scripted(slow_down) as server,
        client_for(server.url, sleep, max_retry_after=60) as client,
        pytest.raises(RateLimitedError) as caught,
    ):
        client.create_lead(SITE, new_lead())
    assert (caught.value.retry_after, caught.value.attempts) == (3600.0, 1)
    assert sleep.delays == []


def test_backoff_is_exponential_and_capped() -> None:
    sleep = RecordingSleep()
    failing = json_answer(500, {"error": "boom"})
    settings = ClientSettings(max_attempts=8, backoff_base=0.5, backoff_max=4.0)
    with scripted(failing) as server:
        client = Client(
            SANDBOX,
            ClientSettings(**{**settings.__dict__, "base_url": server.url}),
            sleep=sleep,
            rng=MaxRandom(),
        )
        with client, pytest.raises(ServerError) as caught:
            client.create_lead(SITE, new_lead())
    assert sleep.delays == [
        0.5,
        1.0,
        2.0,
        4.0,
        4.0,
        4.0,
        4.0,
    ]  # the ceilings: doubling, then capped
    assert (caught.value.attempts, caught.value.maybe_applied) == (8, True)
    assert len(server.requests) == 8


def test_backoff_is_fully_jittered() -> None:
    sleep = RecordingSleep()
    with scripted(json_answer(503, {"error": "busy"})) as server:
        client = Client(
            SANDBOX,
            ClientSettings(base_url=server.url, max_attempts=30, backoff_base=1.0, backoff_max=8.0),
            sleep=sleep,
            rng=random.Random(5),
        )
        with client, pytest.raises(ServerError):
            client.create_lead(SITE, new_lead())
    ceilings = [min(8.0, 2.0**k) for k in range(29)]
    assert all(0.0 <= d <= c for d, c in zip(sleep.delays, ceilings, strict=True))
    capped = sleep.delays[3:]
    assert len(set(capped)) == len(capped)  # not one fixed delay
    assert min(capped) < 4.0 < max(capped)  # spread over the whole [0, cap] range


def test_max_attempts_bounds_the_tries(sandbox: Sandbox) -> None:
    sleep = RecordingSleep()
    with (
        sandbox_with(fault_rate=1.0, faults=("500",)) as faulty,
        client_for(faulty.url, sleep, max_attempts=4) as client,
    ):
        with pytest.raises(ServerError) as caught:
            client.create_lead(SITE, new_lead())
        stats = client.stats()
        served = len(faulty.requests_log())
    assert (caught.value.status, caught.value.attempts, caught.value.maybe_applied) == (
        500,
        4,
        True,
    )
    assert caught.value.error == "Internal server error (injected by the sandbox)."
    assert served == 4 and len(sleep.delays) == 3
    assert stats == {"total": 4, "retries": 3, "by_status": {"500": 4}}


def test_connection_refused_is_retried_even_without_retry_unknown() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    with client_for(f"http://127.0.0.1:{port}/rest", max_attempts=3) as client:
        with pytest.raises(TransportError) as caught:
            client.add_activities(SITE, str(uuid.uuid4()), [note("x")], retry_unknown=False)
        assert client.stats()["by_status"] == {"connection": 3}
    assert (caught.value.status, caught.value.attempts, caught.value.maybe_applied) == (
        None,
        3,
        False,
    )
    assert "could not connect" in caught.value.error


# -- unknown outcomes ----------------------------------------------------------------------


def test_retry_unknown_false_raises_after_a_reset_after_commit_without_resending() -> None:
    lead = new_lead(activities=[note("first contact")])
    with sandbox_with(fault_rate=1.0, faults=("reset-after-commit",)) as faulty:
        with client_for(faulty.url) as client:
            with pytest.raises(TransportError) as on_create:
                client.create_lead(SITE, lead, retry_unknown=False)
            with pytest.raises(TransportError) as on_activities:
                client.add_activities(SITE, lead["id"], [note("second")], retry_unknown=False)
        log = faulty.requests_log()
        [stored] = faulty.leads(SITE)
    for caught in (on_create, on_activities):
        assert (caught.value.attempts, caught.value.maybe_applied, caught.value.status) == (
            1,
            True,
            None,
        )
    assert [e["route"] for e in log] == ["create_lead", "add_activities"]  # nothing resent
    assert stored["activities"] == [note("first contact"), note("second")]  # applied exactly once


def test_retry_unknown_false_raises_on_a_500_at_once() -> None:
    sleep = RecordingSleep()
    with (
        scripted(json_answer(500, {"error": "boom"}), json_answer(200, {})) as server,
        client_for(server.url, sleep) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.add_activities(SITE, str(uuid.uuid4()), [note("x")], retry_unknown=False)
    assert (caught.value.attempts, caught.value.maybe_applied) == (1, True)
    assert len(server.requests) == 1 and sleep.delays == []


def test_retry_unknown_false_still_retries_429() -> None:
    lead = new_lead()
    with sandbox_with(fault_rate=0.6, faults=("429",), seed=2, retry_after_s=1) as faulty:
        with client_for(faulty.url, max_attempts=15) as client:
            client.create_lead(SITE, lead, retry_unknown=False)
            responses = [
                client.add_activities(SITE, lead["id"], [note(str(n))], retry_unknown=False)
                for n in range(5)
            ]
        throttled = faulty.stats()["faults"].get("429", 0)
        [stored] = faulty.leads(SITE)
    assert throttled > 0
    assert [a["description"] for a in stored["activities"]] == ["0", "1", "2", "3", "4"]
    assert all(r.unknown_outcomes == 0 for r in responses)


def test_exhausted_retries_remember_an_earlier_unknown_outcome() -> None:
    answers = (json_answer(502, {"error": "gateway"}), json_answer(429, {"error": "slow down"}))
    with (
        scripted(*answers) as server,
        client_for(server.url, max_attempts=3) as client,
        pytest.raises(RateLimitedError) as caught,
    ):
        client.create_lead(SITE, new_lead())
    # The last answer was a clean 429, but the 502 before it may have been applied.
    assert (caught.value.status, caught.value.attempts, caught.value.maybe_applied) == (
        429,
        3,
        True,
    )


# -- secrets -----------------------------------------------------------------------------


def test_the_password_never_shows(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    credentials = Credentials("sandbox", SECRET)
    encoded = base64.b64encode(f"sandbox:{SECRET}".encode()).decode()
    events: list[RetryEvent] = []
    with sandbox_with(password=SECRET, fault_rate=0.5, faults=("500",), seed=1) as faulty:
        client = Client(
            credentials,
            ClientSettings(base_url=faulty.url, max_attempts=10),
            sleep=RecordingSleep(),
            on_retry=events.append,
        )
        wrong = Client(
            Credentials("sandbox", SECRET + "x"),
            ClientSettings(base_url=faulty.url, max_attempts=10),
            sleep=RecordingSleep(),
        )
        with client, wrong:
            for n in range(4):
                client.create_lead(SITE, new_lead(n))
            with pytest.raises(ApiError) as caught:
                wrong.create_lead(SITE, new_lead())
            texts = [
                repr(client),
                str(client),
                repr(wrong),
                str(client.stats()),
                repr(events),
                repr(client.settings),
            ]
    error = caught.value
    texts += [str(error), repr(error), error.error, error.url, repr(vars(error))]
    texts.append("".join(traceback.format_exception(error)))
    texts += [record.getMessage() for record in caplog.records]
    assert events, "some retries should have been logged"
    for text in texts:
        assert SECRET not in text and encoded not in text
    assert "sandbox" in repr(client)  # the user name is fine to show


# -- concurrency and the acceptance run -----------------------------------------------------


def test_eight_threads_share_one_client(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    leads = [new_lead(n) for n in range(96)]
    with sandbox_with(latency_ms=3) as server:
        with Client(SANDBOX, ClientSettings(base_url=server.url, pool_size=8)) as client:
            with ThreadPoolExecutor(max_workers=8) as pool:
                responses = list(pool.map(lambda lead: client.create_lead(SITE, lead), leads))
            stats = client.stats()
        stored = server.leads(SITE)
    assert all(isinstance(r, Response) and r.status == 201 for r in responses)
    assert sorted(s["id"] for s in stored) == sorted(lead["id"] for lead in leads)
    assert stats == {"total": 96, "retries": 0, "by_status": {"201": 96}}
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_proxy_variables_do_not_hijack_the_loopback_sandbox(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing answers
    with client_for(sandbox.url, max_attempts=1) as client:
        assert client.create_lead(SITE, new_lead()).status == 201


def test_closed_client_refuses_work(sandbox: Sandbox) -> None:
    client = client_for(sandbox.url)
    client.close()
    with pytest.raises(RuntimeError, match="closed"):
        client.create_lead(SITE, new_lead())
    assert sandbox.requests_log() == []


def test_acceptance_100_leads_through_30_percent_faults() -> None:
    """The issue's acceptance test: every lead lands exactly once, no activity doubles."""
    sleep = RecordingSleep()
    leads = [new_lead(n, activities=[note(f"created {n}")]) for n in range(100)]
    faults = ("500", "503-html", "429", "timeout", "reset")
    # The timeout fault answers (503) after 0.6 s; the client stops waiting at 0.5 s, far
    # above a normal loopback answer, so only injected timeouts time out.
    with sandbox_with(
        fault_rate=0.3, faults=faults, seed=2024, fault_delay_s=0.6, retry_after_s=1
    ) as faulty:
        settings = ClientSettings(
            base_url=faulty.url, read_timeout=0.5, max_attempts=12, pool_size=4
        )
        with Client(SANDBOX, settings, sleep=sleep, rng=random.Random(1)) as client:

            def deliver(lead: dict[str, Any]) -> list[Response]:
                created = client.create_lead(SITE, lead)
                return [
                    created,
                    client.add_activities(SITE, lead["id"], [note(f"follow-up {lead['email']}")]),
                ]

            with ThreadPoolExecutor(max_workers=4) as pool:
                responses = [r for pair in pool.map(deliver, leads) for r in pair]
            client_stats = client.stats()
        stats = faulty.stats()
        stored = faulty.leads(SITE)

    assert len({lead["id"] for lead in leads}) == 100
    assert sorted(s["id"] for s in stored) == sorted(lead["id"] for lead in leads)
    assert all(s["ids"] == [s["id"]] for s in stored)  # stored once: no merged duplicate
    by_id = {s["id"]: s for s in stored}
    for n, lead in enumerate(leads):
        descriptions = [a["description"] for a in by_id[lead["id"]]["activities"]]
        assert descriptions == [f"created {n}", f"follow-up {lead['email']}"]
    assert stats["requests"]["create_lead"]["201"] == 100
    assert stats["requests"]["add_activities"]["200"] == 100
    assert set(stats["faults"]) == set(faults)  # every kind of fault was met and overcome
    assert client_stats["total"] == stats["total"] == 200 + sum(stats["faults"].values())
    assert sum(r.unknown_outcomes for r in responses) == sum(
        n for kind, n in stats["faults"].items() if kind != "429"
    )
