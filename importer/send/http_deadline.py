"""A total deadline for each HTTP try, and cutting tries short when the run stops.

urllib3's read timeout bounds each socket read, not the exchange: a server that
trickles a byte a second never trips it and holds a worker for as long as it
likes. So every try runs under a ``Watch`` with a deadline, and one watchdog
thread per client shuts down the socket of a try that is past its deadline, or
still running ``STOP_GRACE_S`` after the run began to stop. Shutting a socket
down wakes the worker blocked on it at once (its read ends with an error), and
the client then reports a timeout, or unwinds with ``Stopping``.

How a try finds its socket: the connection classes below tell the calling
thread's current ``Watch`` which connection it is using, every time they
connect or send. A connection goes back to the pool once its answer is read and
may serve another thread's try next, so a watch shuts a connection down only
while that connection still names the watch as its current one.

The watchdog polls (at most every ``POLL_S``) rather than being woken, so a
deadline or a stop is acted on within a quarter of a second; the cost is one
idle thread per client.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from importer.send.http_head import QuickHeadersResponse

STOP_GRACE_S = 2.0  # tries in flight when the run stops get this long to finish
POLL_S = 0.25  # the watchdog's longest nap

_lock = threading.Lock()  # guards every Watch and the connections' back-references
_current = threading.local()  # .watch: the Watch of the try this thread is making


class Watch:
    """One try: its deadline, the connection it uses, and why it was cut short (if it was)."""

    __slots__ = ("conn", "deadline", "done", "fired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conn: Any = None
        self.fired: str | None = None  # "deadline" or "stopped"
        self.done = False

    def _fire(self, reason: str) -> None:
        """Shut the try's socket down (called with ``_lock`` held; repeated until it ends)."""
        if self.fired is None:
            self.fired = reason
        conn = self.conn
        if self.done or conn is None or getattr(conn, "_rg_watch", None) is not self:
            return
        sock = getattr(conn, "sock", None)
        if isinstance(sock, socket.socket):
            # socket.socket's own shutdown, also for TLS sockets: it acts on the
            # descriptor and leaves the TLS object to fail on its own.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


def attach_to_watch(conn: Any) -> None:
    """Name ``conn`` as the connection of the calling thread's current try (if it has one)."""
    watch: Watch | None = getattr(_current, "watch", None)
    if watch is None:
        return
    with _lock:
        watch.conn = conn
        conn._rg_watch = watch


class Watchdog:
    """Enforces the deadlines of every try of one client; ``stop`` cuts them short too."""

    def __init__(
        self,
        stop: threading.Event,
        *,
        grace: float = STOP_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stop = stop
        self._grace = grace
        self._clock = clock
        self._watches: set[Watch] = set()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, seconds: float) -> Iterator[Watch]:
        """Run one try of the calling thread under a deadline ``seconds`` from now."""
        watch = Watch(self._clock() + seconds)
        with _lock:
            self._watches.add(watch)
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="rg-import-watchdog", daemon=True
                )
                self._thread.start()
        _current.watch = watch
        try:
            yield watch
        finally:
            _current.watch = None
            with _lock:
                watch.done = True
                self._watches.discard(watch)

    def close(self) -> None:
        self._closed.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * POLL_S)

    def _run(self) -> None:
        stopped_at: float | None = None
        while not self._closed.is_set():
            now = self._clock()
            if stopped_at is None and self._stop.is_set():
                stopped_at = now
            cut_at = float("inf") if stopped_at is None else stopped_at + self._grace
            with _lock:
                for watch in self._watches:
                    if now >= watch.deadline:
                        watch._fire("deadline")
                    elif now >= cut_at:
                        watch._fire("stopped")
                soonest = min((w.deadline for w in self._watches), default=float("inf"))
            # Past events (a watch already cut short) are re-checked every POLL_S.
            upcoming = [t - now for t in (soonest, cut_at) if t > now]
            self._closed.wait(min([POLL_S, *upcoming]))


