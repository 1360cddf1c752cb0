"""One try of a request over the wire, and what a try that got no answer means.

``Transport.attempt`` sends once and classifies the outcome; the retries, the
waits and the places in flight around it are ``importer.send.client``'s.
``read_timeout`` is the most one try may take, from connecting to the last byte
of the answer; ``importer.send.http_deadline`` enforces it (urllib3 alone bounds
each socket read, which a trickling server never trips) and also cuts tries short
when the run stops.

Connections: one ``HTTPAdapter`` (one urllib3 pool of ``pool_size`` connections
per host) is shared by every thread, and each thread gets its own light
``requests.Session`` mounted on it. urllib3's pool is thread-safe; a Session adds
mutable state (cookie jar, default headers, redirect handling) that requests
does not promise to be thread-safe, so sessions are not shared between threads.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.cookies import extract_cookies_to_jar
from urllib3.exceptions import MaxRetryError

from importer import __version__
from importer.config import Credentials, is_loopback
from importer.errors import Stopping, TransportError
from importer.send.client_settings import ClientSettings
from importer.send.http_deadline import Watchdog, WatchedAdapter
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
_PREPARED_KEPT = 64  # prepared requests kept per thread (one per lead URL for updates)


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
        self._adapter = WatchedAdapter(
            pool_connections=settings.pool_size,
            pool_maxsize=settings.pool_size,
            max_retries=0,  # retries are ours: urllib3 must not resend bodies behind our back
        )
        self._local = threading.local()
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
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
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        session = self._session()
        with self._watchdog.watch(self.settings.read_timeout) as watch:
            try:
                prepared, environment = self._prepared(session, method, url, data)
                # the adapter, not Session.send: no redirects, no hooks, so all that
                # Session.send adds is keeping cookies, done here when one comes
                reply = self._adapter.send(prepared, timeout=timeout, **environment)
                reply.content  # noqa: B018 (read within the deadline, as stream=False does)
                if "set-cookie" in reply.headers:
                    extract_cookies_to_jar(session.cookies, prepared, reply.raw)
            except Exception as exc:
                if watch.fired is None and not isinstance(exc, requests.RequestException):
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
            assert isinstance(error, requests.RequestException)
            failure = transport_failure(error, method, url, self.settings.read_timeout)
            self._count(failure.key)
            return 0, failure, b""
        self._count(str(reply.status_code))
        if 200 <= reply.status_code < 300:
            # a captive portal or SSO proxy answers 200 with its own page
            foreign = classify_success(
                reply.status_code,
                reply.headers,
                reply.content,
                method=method,
                url=url,
                expected=expected,
            )
            return reply.status_code, foreign, reply.content
        failure = classify_answer(
            reply.status_code, reply.reason, reply.headers, reply.content, method=method, url=url
        )
        return reply.status_code, failure, reply.content

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
        for session in list(self._sessions):
            session.close()
        self._adapter.close()

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self._total += 1
            self._by_status[key] += 1

    def _prepared(
        self, session: requests.Session, method: str, url: str, data: bytes
    ) -> tuple[requests.PreparedRequest, dict[str, Any]]:
        """The request ``session.request`` would send, and its settings from the environment.

        What does not depend on the body (URL, headers, auth, the proxies and CA
        bundle from the environment) is worked out once per method and URL and
        kept for the thread's session: doing it again for every try was a good
        share of a lead's CPU. A new cookie of the session starts the cache afresh.
        """
        cache: dict[tuple[str, str], tuple[requests.PreparedRequest, dict[str, Any]]]
        cache = self._local.prepared
        if len(session.cookies) != self._local.cookies or len(cache) >= _PREPARED_KEPT:
            cache.clear()
            self._local.cookies = len(session.cookies)
        found = cache.get((method, url))
        if found is None:
            template = session.prepare_request(requests.Request(method, url))
            environment = dict(session.merge_environment_settings(url, {}, None, None, None))
            found = cache[method, url] = (template, environment)
        prepared = found[0].copy()
        if data:  # what prepare_body does with bytes; the template says "0" or nothing
            prepared.body = data
            prepared.headers["Content-Length"] = str(len(data))
        return prepared, found[1]

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.mount("https://", self._adapter)
            session.mount("http://", self._adapter)
            session.auth = (self._credentials.username, self._credentials.password)
            if is_loopback(urlsplit(self.settings.base_url).hostname or ""):
                # The sandbox is on this machine: an HTTP(S)_PROXY from the
                # environment must not route it through a proxy.
                session.trust_env = False
            session.headers.update(
                {
                    "User-Agent": USER_AGENT,
                    "Accept": "application/json",
                    "Content-Type": JSON_CONTENT_TYPE,
                }
            )
            self._local.session = session
            self._local.prepared = {}
            self._local.cookies = 0
            self._sessions.add(session)
        return session


def deadline_failure(method: str, url: str, seconds: float) -> Failure:
    """A try cut short at its deadline: the server may have applied it."""
    error = TransportError(
        f"no complete answer within the {seconds:g} s timeout",
        status=None,
        method=method,
        url=url,
    )
    return Failure(error, "timeout", retryable=True, maybe_applied=True)


def transport_failure(
    exc: requests.RequestException, method: str, url: str, read_timeout: float
) -> Failure:
    """Classify an exchange that produced no HTTP answer."""
    common: dict[str, Any] = {"status": None, "method": method, "url": url}
    if isinstance(exc, requests.exceptions.SSLError):
        # A certificate or TLS failure does not heal by retrying.
        error = TransportError(
            f"TLS handshake failed: {short_reason(exc)}; check the base URL and the system CA store",
            **common,
        )
        return Failure(error, "connection", retryable=False, maybe_applied=False)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        error = TransportError(f"connecting timed out: {short_reason(exc)}", **common)
        return Failure(error, "timeout", retryable=True, maybe_applied=False)
    if isinstance(exc, requests.exceptions.Timeout):
        error = TransportError(f"no answer within the {read_timeout:g} s read timeout", **common)
        return Failure(error, "timeout", retryable=True, maybe_applied=True)
    if (
        isinstance(exc, requests.exceptions.ConnectionError)
        and exc.args
        and isinstance(exc.args[0], MaxRetryError)
    ):
        # urllib3 reports a failure to *open* the connection this way (refused,
        # DNS, unreachable): the request never left, so resending is safe.
        error = TransportError(f"could not connect: {short_reason(exc)}", **common)
        return Failure(error, "connection", retryable=True, maybe_applied=False)
    # Closed or reset after the request went out (or while reading the answer).
    error = TransportError(f"connection lost before the answer: {short_reason(exc)}", **common)
    return Failure(error, "connection", retryable=True, maybe_applied=True)


def short_reason(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 exception, in one short line."""
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
