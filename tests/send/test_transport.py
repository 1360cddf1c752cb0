"""One try over the wire (``importer.send.transport``): what reaches the server, and
what a try that got no answer means, against real sockets on this machine.

TLS: ``tests/send/tls`` holds a test CA and a certificate it signed for
``api.rg-import.test``, ``localhost`` and ``127.0.0.1`` (test keys, nothing else
trusts them). A base URL on ``api.rg-import.test`` is not loopback, so the
client reads the proxy and CA bundle from the environment; the host is reached
only through a recording CONNECT proxy here, which tunnels to the local TLS
server (no name is ever looked up).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import select
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from importer.config import Credentials
from importer.errors import TransportError
from importer.sandbox.runner import Sandbox
from importer.send.client import Client
from importer.send.client_settings import ClientSettings
from importer.send.http_routes import Routes
from tests.conftest import SITE

TLS = Path(__file__).with_name("tls")
CA_BUNDLE = TLS / "ca.pem"
SANDBOX = Credentials("sandbox", "sandbox")
API_HOST = "api.rg-import.test"
PROXY_ENV = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def client(url: str, **settings: Any) -> Client:
    return Client(SANDBOX, ClientSettings(base_url=url, **settings), sleep=lambda _: None)


def new_lead() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "source": "rg-import tests", "email": "t@example.com"}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy or CA bundle from the developer's environment."""
    for name in (*PROXY_ENV, "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


class Recorder(BaseHTTPRequestHandler):
    """Answers every request 201 with a JSON object (gzipped when ``gzip`` is set)."""

    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]]
    gzip = False
    delay_s = 0.0  # how long the server thinks before it answers

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        payload = b'{"id": "x"}'
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        if self.gzip:
            payload = gzip.compress(payload)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def recording_server(
    *, tls: bool = False, gzipped: bool = False, delay_s: float = 0.0
) -> Iterator[tuple[int, list]]:
    """A loopback HTTP(S) server; yields its port and the requests it got."""
    seen: list[dict[str, Any]] = []
    handler = type("Handler", (Recorder,), {"seen": seen, "gzip": gzipped, "delay_s": delay_s})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(TLS / "server.pem", TLS / "server.key")
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], seen
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextlib.contextmanager
def connect_proxy(target_port: int) -> Iterator[tuple[int, list[str]]]:
    """A CONNECT proxy that tunnels every request to ``127.0.0.1:target_port``.

    Yields its port and the head (request line and headers) of each CONNECT.
    """
    heads: list[str] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    done = threading.Event()

    def tunnel(conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            heads.append(head.decode("latin-1"))
            with socket.create_connection(("127.0.0.1", target_port)) as upstream:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                pipe(conn, upstream)

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=tunnel, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], heads
    finally:
        done.set()
        thread.join(timeout=5)
        listener.close()


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    while True:
        ready, _, _ = select.select([a, b], [], [], 5)
        if not ready:
            return
        for source in ready:
            try:
                data = source.recv(65536)
                if data:
                    (b if source is a else a).sendall(data)
            except OSError:  # reset: a client that refused the certificate hangs up so
                return
            if not data:
                return


# -- TLS, the CA bundle and proxies ---------------------------------------------------


def test_https_through_a_proxy_with_the_ca_bundle_from_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    with recording_server(tls=True) as (port, seen), connect_proxy(port) as (proxy, heads):
        clean_env.setenv("HTTPS_PROXY", f"http://proxy-user:proxy-pw@127.0.0.1:{proxy}")
        clean_env.setenv("REQUESTS_CA_BUNDLE", str(CA_BUNDLE))
        with client(f"https://{API_HOST}/rest", max_attempts=1) as c:
            assert c.create_lead(SITE, new_lead()).status == 201
            assert c.stats()["by_status"] == {"201": 1}
    [head] = heads
    assert head.startswith(f"CONNECT {API_HOST}:443 HTTP/1.")
    credentials = base64.b64encode(b"proxy-user:proxy-pw").decode()
    assert f"Proxy-Authorization: Basic {credentials}" in head.splitlines()
    [request] = seen
    assert request["path"] == f"/rest/sites/{SITE}/leads"
    assert request["headers"]["Authorization"].startswith("Basic ")
    assert "Proxy-Authorization" not in request["headers"]  # the proxy's, not the API's


