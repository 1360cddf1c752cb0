"""How the sandbox runs: faults, latency, rate limits, persistence, wire format, CLI, load."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from importer.errors import ConfigError
from importer.sandbox.config import SandboxConfig
from importer.sandbox.runner import Sandbox, start_sandbox
from tests.conftest import ROOT, SITE
from tests.sandbox.test_sandbox_helpers import (
    AUTH,
    error_of,
    lead,
    new_id,
    note,
    property_view,
    session,
)


def leads_url(sb: Sandbox) -> str:
    return f"{sb.url}/sites/{SITE}/leads"


@pytest.fixture
def faulty() -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes that fail every API request with the given settings."""
    started: list[Sandbox] = []

    def start(*kinds: str, **overrides: Any) -> Sandbox:
        sb = start_sandbox(fault_rate=1.0, faults=kinds, **overrides)
        started.append(sb)
        return sb

    yield start
    for sb in started:
        sb.stop()


# --- faults -------------------------------------------------------------------


def test_fault_500_answers_json_and_applies_nothing(faulty: Callable[..., Sandbox]) -> None:
    sb = faulty("500")
    response = requests.post(leads_url(sb), json=lead(), auth=AUTH)
    assert response.status_code == 500 and "injected" in error_of(response)
    assert sb.leads(SITE) == []
    assert sb.stats() == {"requests": {"create_lead": {"500": 1}}, "faults": {"500": 1}, "total": 1}


def test_fault_503_html_looks_like_a_proxy_page(faulty: Callable[..., Sandbox]) -> None:
    sb = faulty("503-html")
    response = requests.post(leads_url(sb), json=lead(), auth=AUTH)
    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<strong>Sorry...</strong>" in response.text
    assert sb.leads(SITE) == []


def test_fault_429_sends_retry_after(faulty: Callable[..., Sandbox]) -> None:
    sb = faulty("429", retry_after_s=7)
    response = requests.post(leads_url(sb), json=lead(), auth=AUTH)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    error_of(response)
    assert sb.leads(SITE) == []


def test_fault_timeout_outlasts_the_client_then_answers_503(faulty: Callable[..., Sandbox]) -> None:
    sb = faulty("timeout", fault_delay_s=0.4)
    with pytest.raises(requests.ReadTimeout):
        requests.post(leads_url(sb), json=lead(), auth=AUTH, timeout=(2, 0.1))
    # A patient client outlasts the fault's delay and gets the 503 it ends with.
    patient = requests.post(leads_url(sb), json=lead(), auth=AUTH, timeout=30)
    assert patient.status_code == 503
    error_of(patient)
    assert sb.leads(SITE) == []
    assert sb.stats()["requests"] == {"create_lead": {"timeout": 2}}


def test_fault_reset_drops_the_connection_before_applying(faulty: Callable[..., Sandbox]) -> None:
    sb = faulty("reset")
    body = lead()
    with pytest.raises(requests.ConnectionError):
        requests.post(leads_url(sb), json=body, auth=AUTH)
    assert sb.leads(SITE) == []
    [entry] = sb.requests_log()
    assert (entry["status"], entry["fault"], entry["body"]) == ("reset", "reset", body)


def test_fault_reset_after_commit_applies_then_drops(faulty: Callable[..., Sandbox]) -> None:
    sb = faulty("reset-after-commit")
    body = lead()
    with session() as http, pytest.raises(requests.ConnectionError):
        http.post(leads_url(sb), json=body)
    assert [saved["id"] for saved in sb.leads(SITE)] == [body["id"]]
    assert sb.stats()["faults"] == {"reset-after-commit": 1}


def test_a_session_recovers_after_a_reset() -> None:
    with start_sandbox(fault_rate=0.5, faults=("reset",), seed=3) as sb, session() as http:
        outcomes: list[int | str] = []
        for _ in range(12):
            try:
                outcomes.append(http.post(leads_url(sb), json=lead()).status_code)
            except requests.ConnectionError:
                outcomes.append("reset")
        assert "reset" in outcomes and 201 in outcomes
        assert len(sb.leads(SITE)) == outcomes.count(201)


def test_inspection_is_never_faulted_delayed_or_limited(faulty: Callable[..., Sandbox]) -> None:
    # An hour of latency: a delayed inspection call would run into the read timeout
    # (a hang guard, not a measure of speed), a faulted one would not answer 200.
    sb = faulty("500", "503-html", "429", "timeout", "reset", latency_ms=3_600_000, rate_limit=0.1)
    with session() as http:
        for _ in range(10):
            stats = http.get(f"{sb.root_url}/_sandbox/stats", timeout=(5, 60))
            assert stats.status_code == 200
            leads = http.get(f"{sb.root_url}/_sandbox/sites/{SITE}/leads", timeout=(5, 60))
            assert leads.status_code == 200
    assert sb.stats()["total"] == 0


