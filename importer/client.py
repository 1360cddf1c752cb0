"""The HTTP client for the Real Geeks Incoming Leads API; it owns all network policy.

Timeouts, retries with capped exponential backoff and full jitter, ``Retry-After``,
the shared rate limiter, error classification and the "did the server perhaps
apply it?" bookkeeping are applied here. The policy itself is plain data and
functions in ``importer.client_settings`` (the settings), ``importer.retry_policy``
(what is retried, after how long) and ``importer.http_errors`` (reading error
answers); this module does the I/O. Nothing else in the project imports
``requests``.

Connections: one ``HTTPAdapter`` (one urllib3 pool of ``pool_size`` connections
per host) is shared by every thread, and each thread gets its own light
``requests.Session`` mounted on it. urllib3's pool is thread-safe; a Session adds
mutable state (cookie jar, default headers, redirect handling) that requests
does not promise to be thread-safe, so sessions are not shared between threads.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError

from importer import __version__
from importer.client_settings import ClientSettings
from importer.config import Credentials, is_loopback
from importer.errors import Stopping, TransportError
from importer.http_errors import parse_retry_after, readable_error
from importer.retry_policy import Failure, classify_answer, classify_success, retry_delay
from importer.throttle import RateLimiter

# The settings and the error readers are re-exported: callers import them from here.
__all__ = [
    "JSON_CONTENT_TYPE",
    "USER_AGENT",
    "Client",
    "ClientSettings",
    "Response",
    "RetryEvent",
    "parse_retry_after",
    "readable_error",
]

log = logging.getLogger(__name__)

USER_AGENT = f"rg-import/{__version__}"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Response:
    """A successful exchange.

    ``attempts`` is 1 when the first try succeeded; ``unknown_outcomes`` counts
    the failed tries after which the server may nevertheless have applied the
    request (a read timeout, a connection closed before the answer, a 500, 502,
    503 or 504).
    """

    status: int
    attempts: int
    unknown_outcomes: int
    elapsed: float


@dataclass(frozen=True)
class RetryEvent:
    """One retry about to happen: tells a progress display why it is waiting.

    ``status_or_kind`` is the HTTP status, or ``"timeout"`` / ``"connection"``;
    ``attempt`` is the number of the try that failed; ``delay`` the seconds
    the client will wait before the next one.
    """

    method: str
    url: str
    attempt: int
    status_or_kind: int | str
    delay: float


class Client:
    """Talks to the Incoming Leads API; safe to share between worker threads.

    Every method sends one request, retrying within the settings' bounds, and
    returns a ``Response`` or raises an ``ApiError`` subclass whose ``attempts``
    and ``maybe_applied`` say what happened. ``retry_unknown=False`` turns off
    retries after failures the server may have applied (use it for calls that
    are not idempotent, such as adding activities, and decide yourself).
    ``sleep`` and ``rng`` are injectable for tests; ``on_retry`` is called before
    every retry wait.
    """

    def __init__(
        self,
        credentials: Credentials,
        settings: ClientSettings | None = None,
        *,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        self._credentials = credentials
        self.settings = settings if settings is not None else ClientSettings()
        self._limiter = rate_limiter
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._rng_lock = threading.Lock()
        self._on_retry = on_retry
        self._adapter = HTTPAdapter(
            pool_connections=self.settings.pool_size,
            pool_maxsize=self.settings.pool_size,
            max_retries=0,  # retries are ours: urllib3 must not resend bodies behind our back
        )
        self._local = threading.local()
        self._sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()
        self._stats_lock = threading.Lock()
        self._by_status: Counter[str] = Counter()
        self._total = 0
        self._retries = 0
        self._closed = False

    # -- public API -------------------------------------------------------------

    def create_lead(
        self, site: str, lead: dict[str, Any], *, retry_unknown: bool = True
    ) -> Response:
        """POST a lead to ``/sites/{site}/leads`` (201 expected).

        Resending a create after an unknown outcome relies on the service's
        create-or-merge of a lead whose ``id`` it already has; the embedded
        ``activities`` may then be added twice, hence ``retry_unknown``.
        Raises an ``ApiError`` subclass; 404 is not retried.
        """
        return self._call("POST", self._url(site, "leads"), lead, retry_unknown=retry_unknown)

    def update_lead(
        self, site: str, lead_id: str, fields: dict[str, Any], *, retry_unknown: bool = True
    ) -> Response:
        """PATCH a lead (v1 or v2 per ``settings.update_api``); 200 expected.

        Setting fields is idempotent, but ``activities`` in ``fields`` are
        added on every try; pass ``retry_unknown=False`` when sending some.
        404 is retried ``not_found_attempts`` times. Raises an ``ApiError`` subclass.
        """
        if self.settings.update_api == "v2":
            path = self.settings.v2_path_template.format(
                site=_segment(site), lead=_segment(lead_id)
            )
            url = self.settings.server_root + path
        else:
            url = self._url(site, "leads", lead_id)
        return self._call("PATCH", url, fields, retry_unknown=retry_unknown, retry_not_found=True)

    def add_activities(
        self,
        site: str,
        lead_id: str,
        activities: list[dict[str, Any]],
        *,
        retry_unknown: bool = True,
    ) -> Response:
        """POST a JSON list of activities to ``/sites/{site}/leads/{id}/activities``.

        The service does not deduplicate activities: with ``retry_unknown=False``
        a failure that may have been applied is raised at once
        (``maybe_applied`` True) instead of being resent. 404 is retried
        ``not_found_attempts`` times. Raises an ``ApiError`` subclass.
        """
        url = self._url(site, "leads", lead_id, "activities")
        return self._call(
            "POST", url, activities, retry_unknown=retry_unknown, retry_not_found=True
        )

    def create_potential_seller_lead(
        self, site: str, lead: dict[str, Any], *, retry_unknown: bool = True
    ) -> Response:
        """POST an anonymous lead to ``/sites/{site}/potential-seller-leads`` (201 expected).

        Raises an ``ApiError`` subclass; 404 is not retried.
        """
        return self._call(
            "POST", self._url(site, "potential-seller-leads"), lead, retry_unknown=retry_unknown
        )

    def stats(self) -> dict[str, Any]:
        """A snapshot: attempts sent, retries made, and attempts per outcome.

        ``by_status`` keys are status codes as strings, or ``"timeout"`` and
        ``"connection"`` for attempts that got no answer.
        """
        with self._stats_lock:
            return {
                "total": self._total,
                "retries": self._retries,
                "by_status": dict(self._by_status),
            }

    def close(self) -> None:
        """Close every connection; the client cannot be used afterwards."""
        self._closed = True
        for session in list(self._sessions):
            session.close()
        self._adapter.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Client(base_url={self.settings.base_url!r}, username={self._credentials.username!r}, "
            f"update_api={self.settings.update_api!r})"
        )

    __str__ = __repr__

    # -- one request, with retries ----------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        body: object,
        *,
        retry_unknown: bool,
        retry_not_found: bool = False,
    ) -> Response:
        if self._closed:
            raise RuntimeError("this Client is closed")
        data = _encode(body)
        started = time.monotonic()
        attempt = 0
        unknown = 0
        not_found_seen = 0
        while True:
            attempt += 1
            if self._limiter is not None:
                self._wait(self._limiter.acquire, unknown)
            status, failure = self._attempt(method, url, data)
            if failure is None:
                if self._limiter is not None:
                    self._limiter.on_success()
                return Response(status, attempt, unknown, time.monotonic() - started)

            if failure.maybe_applied:
                unknown += 1
            if failure.key == "429" and self._limiter is not None:
                self._limiter.on_throttled(failure.retry_after)
            delay = retry_delay(
                self.settings,
                failure,
                attempt,
                retry_unknown=retry_unknown,
                not_found_seen=not_found_seen,
                retry_not_found=retry_not_found,
                jitter=self._jitter,
            )
            if failure.not_found:
                not_found_seen += 1
            if delay is None or attempt >= self.settings.max_attempts:
                error = failure.error
                error.attempts = attempt
                error.maybe_applied = unknown > 0
                raise error
            with self._stats_lock:
                self._retries += 1
            log.info(
                "retrying %s %s after %s (attempt %d) in %.2fs",
                method,
                url,
                failure.key,
                attempt,
                delay,
            )
            if self._on_retry is not None:
                kind: int | str = int(failure.key) if failure.key.isdigit() else failure.key
                self._on_retry(RetryEvent(method, url, attempt, kind, delay))
            self._wait(partial(self._sleep, delay), unknown)

    @staticmethod
    def _wait(wait: Callable[[], object], unknown: int) -> None:
        """Wait; when the run stops meanwhile, say whether an earlier try may have been applied.

        ``unknown`` counts this request's tries with an unknown outcome: with
        none, the request never reached the server and counts as not sent.
        """
        try:
            wait()
        except Stopping as stop:
            stop.maybe_applied = unknown > 0
            raise

    def _jitter(self, ceiling: float) -> float:
        """A random wait in [0, ceiling] from the RNG all worker threads share (hence the lock)."""
        with self._rng_lock:
            return self._rng.uniform(0.0, ceiling)

    def _attempt(self, method: str, url: str, data: bytes) -> tuple[int, Failure | None]:
        """Send once; return the status, and None on success or else the classified failure.

        Success is a 2xx carrying the API's JSON object; another 2xx body is a failure.
        """
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        try:
            reply = self._session().request(
                method, url, data=data, timeout=timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            failure = _transport_failure(exc, method, url, self.settings.read_timeout)
            self._count(failure.key)
            return 0, failure
        self._count(str(reply.status_code))
        if 200 <= reply.status_code < 300:
            # a captive portal or SSO proxy answers 200 with its own page
            foreign = classify_success(
                reply.status_code, reply.headers, reply.content, method=method, url=url
            )
            return reply.status_code, foreign
        failure = classify_answer(
            reply.status_code, reply.reason, reply.headers, reply.content, method=method, url=url
        )
        return reply.status_code, failure

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self._total += 1
            self._by_status[key] += 1

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
            self._sessions.add(session)
        return session

    def _url(self, site: str, *segments: str) -> str:
        return "/".join([self.settings.base_url, "sites", _segment(site), *map(_segment, segments)])


def _segment(value: str) -> str:
    """A path segment, percent-encoded so an odd id cannot change the path."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"a site or lead id must be a non-empty string, not {value!r}")
    return quote(value, safe="")


