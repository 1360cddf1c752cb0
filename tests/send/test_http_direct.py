"""Tries sent straight through a pooled connection (``importer.send.http_direct``).

Each fault is played by a real server on a loopback socket, once through the
direct path and once through urllib3's ``urlopen`` (the path proxied routes
still take), and both must read it the same way: the same status, the same
kind of failure, the same "may the server have applied it", the same message.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import SSLError

from importer.config import Credentials
from importer.send import http_direct
from importer.send.client_settings import ClientSettings
from importer.send.http_routes import Routes
from importer.send.transport import Transport
from tests.send.test_transport import CA_BUNDLE, PROXY_ENV, recording_server

SANDBOX = Credentials("sandbox", "sandbox")
ANSWER = b'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"id": "x"}'

Behaviour = Callable[[socket.socket, bytes], None]  # a connection, and the request read from it


def read_request(conn: socket.socket) -> bytes:
    """One whole request: the head, and the body its Content-Length announces."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@contextlib.contextmanager
def scripted_server(*behaviours: Behaviour) -> Iterator[tuple[int, list[bytes], list[int]]]:
    """Serves requests in turn with ``behaviours`` (the last one repeats), on as
    many connections as clients open; yields the port, the requests and a count of
    connections accepted."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []
    accepted = [0]
    done = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            while not done.is_set():
                request = read_request(conn)
                if not request:
                    return
                requests.append(request)
                behaviour = behaviours[min(len(requests), len(behaviours)) - 1]
                try:
                    behaviour(conn, request)
                except OSError:
                    return
                if conn.fileno() == -1:
                    return

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted[0] += 1
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], requests, accepted
    finally:
        done.set()
        listener.close()


def answers(conn: socket.socket, request: bytes) -> None:
    conn.sendall(ANSWER)


def closes_without_answer(conn: socket.socket, request: bytes) -> None:
    conn.close()


def resets(conn: socket.socket, request: bytes) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # linger 0: an RST, not a FIN


def cuts_the_body(conn: socket.socket, request: bytes) -> None:
    conn.sendall(ANSWER[:-6])
    conn.close()


def stalls_the_body(conn: socket.socket, request: bytes) -> None:
    conn.sendall(ANSWER[:-6])
    threading.Event().wait(1.0)


def never_answers(conn: socket.socket, request: bytes) -> None:
    threading.Event().wait(1.0)


def garbles_the_status(conn: socket.socket, request: bytes) -> None:
    conn.sendall(b"HTTP/9 what\r\n\r\n")
    conn.close()


def urlopen_not_expected(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("a direct route went through urlopen")


@contextlib.contextmanager
def transport(
    port: int, *, direct: bool, monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> Iterator[Transport]:
    settings = {"read_timeout": 0.5, "connect_timeout": 0.5, **settings}
    with monkeypatch.context() as patch:
        if direct:  # and never through urlopen
            patch.setattr(HTTPConnectionPool, "urlopen", urlopen_not_expected)
        else:
            patch.setattr(http_direct, "serves", lambda pool, target: False)
        sender = Transport(
            SANDBOX,
            ClientSettings(base_url=f"http://127.0.0.1:{port}/rest", **settings),
            threading.Event(),
        )
        try:
            yield sender
        finally:
            sender.close()


def outcome(sender: Transport, port: int) -> tuple[Any, ...]:
    status, failure, body = sender.attempt(
        "POST", f"http://127.0.0.1:{port}/rest/sites/s/leads", b'{"id": "1"}'
    )
    if failure is None:
        return (status, body)
    message = failure.error.error.replace(str(port), "PORT")  # each server has its own port
    return (status, failure.key, failure.retryable, failure.maybe_applied, message)


FAULTS: dict[str, Behaviour] = {
    "closes_without_answer": closes_without_answer,
    "resets": resets,
    "cuts_the_body": cuts_the_body,
    "stalls_the_body": stalls_the_body,
    "never_answers": never_answers,
    "garbles_the_status": garbles_the_status,
}


TIMED = {"stalls_the_body", "never_answers"}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_reads_as_urlopen_reads_it(fault: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}
    for direct in (True, False):
        with scripted_server(FAULTS[fault]) as (port, requests, _):
            with transport(
                port, direct=direct, monkeypatch=monkeypatch, read_timeout=0.3
            ) as sender:
                seen[direct] = outcome(sender, port)
            assert len(requests) == 1
    direct, through_urlopen = seen[True], seen[False]
    if fault in TIMED:  # the try's deadline and the socket's timeout race: either says so
        direct, through_urlopen = direct[:4], through_urlopen[:4]
    assert direct == through_urlopen
    assert seen[True][0] == 0 and seen[True][3] is True  # no answer; the request went out


def test_a_refused_connection_was_not_applied_on_either_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    seen = []
    for direct in (True, False):
        with transport(port, direct=direct, monkeypatch=monkeypatch) as sender:
            seen.append(outcome(sender, port))
    assert seen[0] == seen[1]
    assert seen[0][1:4] == ("connection", True, False)


def test_a_kept_alive_connection_serves_the_next_try(monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        scripted_server(answers) as (port, requests, accepted),
        transport(port, direct=True, monkeypatch=monkeypatch) as sender,
    ):
        assert [outcome(sender, port) for _ in range(3)] == [(201, b'{"id": "x"}')] * 3
    assert (len(requests), accepted[0]) == (3, 1)


@pytest.mark.parametrize("says_so", [True, False])
def test_a_connection_the_server_closed_is_not_used_again(
    says_so: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An answer with ``Connection: close``, or a connection dropped while idle: a new one."""
    closed = threading.Semaphore(0)

    def answers_and_closes(conn: socket.socket, request: bytes) -> None:
        head, _, body = ANSWER.partition(b"\r\n\r\n")
        conn.sendall(head + (b"\r\nConnection: close" if says_so else b"") + b"\r\n\r\n" + body)
        conn.close()
        closed.release()

    with (
        scripted_server(answers_and_closes) as (port, requests, accepted),
        transport(port, direct=True, monkeypatch=monkeypatch) as sender,
    ):
        for _ in range(3):
            assert outcome(sender, port) == (201, b'{"id": "x"}')
            assert closed.acquire(timeout=5)  # the next try finds the connection closed
    assert (len(requests), accepted[0]) == (3, 3)