def _outcomes(sb: Sandbox, count: int) -> list[str]:
    with session() as http:
        for _ in range(count):
            with contextlib.suppress(requests.ConnectionError):
                http.post(leads_url(sb), json=lead())
    return [f"{entry['status']}/{entry['fault']}" for entry in sb.requests_log()]


def test_seeded_faults_are_reproducible() -> None:
    kinds = ("500", "503-html", "429", "reset", "reset-after-commit")
    with start_sandbox(fault_rate=0.5, faults=kinds, seed=42) as first:
        one = _outcomes(first, 30)
    with start_sandbox(fault_rate=0.5, faults=kinds, seed=42) as second:
        two = _outcomes(second, 30)
    with start_sandbox(fault_rate=0.5, faults=kinds, seed=43) as third:
        other = _outcomes(third, 30)
    assert one == two and one != other
    assert "201/None" in one and len(set(one)) >= 4


def test_fault_rate_is_roughly_honoured() -> None:
    with start_sandbox(fault_rate=0.2, faults=("500",), seed=1) as sb, session() as http:
        statuses = [http.post(leads_url(sb), json=lead()).status_code for _ in range(200)]
    assert 20 <= statuses.count(500) <= 60
    assert statuses.count(201) + statuses.count(500) == 200


# --- latency and rate limits -------------------------------------------------------


def test_latency_is_per_request_not_a_global_lock() -> None:
    # Whether delayed requests overlap is a matter of speed, so `make bench` measures it
    # (send scaling against the ideal of workers / latency); here: each one is answered.
    with start_sandbox(latency_ms=200) as sb:

        def post(_: int) -> int:
            return requests.post(leads_url(sb), json=lead(), auth=AUTH, timeout=60).status_code

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(post, range(8))) == [201] * 8
        assert sb.stats()["requests"] == {"create_lead": {"201": 8}}


def test_rate_limit_answers_429_with_retry_after() -> None:
    with start_sandbox(rate_limit=5) as sb, session() as http:
        responses = [http.post(leads_url(sb), json=lead()) for _ in range(15)]
        limited = [r for r in responses if r.status_code == 429]
        assert limited and all(int(r.headers["Retry-After"]) >= 1 for r in limited)
        assert "per second" in error_of(limited[0])
        accepted = sum(r.status_code == 201 for r in responses)
        assert 5 <= accepted <= 8
        assert len(sb.leads(SITE)) == accepted
        time.sleep(0.3)
        assert http.post(leads_url(sb), json=lead()).status_code == 201
        assert [e["fault"] for e in sb.requests_log() if e["status"] == "429"] == [None] * len(
            limited
        )


# --- persistence ----------------------------------------------------------------


def test_store_survives_a_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "sandbox.sqlite")
    first, second = lead(email="jane@example.com"), lead(email="JANE@example.com", city="Hilo")
    with start_sandbox(store=path) as sb, session() as http:
        http.post(leads_url(sb), json=first)
        http.post(leads_url(sb), json=second)
        http.post(f"{sb.url}/sites/{SITE}/leads/{first['id']}/activities", json=[note()])
        before = sb.leads(SITE)
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with start_sandbox(store=path) as sb, session() as http:
        assert sb.leads(SITE) == before
        assert (
            http.patch(
                f"{sb.url}/sites/{SITE}/leads/{second['id']}", json={"zip": "96720"}
            ).status_code
            == 200
        )
        http.post(leads_url(sb), json=lead(email="jane@EXAMPLE.com"))  # still merges by email
        [saved] = sb.leads(SITE)
        assert saved["zip"] == "96720" and len(saved["ids"]) == 3 and len(saved["activities"]) == 1
        sb.reset()
    with start_sandbox(store=path) as sb:
        assert sb.leads(SITE) == []


