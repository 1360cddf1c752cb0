"""One try of a request over the wire, and what a try that got no answer means.

``Transport.attempt`` sends once and classifies the outcome; the retries, the
waits and the places in flight around it are ``importer.send.client``'s.
``read_timeout`` is the most one try may take, from connecting to the last byte
of the answer; ``importer.send.http_deadline`` enforces it (urllib3 alone bounds
each socket read, which a trickling server never trips) and also cuts tries short
when the run stops.

A try goes through urllib3 directly: requests' per-try work (a PreparedRequest
and its copies, a Response, case-insensitive header dicts, hooks, the cookie
jar's mock request) was most of a lead's CPU. What requests would add is fixed
once per client: its default headers under ours, the ``Authorization`` header,
and per origin the pool, proxy and CA bundle (``importer.send.http_routes``).
urllib3's pools are thread-safe and shared by every thread; cookies a server
sets are kept per thread, as each thread had its own requests ``Session``.
A try on a direct route (no proxy) skips even ``urlopen``: it is sent and read
with http.client on a connection of the same pool (``importer.send.http_direct``),
and raises what ``urlopen`` would, so both read the same here.
"""

from __future__ import annotations

import threading
import urllib.request
from collections import Counter
from collections.abc import Mapping
from http.client import HTTPException, HTTPMessage, HTTPResponse
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import urlsplit

import requests.utils
from urllib3 import BaseHTTPResponse, HTTPHeaderDict, Timeout
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util import make_headers

from importer import __version__
from importer.config import Credentials, is_loopback
from importer.errors import Stopping, TransportError
from importer.send import http_direct
from importer.send.client_settings import ClientSettings
from importer.send.http_deadline import Watchdog
from importer.send.http_routes import Routes
from importer.send.retry_policy import Failure, classify_answer, classify_success

__all__ = [
    "JSON_CONTENT_TYPE",
    "USER_AGENT",
    "Transport",
    "deadline_failure",
    "short_reason",
    "transport_failure",
]

USER_AGENT = f"rg-import/{__version__}"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"

# What a try that got no answer raised: urllib3's errors, and what http.client
# or the socket raise once the watchdog has shut a socket down under them.
_NO_ANSWER = (HTTPError, OSError, HTTPException)

# An answer: urllib3's through ``urlopen``, http.client's through ``http_direct``
# (both have ``status``, ``reason`` and ``headers`` read with ``get``).
Answer = BaseHTTPResponse | HTTPResponse


