"""The sandbox's HTTP server: wire handling, routing to the app, faults and latency.

One thread per connection (keep-alive), so ``latency_ms`` is a sleep in that
connection's thread and never holds up other clients. Nothing is logged per
request: not the Authorization header, not the body.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import struct
import sys
import threading
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from importer.errors import ConfigError
from importer.sandbox.api import (
    INSPECTION_PREFIX,
    Reply,
    SandboxApp,
    error_reply,
    match_api,
    parse_body,
)
from importer.sandbox.config import SandboxConfig
from importer.sandbox.operation import FaultPicker, RateLimiter, Recorder, retry_after_header
from importer.sandbox.store import LeadStore, StoreClosed

MAX_BODY_BYTES = 5 * 1024 * 1024
_PROXY_PAGE = (
    b"<html><head><title>503 Service Unavailable</title></head>"
    b"<body><strong>Sorry...</strong> the service is temporarily unavailable. Please try again.</body></html>"
)


class _Dropped(Exception):
    """The connection must be closed without an answer (server stopping)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rg-import-sandbox"
    sys_version = ""
    timeout = 120  # seconds an idle keep-alive connection is kept
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in one write, but turn Nagle off anyway so a
        # small answer never waits for the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: never log requests (their headers carry credentials)."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by http.server itself (bad request line, ...) as JSON too."""
        self.close_connection = True
        phrase = message or HTTPStatus(code).phrase
        self._send(error_reply(code, phrase))

    # --- one request ----------------------------------------------------------

    def _dispatch(self) -> None:
        app = self.server.app
        path = self.path.split("?", 1)[0]
        try:
            raw = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._send(error_reply(413 if "large" in str(exc) else 400, str(exc)))
            return
        try:
            if path == INSPECTION_PREFIX or path.startswith(INSPECTION_PREFIX + "/"):
                self._send(app.inspect(self.command, path, self.headers.get("Authorization")))
            else:
                self._api(app, path, raw)
        except (_Dropped, StoreClosed):
            self._drop()
        except OSError:
            raise  # the client went away; handle_error stays quiet about it
        except Exception:
            # A sandbox bug: show it, and answer so the client does not hang.
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            self._send(error_reply(500, "Internal error in the sandbox itself (see its stderr)."))

    def _api(self, app: SandboxApp, path: str, raw: bytes) -> None:
        server = self.server
        match = match_api(self.command, path)
        body = parse_body(raw)
        entry = app.recorder.begin(self.command, self.path, match.route, body.value)
        wait = server.limiter.admit() if server.limiter else None
        if wait is not None:
            reply = error_reply(
                429,
                f"Too many requests: the limit is {app.config.rate_limit:g} per second; retry later.",
                (("Retry-After", retry_after_header(wait)),),
            )
            return self._answer(entry, reply)
        fault = server.faults.draw()
        if fault == "reset":
            app.recorder.finish(entry, "reset", fault)
            server.pause(server.latency_s)
            return self._reset()
        if fault == "timeout":
            app.recorder.finish(entry, "timeout", fault)
            if server.pause(app.config.fault_delay_s):
                raise _Dropped
            return self._send(
                error_reply(503, "Service unavailable: the upstream did not answer in time.")
            )
        if fault in _CANNED_FAULTS:
            return self._answer(entry, _CANNED_FAULTS[fault](app.config), fault)
        if fault in _FOREIGN_SUCCESS:
            status = 201 if match.route.startswith("create") else 200
            return self._answer(entry, _FOREIGN_SUCCESS[fault](status), fault)
        reply = app.handle(self.command, match, self.headers.get("Authorization"), body)
        if fault == "reset-after-commit":
            app.recorder.finish(entry, "reset", fault)
            server.pause(server.latency_s)
            return self._reset()
        self._answer(entry, reply)

    def _answer(self, entry: dict[str, Any], reply: Reply, fault: str | None = None) -> None:
        self.server.app.recorder.finish(entry, str(reply.status), fault)
        if self.server.pause(self.server.latency_s):
            raise _Dropped
        self._send(reply)

    # --- wire -------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The request body (Content-Length or chunked); ValueError when unusable."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if not length_header:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise ValueError("The Content-Length header is not a number.") from None
        if length < 0:
            raise ValueError("The Content-Length header is negative.")
        if length > MAX_BODY_BYTES:
            raise ValueError(f"The request body is too large (over {MAX_BODY_BYTES} bytes).")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError("The chunked request body is malformed.") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise ValueError(f"The request body is too large (over {MAX_BODY_BYTES} bytes).")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send(self, reply: Reply) -> None:
        """Write status line, headers and body in one go."""
        phrase = HTTPStatus(reply.status).phrase
        lines = [
            f"HTTP/1.1 {reply.status} {phrase}",
            f"Server: {self.server_version}",
            f"Date: {self.date_time_string()}",
        ]
        if reply.status != 204:  # a 204 has no body, and says nothing about one (RFC 9110)
            lines += [f"Content-Type: {reply.content_type}", f"Content-Length: {len(reply.body)}"]
        lines.extend(f"{name}: {value}" for name, value in reply.headers)
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + reply.body)

    def _reset(self) -> None:
        """Close the connection with a TCP RST and no answer (SO_LINGER 0)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        self.rfile.close()  # the socket really closes only once its file objects are closed
        self.connection.close()


_CANNED_FAULTS: dict[str, Callable[[SandboxConfig], Reply]] = {
    "500": lambda config: error_reply(500, "Internal server error (injected by the sandbox)."),
    "503-html": lambda config: Reply(503, _PROXY_PAGE, "text/html; charset=utf-8"),
    "429": lambda config: error_reply(
        429,
        "Too many requests (injected by the sandbox); retry later.",
        (("Retry-After", str(config.retry_after_s)),),
    ),
}


# What a captive portal or single sign-on proxy answers in the API's place.
_LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    b"<h1>Sign in to continue</h1><form method=post action=/login>"
    b"<input name=user><input name=password type=password><button>Sign in</button>"
    b"</form></body></html>"
)
_FOREIGN_SUCCESS: dict[str, Callable[[int], Reply]] = {
    "2xx-html": lambda status: Reply(status, _LOGIN_PAGE, "text/html; charset=utf-8"),
    "2xx-empty": lambda status: Reply(204, b""),
    "2xx-garbage": lambda status: Reply(status, b"OK\x00\xff<<garbage>>", "text/plain"),
}


class SandboxHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its app and can drop open connections."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, config: SandboxConfig) -> None:
        self.app = SandboxApp(config, LeadStore(config.store), Recorder())
        self.faults = FaultPicker(config.fault_rate, config.faults, config.seed)
        self.limiter = RateLimiter(config.rate_limit) if config.rate_limit else None
        self.latency_s = config.latency_ms / 1000.0
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # Writing to this pair wakes the accept loop at once when stopping.
        self._wake_reader, self._wake_writer = socket.socketpair()
        if ":" in config.host:
            self.address_family = socket.AF_INET6
        try:
            super().__init__((config.host, config.port), _Handler)
        except OSError as exc:
            self.app.store.close()
            self._wake_reader.close()
            self._wake_writer.close()
            raise ConfigError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}; "
                "pick another --port (0 picks a free one)"
            ) from exc

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on a
        # machine without DNS; the sandbox does not need it.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def serve_until_stopped(self) -> None:
        """Accept connections until ``request_stop``; each is served by its own thread."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self.stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not self.stopping.is_set():
                        self._accept_one()

    def _accept_one(self) -> None:
        try:
            request, client_address = self.get_request()
        except OSError:
            return
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def request_stop(self) -> None:
        """Make ``serve_until_stopped`` return soon; safe from a signal handler."""
        self.stopping.set()
        with contextlib.suppress(OSError):  # already closed: nothing is waiting
            self._wake_writer.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def pause(self, seconds: float) -> bool:
        """Sleep in the calling thread; True when the server began stopping meanwhile."""
        if seconds > 0:
            return self.stopping.wait(seconds)
        return self.stopping.is_set()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every connection thread by shutting its socket down."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up are normal; anything else is a sandbox bug worth one traceback."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError | StoreClosed) or self.stopping.is_set():
            return
        traceback.print_exc(file=sys.stderr)