def test_store_refuses_a_file_that_is_not_a_sandbox_store(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE rows (key TEXT)")
    with pytest.raises(ConfigError, match="not a sandbox store"):
        start_sandbox(store=str(path))


def test_memory_store_is_empty_after_a_restart() -> None:
    with start_sandbox() as sb:
        requests.post(leads_url(sb), json=lead(), auth=AUTH)
        port = sb.port
    with start_sandbox(port=port) as sb:
        assert sb.leads(SITE) == []


# --- wire format ------------------------------------------------------------------


def _official_request(method: str, url: str, body: Any) -> requests.Response:
    """What leadrouter.Client._request sends: json.dumps body, UTF-8 JSON type, user/token Basic auth."""
    return requests.request(
        method,
        url,
        data=json.dumps(body),
        timeout=30,
        auth=requests.auth.HTTPBasicAuth("user", "token"),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )


def test_the_official_python_clients_wire_format_is_accepted() -> None:
    with start_sandbox(username="user", password="token") as sb:
        body = lead(first_name="Zoë", activities=[note()])
        created = _official_request("POST", leads_url(sb), body)
        assert created.request.headers["Authorization"] == "Basic dXNlcjp0b2tlbg=="
        sent = created.request.body
        assert isinstance(sent, str) and "\\u00eb" in sent and '", "' in sent
        assert created.status_code == 201
        base = f"{sb.url}/sites/{SITE}"
        assert (
            _official_request("PATCH", f"{base}/leads/{body['id']}", {"city": "Hilo"}).status_code
            == 200
        )
        assert (
            _official_request("POST", f"{base}/leads/{body['id']}/activities", [note()]).status_code
            == 200
        )
        seller = {"id": new_id(), "activities": [property_view()]}
        assert (
            _official_request("POST", f"{base}/potential-seller-leads", seller).status_code == 201
        )
        saved = sb.leads(SITE)
        assert (
            saved[0]["first_name"] == "Zoë"
            and saved[0]["city"] == "Hilo"
            and len(saved[0]["activities"]) == 2
        )
        assert len(saved) == 2


def test_keep_alive_serves_several_requests_on_one_connection(sandbox: Sandbox) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    headers = {"Authorization": "Basic c2FuZGJveDpzYW5kYm94", "Content-Type": "application/json"}
    try:
        statuses = []
        for _ in range(3):
            conn.request(
                "POST", f"/rest/sites/{SITE}/leads", body=json.dumps(lead()), headers=headers
            )
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
            assert not response.will_close
            sock = conn.sock
        assert statuses == [201, 201, 201] and conn.sock is sock
    finally:
        conn.close()


def test_chunked_bodies_are_read(sandbox: Sandbox) -> None:
    data = json.dumps(lead()).encode()
    chunks = iter([data[:10], data[10:]])
    response = requests.post(
        leads_url(sandbox), data=chunks, auth=AUTH, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201 and len(sandbox.leads(SITE)) == 1


def test_oversized_bodies_are_refused_without_reading_them(sandbox: Sandbox) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.port, timeout=5)
    try:
        conn.putrequest("POST", f"/rest/sites/{SITE}/leads")
        conn.putheader("Authorization", "Basic c2FuZGJveDpzYW5kYm94")
        conn.putheader("Content-Length", str(10**9))
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert "too large" in json.loads(response.read())["error"]
    finally:
        conn.close()


def test_nothing_is_written_to_stderr_per_request(capfd: pytest.CaptureFixture[str]) -> None:
    with (
        start_sandbox(fault_rate=0.5, faults=("500", "reset", "429"), seed=5) as sb,
        session() as http,
    ):
        for body in (lead(), lead(source=None), "not json"):
            with contextlib.suppress(requests.ConnectionError):
                http.post(leads_url(sb), json=body)
        requests.post(leads_url(sb), json=lead(), auth=("sandbox", "wrong"))
    with start_sandbox(fault_rate=1.0, faults=("timeout",), fault_delay_s=0.2) as sb:
        with pytest.raises(requests.ReadTimeout):
            requests.post(leads_url(sb), json=lead(), auth=AUTH, timeout=(2, 0.05))
        time.sleep(0.3)  # the server answers a client that has gone
    assert capfd.readouterr().err == ""


# --- start, stop, config -------------------------------------------------------------


def test_stop_is_idempotent_and_closes_every_connection() -> None:
    sb = start_sandbox()
    with session() as http:
        assert (
            http.post(leads_url(sb), json=lead()).status_code == 201
        )  # opens a keep-alive connection
        sb.stop()
        sb.stop()
        with pytest.raises(requests.ConnectionError):
            http.post(leads_url(sb), json=lead())
    with pytest.raises(requests.ConnectionError):
        requests.post(leads_url(sb), json=lead(), auth=AUTH)


def test_a_busy_port_is_a_config_error(sandbox: Sandbox) -> None:
    with pytest.raises(ConfigError, match="cannot listen"):
        start_sandbox(port=sandbox.port)


def test_urls_and_overrides() -> None:
    config = SandboxConfig(username="u", password="p")
    with start_sandbox(config, latency_ms=1) as sb:
        assert (
            sb.url == f"http://127.0.0.1:{sb.port}/rest"
            and sb.root_url == f"http://127.0.0.1:{sb.port}"
        )
        assert (sb.config.username, sb.config.latency_ms) == ("u", 1)


def test_from_cli_reads_the_click_options() -> None:
    options = {
        "host": "127.0.0.1",
        "port": 0,
        "username": "sandbox",
        "password": "sandbox",
        "sites": (SITE,),
        "latency_ms": 5.0,
        "fault_rate": 0.1,
        "faults": " 500, reset-after-commit ,",
        "fault_delay": 2.0,
        "seed": None,
        "rate_limit": None,
        "retry_after": 3,
        "store": None,
        "unknown_fields": "ignore",
    }
    config = SandboxConfig.from_cli(**options)
    assert config.faults == ("500", "reset-after-commit") and config.fault_delay_s == 2.0
    assert config.retry_after_s == 3 and config.sites == (SITE,) and config.seed is None
    assert config.unknown_fields == "ignore"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"faults": "500,boom"}, "'boom'"),
        ({"fault_rate": 1.5}, "fault rate"),
        ({"sites": ("not-a-site",)}, "'not-a-site'"),
        ({"latency_ms": -1.0}, "latency"),
        ({"rate_limit": 0.0}, "rate limit"),
        ({"unknown_fields": "keep"}, "'keep'"),
        ({"port": 70000}, "port"),
        ({"fault_rate": 0.5, "faults": ""}, "fault kind"),
        ({"colour": "red"}, "'colour'"),
    ],
)
def test_from_cli_refuses_bad_values(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SandboxConfig.from_cli(**options)
    assert named in str(caught.value)


def test_cli_help_lists_the_options() -> None:
    from click.testing import CliRunner

    from importer.cli.main import cli

    result = CliRunner().invoke(cli, ["sandbox", "--help"])
    assert result.exit_code == 0
    for option in (
        "--port",
        "--fault-rate",
        "--faults",
        "--fault-delay",
        "--rate-limit",
        "--store",
        "--unknown-fields",
    ):
        assert option in result.output


def test_cli_names_a_bad_fault_kind_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    from importer.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["sandbox", "--port", "0", "--faults", "500,flood"])
    assert exited.value.code == 2
    assert "'flood'" in capsys.readouterr().err