class Transport:
    """Sends single tries for every thread of a client, and counts them.

    ``stop`` cuts a try in flight short (``Stopping``). The counts are the
    client's stats: tries per outcome, and the retries the client announces.
    """

    def __init__(
        self, credentials: Credentials, settings: ClientSettings, stop: threading.Event
    ) -> None:
        self._credentials = credentials
        self.settings = settings
        self._watchdog = Watchdog(stop)
        # The sandbox is on this machine: an HTTP(S)_PROXY from the environment
        # must not route it through a proxy (nor REQUESTS_CA_BUNDLE apply).
        loopback = is_loopback(urlsplit(settings.base_url).hostname or "")
        self._timeout = Timeout(connect=settings.connect_timeout, read=settings.read_timeout)
        self._timeouts = (settings.connect_timeout, settings.read_timeout)  # http_direct's
        self._routes = Routes(settings.pool_size, trust_env=not loopback, timeout=self._timeout)
        self._headers: dict[str, str] | None = None  # made on the first try
        self._local = threading.local()  # .cookies: the thread's CookieJar
        self._stats_lock = threading.Lock()
        self._by_status: Counter[str] = Counter()
        self._total = 0
        self._retries = 0

    def attempt(
        self, method: str, url: str, data: bytes, *, expected: type = dict
    ) -> tuple[int, Failure | None, bytes]:
        """Send once; return the status, None on success or else the classified
        failure, and the answer's body (empty when none came).

        Success is a 2xx carrying the API's JSON object (a JSON list when
        ``expected`` is ``list``); another 2xx body is a failure.
        """
        with self._watchdog.watch(self.settings.read_timeout) as watch:
            try:
                reply, content = self._exchange(method, url, data)
            except Exception as exc:
                if watch.fired is None and not isinstance(exc, _NO_ANSWER):
                    raise
                error: Exception | None = exc
            else:
                error = None
        # A try cut short is never a success, even when http.client took the
        # truncated bytes for a whole answer (a header cut off reads as the end
        # of the headers). The request may have gone out before the cut.
        if watch.fired == "stopped":
            raise Stopping(maybe_applied=True)
        if watch.fired == "deadline":
            failure = deadline_failure(method, url, self.settings.read_timeout)
            self._count(failure.key)
            return 0, failure, b""
        if error is not None:
            failure = transport_failure(error, method, url, self.settings.read_timeout)
            self._count(failure.key)
            return 0, failure, b""
        status = reply.status
        self._count(str(status))
        # urllib3's HTTPHeaderDict, or http.client's HTTPMessage: both look names up
        # without regard to case with ``get``, all the classifiers use
        headers: Mapping[str, str] = reply.headers  # type: ignore[assignment]
        if 200 <= status < 300:
            # a captive portal or SSO proxy answers 200 with its own page
            foreign = classify_success(
                status, headers, content, method=method, url=url, expected=expected
            )
            return status, foreign, content
        failure = classify_answer(status, reply.reason, headers, content, method=method, url=url)
        return status, failure, content

    def count_retry(self) -> None:
        with self._stats_lock:
            self._retries += 1

    def stats(self) -> dict[str, Any]:
        """Tries sent, retries made, and tries per outcome (see ``Client.stats``)."""
        with self._stats_lock:
            return {
                "total": self._total,
                "retries": self._retries,
                "by_status": dict(self._by_status),
            }

    def close(self) -> None:
        """Close every connection."""
        self._watchdog.close()
        self._routes.close()

    def _exchange(self, method: str, url: str, data: bytes) -> tuple[Answer, bytes]:
        """One request and its whole answer, read within the try's deadline.

        A direct route (no proxy) skips ``urlopen`` (``importer.send.http_direct``).
        """
        pool, target = self._routes.for_url(url)
        headers = self._request_headers(url)
        reply: Answer
        if http_direct.serves(pool, target):
            reply, content = http_direct.exchange(
                pool, method, target, data, headers, self._timeouts
            )
        else:
            reply, content = self._exchange_through_urlopen(pool, method, target, data, headers)
        if "set-cookie" in reply.headers:
            self._keep_cookies(url, reply)
        return reply, content

    def _exchange_through_urlopen(
        self,
        pool: HTTPConnectionPool,
        method: str,
        target: str,
        data: bytes,
        headers: dict[str, str],
    ) -> tuple[Answer, bytes]:
        """``_exchange`` through urllib3's ``urlopen``: proxies, and targets it percent-encodes."""
        # no retries (ours are the client's: urllib3 must not resend bodies
        # behind our back), no redirects
        reply = pool.urlopen(
            method,
            target,
            body=data or None,
            headers=headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=self._timeout,
            preload_content=False,
            decode_content=False,
        )
        try:
            content = reply.read(decode_content=True)
        except ReadTimeoutError as exc:
            # The head came: a body that stops coming is a connection lost (as
            # requests said), not a request without an answer.
            raise ProtocolError("Connection broken: the body timed out", exc) from exc
        return reply, content

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self._total += 1
            self._by_status[key] += 1

    def _request_headers(self, url: str) -> dict[str, str]:
        """The headers of a try: requests' defaults under ours, and a thread's cookies.

        ``Host`` and ``Content-Length`` (none for a GET without a body) are added per
        request, by urllib3 or by ``http_direct`` as http.client adds them. The mapping is
        never changed once made: ``http_direct`` keeps its header lines by its identity.
        """
        headers = self._headers
        if headers is None:
            headers = dict(requests.utils.default_headers())
            headers.update(
                {
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                    "Content-Type": JSON_CONTENT_TYPE,
                }
            )
            # latin-1, as requests encodes Basic credentials; raised at the first try, as before
            credentials = f"{self._credentials.username}:{self._credentials.password}"
            headers["Authorization"] = make_headers(basic_auth=credentials)["authorization"]
            self._headers = headers
        jar: CookieJar | None = getattr(self._local, "cookies", None)
        if not jar:  # no cookie yet (an empty CookieJar is false)
            return headers
        request = urllib.request.Request(url)
        jar.add_cookie_header(request)
        cookie = request.get_header("Cookie")
        return headers if cookie is None else {**headers, "Cookie": cookie}

    def _keep_cookies(self, url: str, reply: Answer) -> None:
        """Keep the cookies an answer sets, for the calling thread's next tries."""
        jar: CookieJar | None = getattr(self._local, "cookies", None)
        if jar is None:
            jar = self._local.cookies = CookieJar()
        jar.extract_cookies(_CookieAnswer(reply.headers), urllib.request.Request(url))  # type: ignore[arg-type]