def test_an_answer_saying_connection_close_ends_the_connection_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Even while the server still holds the connection open: the next try takes a new one
    (sent on the old one, it could meet the server closing it, and end in doubt)."""

    def says_close_but_stays(conn: socket.socket, request: bytes) -> None:
        head, _, body = ANSWER.partition(b"\r\n\r\n")
        conn.sendall(head + b"\r\nConnection: close\r\n\r\n" + body)

    with (
        scripted_server(says_close_but_stays) as (port, requests, accepted),
        transport(port, direct=True, monkeypatch=monkeypatch) as sender,
    ):
        for _ in range(3):
            assert outcome(sender, port) == (201, b'{"id": "x"}')
    assert (len(requests), accepted[0]) == (3, 3)


@pytest.mark.parametrize(
    ("method", "data"),
    [("POST", b'{"id": "1"}'), ("PATCH", b'{"id": "1"}'), ("POST", b""), ("GET", b"")],
)
def test_the_request_on_the_wire_is_the_one_urlopen_sends(
    method: str, data: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same request line, the same headers (their order aside), the same body, in one write."""
    seen = {}
    for direct in (True, False):
        with scripted_server(answers) as (port, requests, _):
            with transport(port, direct=direct, monkeypatch=monkeypatch) as sender:
                sender.attempt(method, f"http://127.0.0.1:{port}/rest/sites/s/leads", data)
            head, _, body = requests[0].partition(b"\r\n\r\n")
            first, *headers = head.replace(str(port).encode(), b"PORT").split(b"\r\n")
            seen[direct] = (first, sorted(headers), body)
    assert seen[True] == seen[False]
    assert seen[True][0] == method.encode() + b" /rest/sites/s/leads HTTP/1.1"
    assert b"Host: 127.0.0.1:PORT" in seen[True][1] and seen[True][2] == data
    length = [h for h in seen[True][1] if h.lower().startswith(b"content-length:")]
    assert length == ([] if method == "GET" else [b"Content-Length: %d" % len(data)])


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "rg-import", "Content-Type": "application/json"},
        {"User-Agent": "rg-import", "Accept-Encoding": "gzip", "Host": "api.example.com"},
    ],
)
def test_a_head_without_host_or_accept_encoding_gets_those_urlopen_gives_it(
    headers: dict[str, str],
) -> None:
    """http.client adds ``Host`` and ``Accept-Encoding: identity`` when the headers name neither.

    (urllib3 also adds a ``User-Agent`` when there is none: the transport's headers always have one.)
    """
    seen = []
    for direct in (True, False):
        with scripted_server(answers) as (port, requests, _):
            routes = Routes(1, trust_env=False)
            pool, target = routes.for_url(f"http://127.0.0.1:{port}/rest/sites/s/leads")
            if direct:
                http_direct.exchange(pool, "POST", target, b"{}", headers, (2, 5))
            else:
                pool.urlopen("POST", target, body=b"{}", headers=headers, retries=False)
            routes.close()
            head = requests[0].partition(b"\r\n\r\n")[0].replace(str(port).encode(), b"PORT")
            seen.append(sorted(head.split(b"\r\n")[1:]))
    assert seen[0] == seen[1]
    assert (b"Accept-Encoding: identity" in seen[0]) is ("Accept-Encoding" not in headers)
    assert (b"Host: 127.0.0.1:PORT" in seen[0]) is ("Host" not in headers)