def _encode(body: object) -> bytes:
    """UTF-8 JSON; raises ValueError for NaN/Infinity, which JSON cannot carry."""
    try:
        return json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError as exc:
        raise ValueError(
            f"payload is not valid JSON ({exc}): replace NaN/Infinity values before sending"
        ) from None


def _transport_failure(
    exc: requests.RequestException, method: str, url: str, read_timeout: float
) -> Failure:
    """Classify an exchange that produced no HTTP answer."""
    common: dict[str, Any] = {"status": None, "method": method, "url": url}
    if isinstance(exc, requests.exceptions.SSLError):
        # A certificate or TLS failure does not heal by retrying.
        error = TransportError(
            f"TLS handshake failed: {_short(exc)}; check the base URL and the system CA store",
            **common,
        )
        return Failure(error, "connection", retryable=False, maybe_applied=False)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        error = TransportError(f"connecting timed out: {_short(exc)}", **common)
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
        error = TransportError(f"could not connect: {_short(exc)}", **common)
        return Failure(error, "connection", retryable=True, maybe_applied=False)
    # Closed or reset after the request went out (or while reading the answer).
    error = TransportError(f"connection lost before the answer: {_short(exc)}", **common)
    return Failure(error, "connection", retryable=True, maybe_applied=True)


def _short(exc: BaseException) -> str:
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