class _SteadyTimeout:
    """A socket whose ``settimeout`` to the timeout it has already is no system call.

    ``socket.settimeout`` switches the descriptor's blocking mode (an ``ioctl``,
    the GIL let go and taken back) even when nothing changes, and urllib3 sets
    the timeout twice per try: on a busy run that was the commonest reason for
    a sending thread to wait for the GIL.
    """

    __slots__ = ()

    def settimeout(self, value: float | None) -> None:
        if value != self.gettimeout():  # type: ignore[attr-defined]
            super().settimeout(value)  # type: ignore[misc]


class _SteadySocket(_SteadyTimeout, socket.socket):
    __slots__ = ()


class SteadySSLSocket(_SteadyTimeout, ssl.SSLSocket):
    """The ``sslsocket_class`` of the client's SSL contexts (``importer.send.http_routes``)."""


class _WatchedHTTPConnection(HTTPConnection):
    """Reports to the calling thread's ``Watch``; sends a request's head and body in one write.

    urllib3 writes the head, then the body: two system calls, two TCP segments
    and two wake-ups of the server for every request. Joining them is one of
    each (the bytes on the wire are the same).

    Once connected, the socket keeps one timeout, the pool's read timeout
    (``rg_read_timeout``), where urllib3 would switch it to the connect timeout
    to send each request and back to read its answer. A try's whole time is
    bounded by its ``Watch`` anyway (the read timeout, from connecting to the
    last byte), so sending under the read timeout changes no outcome; the
    connect timeout still bounds connecting (and the TLS handshake).
    """

    _rg_body: bytes | None = None  # the body to send along with the head
    response_class = QuickHeadersResponse  # heads read without the email parser
    rg_read_timeout: float | None = None  # set by the pool; None: urllib3's timeouts as they are

    @property
    def timeout(self) -> Any:
        steady = self.rg_read_timeout
        if steady is not None and getattr(self, "sock", None) is not None:
            return steady
        return self._rg_timeout

    @timeout.setter
    def timeout(self, value: Any) -> None:
        self._rg_timeout = value

    def connect(self) -> None:
        attach_to_watch(self)
        super().connect()
        raw = self.sock
        if type(raw) is socket.socket:  # plain http (TLS sockets come steady from the context)
            steady = _SteadySocket(fileno=raw.detach())
            steady.settimeout(raw.gettimeout())
            self.sock = steady

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        attach_to_watch(self)
        named = {name.lower() for name in headers or ()}
        if (
            not isinstance(body, bytes)
            or not body
            or kwargs.get("chunked")
            or named & {"content-length", "transfer-encoding"}
        ):
            super().request(method, url, body, headers, **kwargs)
            return
        if self.sock is None:
            self.connect()  # a proxy tunnel's CONNECT goes out on its own, before the head
        self._rg_body = body
        try:
            headers = {**(headers or {}), "Content-Length": str(len(body))}
            super().request(method, url, None, headers, **kwargs)
        finally:
            self._rg_body = None

    def send(self, data: Any) -> None:
        body = self._rg_body
        if body is not None:  # the head: the first write of the request
            self._rg_body = None
            data = bytes(data) + body
        super().send(data)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _SteadyTimeoutPool(HTTPConnectionPool):
    """Tells each new connection the pool's read timeout, the one its socket keeps."""

    def _new_conn(self) -> Any:
        conn: Any = super()._new_conn()
        read = self.timeout.read_timeout  # urllib3's default is a sentinel, not a number
        conn.rg_read_timeout = float(read) if isinstance(read, int | float) else None
        return conn


class _WatchedHTTPPool(_SteadyTimeoutPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(_SteadyTimeoutPool, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


# The pool classes to use for each scheme (``importer.send.http_routes`` sets them).
WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _WatchedHTTPPool,
    "https": _WatchedHTTPSPool,
}
