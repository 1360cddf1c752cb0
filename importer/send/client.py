"""The HTTP client for the Real Geeks Incoming Leads API; it owns all network policy.

Timeouts, retries with capped exponential backoff and full jitter, ``Retry-After``,
the shared rate limiter, error classification and the "did the server perhaps
apply it?" bookkeeping are applied here. The policy itself is plain data and
functions in ``importer.send.client_settings`` (the settings), ``importer.send.retry_policy``
(what is retried, after how long) and ``importer.send.http_errors`` (reading error
answers); this module does the I/O. Nothing else in the project imports
``requests``.

Deadlines: ``read_timeout`` is the most one try may take, from connecting to the
last byte of the answer; ``importer.send.http_deadline`` enforces it (urllib3 alone
bounds each socket read, which a trickling server never trips) and also cuts
tries short when the run stops. Every wait (a retry, the rate limiter, a free
place among the ``max_in_flight`` requests) ends at once when ``stop`` is set,
raising ``Stopping``.

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
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import MaxRetryError

from importer import __version__
from importer.config import Credentials, is_loopback
from importer.errors import Stopping, TransportError
from importer.send.client_settings import ClientSettings
from importer.send.http_deadline import Watchdog, WatchedAdapter
from importer.send.retry_policy import Failure, classify_answer, classify_success, retry_delay
from importer.send.throttle import RateLimiter

__all__ = ["JSON_CONTENT_TYPE", "USER_AGENT", "Client", "Response", "RetryEvent"]

log = logging.getLogger(__name__)

USER_AGENT = f"rg-import/{__version__}"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"
IN_FLIGHT_POLL_S = 0.25  # how often a thread waiting for a place in flight looks at ``stop``


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
    ``stop`` ends every wait at once and cuts tries in flight short (after a
    grace of ``http_deadline.STOP_GRACE_S``); the request then raises
    ``Stopping``. ``max_in_flight`` bounds the tries in flight across threads; a
    thread waiting to retry does not hold a place, so more threads than that can
    share the client and keep it busy while some sit out a ``Retry-After``.
    ``sleep`` (default: wait on ``stop``) and ``rng`` are injectable for tests;
    ``on_retry`` is called before every retry wait.
    """

    def __init__(
        self,
        credentials: Credentials,
        settings: ClientSettings | None = None,
        *,
        rate_limiter: RateLimiter | None = None,
        stop: threading.Event | None = None,
        max_in_flight: int | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        self._credentials = credentials
        self.settings = settings if settings is not None else ClientSettings()
        self._limiter = rate_limiter
        self._stop = stop if stop is not None else threading.Event()
        self._in_flight = threading.Semaphore(max_in_flight) if max_in_flight else None
        self._watchdog = Watchdog(self._stop)
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._rng_lock = threading.Lock()
        self._on_retry = on_retry
        self._adapter = WatchedAdapter(
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

    def prepare(self) -> None:
        """Wait now for what the calling thread's next try needs: a place in flight, a rate slot.

        Call it before recording that a request is about to go out, so that a
        run stopping during the wait leaves nothing half-recorded: it raises
        ``Stopping`` (nothing applied, nothing held). The next request of this
        thread then sends at once. Does nothing when already prepared;
        ``unprepare`` gives back what a prepare did not use.
        """
        if not getattr(self._local, "prepared", False):
            self._get_ready(maybe_applied=False)
            self._local.prepared = True

    def unprepare(self) -> None:
        """Give back the place a ``prepare`` got, if no request used it."""
        if getattr(self._local, "prepared", False):
            self._local.prepared = False
            self._leave_flight()

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
        self._watchdog.close()
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
            if getattr(self._local, "prepared", False):
                self._local.prepared = False  # this try uses what prepare() waited for
            else:
                # a stop while waiting to send: applied only if an earlier try may have been
                self._get_ready(maybe_applied=unknown > 0)
            try:
                status, failure = self._attempt(method, url, data)
            finally:
                self._leave_flight()
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
            self._wait(delay, maybe_applied=unknown > 0)

    def _wait(self, seconds: float, *, maybe_applied: bool) -> None:
        """Wait before a retry; raise ``Stopping`` as soon as the run stops."""
        if self._sleep is not None:
            try:
                self._sleep(seconds)
            except Stopping:  # an injected sleep may stop the run itself
                raise Stopping(maybe_applied=maybe_applied) from None
            stopped = self._stop.is_set()
        else:
            stopped = self._stop.wait(seconds)
        if stopped:
            raise Stopping(maybe_applied=maybe_applied)

    def _get_ready(self, *, maybe_applied: bool) -> None:
        """Wait for a place in flight, then for the rate limiter; raise ``Stopping`` holding nothing."""
        if self._stop.is_set():
            raise Stopping(maybe_applied=maybe_applied)
        if self._in_flight is not None:
            while not self._in_flight.acquire(timeout=IN_FLIGHT_POLL_S):
                if self._stop.is_set():
                    raise Stopping(maybe_applied=maybe_applied)
        try:
            if self._limiter is not None:
                self._limiter.acquire()
        except Stopping:
            self._leave_flight()
            raise Stopping(maybe_applied=maybe_applied) from None

    def _leave_flight(self) -> None:
        if self._in_flight is not None:
            self._in_flight.release()

    def _jitter(self, ceiling: float) -> float:
        """A random wait in [0, ceiling] from the RNG all worker threads share (hence the lock)."""
        with self._rng_lock:
            return self._rng.uniform(0.0, ceiling)

    def _attempt(self, method: str, url: str, data: bytes) -> tuple[int, Failure | None]:
        """Send once; return the status, and None on success or else the classified failure.

        Success is a 2xx carrying the API's JSON object; another 2xx body is a failure.
        """
        timeout = (self.settings.connect_timeout, self.settings.read_timeout)
        session = self._session()
        with self._watchdog.watch(self.settings.read_timeout) as watch:
            try:
                reply = session.request(
                    method, url, data=data, timeout=timeout, allow_redirects=False
                )
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
            failure = _deadline_failure(method, url, self.settings.read_timeout)
            self._count(failure.key)
            return 0, failure
        if error is not None:
            assert isinstance(error, requests.RequestException)
            failure = _transport_failure(error, method, url, self.settings.read_timeout)
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


def _deadline_failure(method: str, url: str, seconds: float) -> Failure:
    """A try cut short at its deadline: the server may have applied it."""
    error = TransportError(
        f"no complete answer within the {seconds:g} s timeout",
        status=None,
        method=method,
        url=url,
    )
    return Failure(error, "timeout", retryable=True, maybe_applied=True)


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