def test_a_certificate_no_ca_vouches_for_is_a_tls_failure_never_retried(
    clean_env: pytest.MonkeyPatch,
) -> None:
    # the same server and proxy, without the test CA: certifi's CAs do not know it
    with recording_server(tls=True) as (port, seen), connect_proxy(port) as (proxy, heads):
        clean_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy}")
        with client(f"https://{API_HOST}/rest", max_attempts=5) as c:
            with pytest.raises(TransportError) as caught:
                c.create_lead(SITE, new_lead())
            assert c.stats()["by_status"] == {"connection": 1}
    assert (caught.value.attempts, caught.value.maybe_applied) == (1, False)
    assert caught.value.error.startswith("TLS handshake failed: ")
    assert "certificate verify failed" in caught.value.error
    assert len(heads) == 1 and seen == []


def test_a_loopback_base_url_reads_no_ca_bundle_or_proxy_from_the_environment(
    clean_env: pytest.MonkeyPatch,
) -> None:
    # As with requests' trust_env off: REQUESTS_CA_BUNDLE would make this one succeed.
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(CA_BUNDLE))
    clean_env.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # the discard port: nothing answers
    with (
        recording_server(tls=True) as (port, seen),
        client(f"https://127.0.0.1:{port}/rest", max_attempts=3) as c,
        pytest.raises(TransportError) as caught,
    ):
        c.create_lead(SITE, new_lead())
    assert (caught.value.attempts, caught.value.maybe_applied) == (1, False)
    assert caught.value.error.startswith("TLS handshake failed: ")
    assert seen == []


def test_a_ca_bundle_that_is_not_there_is_a_tls_failure(clean_env: pytest.MonkeyPatch) -> None:
    missing = TLS / "no-such-bundle.pem"
    clean_env.setenv("REQUESTS_CA_BUNDLE", str(missing))
    clean_env.setenv("NO_PROXY", API_HOST)
    with (
        client(f"https://{API_HOST}/rest", max_attempts=3) as c,
        pytest.raises(TransportError) as caught,
    ):
        c.create_lead(SITE, new_lead())
    assert (caught.value.attempts, caught.value.maybe_applied) == (1, False)
    assert "TLS CA certificate bundle" in caught.value.error and str(missing) in caught.value.error


def test_https_to_a_plain_http_server_fails_the_handshake_and_is_not_retried(
    sandbox: Sandbox,
) -> None:
    url = sandbox.url.replace("http://", "https://")
    with client(url, max_attempts=5) as c:
        with pytest.raises(TransportError) as caught:
            c.create_lead(SITE, new_lead())
        assert c.stats() == {"total": 1, "retries": 0, "by_status": {"connection": 1}}
    assert (caught.value.attempts, caught.value.maybe_applied) == (1, False)
    assert caught.value.error.startswith("TLS handshake failed: ")
    assert sandbox.requests_log() == []