def test_a_header_value_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    """The head's lines are checked as http.client checks them: no header can be smuggled."""
    with scripted_server(answers) as (port, requests, _):
        routes = Routes(1, trust_env=False)
        pool, target = routes.for_url(f"http://127.0.0.1:{port}/rest/sites/s/leads")
        with pytest.raises(ValueError, match="Invalid header value"):
            http_direct.exchange(
                pool, "POST", target, b"{}", {"X-Note": "a\r\nX-Smuggled: 1"}, (2, 5)
            )
        reply, _ = http_direct.exchange(pool, "POST", target, b"{}", {"X-Note": "a"}, (2, 5))
        routes.close()
    assert reply.status == 201 and len(requests) == 1 and b"X-Smuggled" not in requests[0]


@pytest.mark.parametrize(
    ("target", "served"),
    [
        ("/rest/sites/s/leads", True),
        ("/rest/sites/a%2Fb/leads?x=1", True),
        ("/rest/my api/leads", False),  # urllib3 percent-encodes the space
        ("/rest/sites/a%2fb/leads", False),  # and upper-cases the escape
    ],
)
def test_odd_targets_and_proxied_routes_go_through_urlopen(
    target: str, served: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = Routes(2, trust_env=True)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    direct, _ = routes.for_url("http://127.0.0.1:9/rest")
    assert http_direct.serves(direct, target) is served
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    proxied, _ = routes.for_url("http://api.rg-import.test/rest")
    assert http_direct.serves(proxied, target) is False
    routes.close()


def test_https_on_a_direct_route_is_verified_against_the_ca_bundle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Connecting (TLS and its certificate check) stays urllib3's on the direct path."""
    for name in (*PROXY_ENV, "NO_PROXY", "no_proxy", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(CA_BUNDLE))  # the test CA signed 127.0.0.1
    lead = b'{"id": "1"}'
    headers = {"Content-Type": "application/json"}
    with recording_server(tls=True) as (port, seen):
        url = f"https://127.0.0.1:{port}/rest/sites/s/leads"
        trusting = Routes(2, trust_env=True)
        pool, target = trusting.for_url(url)
        assert http_direct.serves(pool, target)
        for _ in range(2):
            reply, content = http_direct.exchange(pool, "POST", target, lead, headers, (2, 5))
            assert (reply.status, content) == (201, b'{"id": "x"}')
        trusting.close()
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")  # certifi's bundle does not know the test CA
        doubting = Routes(2, trust_env=True)
        pool, target = doubting.for_url(url)
        with pytest.raises(SSLError):
            http_direct.exchange(pool, "POST", target, lead, headers, (2, 5))
        doubting.close()
    assert [request["body"] for request in seen] == [lead, lead]