class _CookieAnswer:
    """What ``CookieJar.extract_cookies`` reads of an answer: its headers."""

    def __init__(self, headers: HTTPHeaderDict | HTTPMessage) -> None:
        self._headers = headers

    def info(self) -> _CookieAnswer:
        return self

    def get_all(self, name: str, default: list[str]) -> list[str]:
        return self._headers.get_all(name) or default


def deadline_failure(method: str, url: str, seconds: float) -> Failure:
    """A try cut short at its deadline: the server may have applied it."""
    error = TransportError(
        f"no complete answer within the {seconds:g} s timeout",
        status=None,
        method=method,
        url=url,
    )
    return Failure(error, "timeout", retryable=True, maybe_applied=True)


def transport_failure(exc: BaseException, method: str, url: str, read_timeout: float) -> Failure:
    """Classify a try that produced no HTTP answer, from what urllib3 raised."""
    common: dict[str, Any] = {"status": None, "method": method, "url": url}
    if isinstance(exc, SSLError):
        # A certificate or TLS failure does not heal by retrying.
        error = TransportError(
            f"TLS handshake failed: {short_reason(exc)}; check the base URL and the system CA store",
            **common,
        )
        return Failure(error, "connection", retryable=False, maybe_applied=False)
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
        error = TransportError(f"connecting timed out: {short_reason(exc)}", **common)
        return Failure(error, "timeout", retryable=True, maybe_applied=False)
    if isinstance(exc, ReadTimeoutError):
        error = TransportError(f"no answer within the {read_timeout:g} s read timeout", **common)
        return Failure(error, "timeout", retryable=True, maybe_applied=True)
    if isinstance(exc, NewConnectionError | ProxyError):
        # Opening the connection failed (refused, DNS, unreachable, or the proxy
        # on the way): the request never left, so resending is safe.
        error = TransportError(f"could not connect: {short_reason(exc)}", **common)
        return Failure(error, "connection", retryable=True, maybe_applied=False)
    # Closed or reset after the request went out (or while reading the answer).
    error = TransportError(f"connection lost before the answer: {short_reason(exc)}", **common)
    return Failure(error, "connection", retryable=True, maybe_applied=True)


def short_reason(exc: BaseException) -> str:
    """The innermost reason of a urllib3 (or requests) exception, in one short line."""
    reason: BaseException = exc
    seen = set()
    while id(reason) not in seen:
        seen.add(id(reason))
        inner = getattr(reason, "reason", None)
        if isinstance(inner, BaseException):
            reason = inner
            continue
        nested = [arg for arg in reason.args if isinstance(arg, BaseException)]
        if nested:
            reason = nested[0]
            continue
        break
    text = " ".join(str(reason).split()) or type(reason).__name__
    return text[:160]