def test_no_proxy_and_loopback_decide_which_way_tries_go(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    routes = Routes(4, trust_env=True)
    pool, target = routes.for_url(f"https://{API_HOST}/rest/sites/x/leads?a=1")
    assert pool.proxy is not None and (pool.proxy.host, pool.proxy.port) == ("127.0.0.1", 3128)
    assert target == "/rest/sites/x/leads?a=1"
    routes.close()

    clean_env.setenv("NO_PROXY", f"localhost,{API_HOST}")
    routes = Routes(4, trust_env=True)
    pool, _ = routes.for_url(f"https://{API_HOST}/rest/sites/x/leads")
    assert pool.proxy is None
    routes.close()

    clean_env.delenv("NO_PROXY")
    routes = Routes(4, trust_env=False)  # a loopback base URL: the sandbox
    pool, _ = routes.for_url(f"https://{API_HOST}/rest")
    assert pool.proxy is None
    routes.close()


# -- what a try without an answer means ------------------------------------------------


def test_a_connect_that_times_out_was_not_applied() -> None:
    """A listener whose accept queue is full drops new SYNs: connecting times out."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    queued = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            queued.append(filler)
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", port))
        except TimeoutError:
            pass
        else:
            pytest.skip("this system accepts connections beyond a full backlog")
        finally:
            probe.close()
        with client(f"http://127.0.0.1:{port}/rest", connect_timeout=0.2, max_attempts=2) as c:
            with pytest.raises(TransportError) as caught:
                c.create_lead(SITE, new_lead(), retry_unknown=False)
            assert c.stats()["by_status"] == {"timeout": 2}
    finally:
        for filler in queued:
            filler.close()
        listener.close()
    assert (caught.value.attempts, caught.value.maybe_applied) == (2, False)
    assert caught.value.error.startswith("connecting timed out: ")


def test_a_gzipped_answer_is_read_as_its_json() -> None:
    with (
        recording_server(gzipped=True) as (port, seen),
        client(f"http://127.0.0.1:{port}/rest") as c,
    ):
        response = c.create_lead(SITE, new_lead())
    assert (response.status, json.loads(response.content)) == (201, {"id": "x"})
    assert "gzip" in seen[0]["headers"]["Accept-Encoding"]


# -- socket timeouts: set once per connection, not twice per try ----------------------


@contextlib.contextmanager
def counted_timeouts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float | None]]:
    """Every timeout this thread sets on a socket (each one a system call)."""
    calls: list[float | None] = []
    me = threading.current_thread()
    real = socket.socket.settimeout

    def settimeout(sock: socket.socket, value: float | None) -> None:
        if threading.current_thread() is me:
            calls.append(value)
        real(sock, value)

    monkeypatch.setattr(socket.socket, "settimeout", settimeout)
    yield calls


def test_a_kept_alive_connection_sets_its_socket_timeout_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with (
        recording_server() as (port, seen),
        client(f"http://127.0.0.1:{port}/rest", connect_timeout=3, read_timeout=7) as c,
        counted_timeouts(monkeypatch) as calls,
    ):
        for _ in range(2):
            assert c.create_lead(SITE, new_lead()).status == 201
        after_two = list(calls)
        for _ in range(4):
            assert c.create_lead(SITE, new_lead()).status == 201
    assert len(seen) == 6
    # connecting under the connect timeout, then the read timeout, kept: urllib3 set
    # 3 then 7 on every try (the timeout of a socket is a system call even unchanged)
    assert after_two[0] == 3 and after_two[-1] == 7
    assert calls == after_two


def test_a_tls_connection_sets_its_socket_timeout_once(clean_env: pytest.MonkeyPatch) -> None:
    with recording_server(tls=True) as (port, seen), connect_proxy(port) as (proxy, _):
        clean_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy}")
        clean_env.setenv("REQUESTS_CA_BUNDLE", str(CA_BUNDLE))
        with (
            client(f"https://{API_HOST}/rest", connect_timeout=3, read_timeout=7) as c,
            counted_timeouts(clean_env) as calls,
        ):
            assert c.create_lead(SITE, new_lead()).status == 201
            after_one = list(calls)
            for _ in range(3):
                assert c.create_lead(SITE, new_lead()).status == 201
    assert len(seen) == 4
    assert after_one[-1] == 7 and calls == after_one


def test_an_answer_slower_than_the_connect_timeout_is_waited_for() -> None:
    """The socket keeps the read timeout once connected: the connect timeout bounds connecting."""
    with (
        recording_server(delay_s=0.6) as (port, seen),
        client(f"http://127.0.0.1:{port}/rest", connect_timeout=0.2, read_timeout=10,
               max_attempts=1) as c,
    ):  # fmt: skip
        for _ in range(2):  # a new connection, then the kept-alive one
            assert c.create_lead(SITE, new_lead()).status == 201
        assert c.stats()["by_status"] == {"201": 2}
    assert len(seen) == 2