def _first_line(process: subprocess.Popen[str], timeout: float = 20) -> str:
    found: list[str] = []
    reader = threading.Thread(
        target=lambda: found.append(process.stdout.readline() if process.stdout else "")
    )
    reader.start()
    reader.join(timeout)
    assert found, "the sandbox printed nothing"
    return found[0]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_cli_sandbox_serves_then_stops_cleanly_on_a_signal(signum: int) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "importer", "sandbox", "--port", "0", "--password", "pw-secret"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _first_line(process)
        assert line.startswith("Sandbox listening on http://127.0.0.1:") and line.rstrip().endswith(
            "/rest"
        )
        url = line.split(" on ", 1)[1].strip()
        assert int(url.rsplit(":", 1)[1].split("/")[0]) > 0
        body = lead()
        assert (
            requests.post(
                f"{url}/sites/{SITE}/leads", json=body, auth=("sandbox", "pw-secret")
            ).status_code
            == 201
        )
        saved = requests.get(
            url.replace("/rest", f"/_sandbox/sites/{SITE}/leads"), auth=("sandbox", "pw-secret")
        )
        assert saved.json()[0]["id"] == body["id"]
        process.send_signal(signum)
        assert process.wait(timeout=60) == 0  # a hang guard, not a measure of speed
        out, err = process.communicate()
        assert "pw-secret" not in out + err and body["email"] not in out + err
        assert err == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- load ---------------------------------------------------------------------------


def test_concurrent_clients_each_lead_stored_exactly_once(sandbox: Sandbox) -> None:
    def worker(_: int) -> list[str]:
        ids = []
        with session() as http:
            for _ in range(25):
                body = lead()
                assert http.post(leads_url(sandbox), json=body).status_code == 201
                ids.append(body["id"])
        return ids

    with ThreadPoolExecutor(16) as pool:
        sent = [lead_id for ids in pool.map(worker, range(16)) for lead_id in ids]
    saved = sandbox.leads(SITE)
    assert len(saved) == 400 and sorted(s["id"] for s in saved) == sorted(sent)
    assert sandbox.stats()["requests"] == {"create_lead": {"201": 400}}
