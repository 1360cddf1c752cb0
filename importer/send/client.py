"""The HTTP client for the Real Geeks Incoming Leads API; it owns all network policy.

Timeouts, retries with capped exponential backoff and full jitter, ``Retry-After``,
the shared rate limiter, error classification and the "did the server perhaps
apply it?" bookkeeping are applied here. The policy itself is plain data and functions
in ``client_settings`` (the settings), ``retry_policy`` (what is retried, after how long)
and ``http_errors`` (reading error answers); this module runs the retry loop around single
tries, which ``transport`` sends and classifies, each taken in turn through ``in_flight``.
The HTTP library is the business of ``transport`` (urllib3), ``http_routes``,
``http_deadline`` and ``http_head`` alone (all in ``importer.send``).

Deadlines: ``read_timeout`` is the most one try may take, from connecting to the last
byte of the answer (``importer.send.transport``). Every wait (a retry, the rate limiter,
a free place among the ``max_in_flight`` requests) ends at once on ``stop``: ``Stopping``.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from importer.config import Credentials
from importer.errors import ApiError
from importer.send.client_settings import ClientSettings
from importer.send.concurrency import ConcurrencyLimit
from importer.send.in_flight import InFlight
from importer.send.retry_policy import Failure, retry_delay
from importer.send.throttle import RateLimiter
from importer.send.transport import Transport
from importer.send.users import User, parse_users

__all__ = ["AttemptHook", "Client", "Response", "RetryEvent"]

log = logging.getLogger(__name__)

# (method, url, attempt, status or 0, failure kind or None, seconds): see ``Client``
AttemptHook = Callable[[str, str, int, int, str | None, float], None]


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
    content: bytes = field(default=b"", repr=False, compare=False)  # the answer's body


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
    A ``concurrency`` limit (``--workers auto``) replaces ``max_in_flight``:
    the bound then moves with the answers (``importer.send.concurrency``).
    ``sleep`` (default: wait on ``stop``) and ``rng`` are injectable for tests;
    ``on_retry`` is called before every retry wait, and ``on_attempt`` after
    every try that got an answer or failed, with ``(method, url, attempt,
    status, failure, seconds)``: the status (0 when no answer came), the
    failure's kind (None on success) and how long the try took.
    """

    def __init__(
        self,
        credentials: Credentials,
        settings: ClientSettings | None = None,
        *,
        rate_limiter: RateLimiter | None = None,
        stop: threading.Event | None = None,
        max_in_flight: int | None = None,
        concurrency: ConcurrencyLimit | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        on_attempt: AttemptHook | None = None,
    ) -> None:
        self._credentials = credentials
        self.settings = settings if settings is not None else ClientSettings()
        self._limiter = rate_limiter
        self.concurrency = concurrency  # read by the progress display
        stop = stop if stop is not None else threading.Event()
        self._in_flight = InFlight(stop, max_in_flight, rate_limiter, sleep, concurrency)
        self._transport = Transport(credentials, self.settings, stop)
        self._rng = rng if rng is not None else random.Random()
        self._rng_lock = threading.Lock()
        self._on_retry = on_retry
        self._on_attempt = on_attempt
        self._closed = False
        self._users: dict[str, tuple[User, ...]] = {}  # per site, asked once per client
        self._users_lock = threading.Lock()

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

    def list_users(self, site: str) -> list[User]:
        """GET ``/sites/{site}/users``: the site's agents and lenders, in the API's order.

        Asked once per site for the life of the client (one run): later calls
        return the same list. A read, so every failure the policy retries is
        retried; 404 (unknown site) is not. Raises an ``ApiError`` subclass:
        ``AuthError`` for 401/403, ``NotFoundError`` for 404,
        ``UnexpectedAnswerError`` when the answer is not a list of users.
        """
        key = site.strip().lower() if isinstance(site, str) else site
        with self._users_lock:
            cached = self._users.get(key)
        if cached is None:
            url = self._url(site, "users")
            response = self._call("GET", url, None, retry_unknown=True, expected=list)
            cached = tuple(parse_users(response.content, url=url))
            with self._users_lock:
                cached = self._users.setdefault(key, cached)
        return list(cached)

    def prepare(self) -> None:
        """Wait now for what the calling thread's next try needs: a place in flight, a rate slot.

        Call it before recording that a request is about to go out, so that a run stopping
        during the wait leaves nothing half-recorded: it raises ``Stopping`` (nothing applied,
        nothing held). The thread's next request then sends at once. Does nothing when already
        prepared; ``unprepare`` gives back what a prepare did not use."""
        self._in_flight.prepare()

    def unprepare(self) -> None:
        """Give back the place a ``prepare`` got, if no request used it."""
        self._in_flight.unprepare()

    def waiting_retries(self) -> int:  # threads waiting out a backoff or a Retry-After now
        return self._in_flight.waiting

    def stats(self) -> dict[str, Any]:
        """A snapshot: attempts sent, retries made, and attempts per outcome.

        ``by_status`` keys are status codes as strings, or ``"timeout"`` and
        ``"connection"`` for attempts that got no answer. With a ``concurrency``
        limit, ``workers`` holds its ``final`` and ``peak`` values.
        """
        stats = self._transport.stats()
        if self.concurrency is not None:
            stats["workers"] = self.concurrency.summary()
        return stats

    def close(self) -> None:
        """Close every connection; the client cannot be used afterwards."""
        self._closed = True
        self._transport.close()

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
        expected: type = dict,
    ) -> Response:
        if self._closed:
            raise RuntimeError("this Client is closed")
        data = b"" if body is None else _encode(body)  # None: a GET, no body
        started = time.monotonic()
        attempt = 0
        unknown = 0  # failed tries the server may nevertheless have applied
        not_found_seen = 0
        while True:
            attempt += 1
            status, failure, content = self._try_once(
                method, url, data, attempt, maybe_applied=unknown > 0, expected=expected
            )
            if failure is None:
                if self._limiter is not None:
                    self._limiter.on_success()
                elapsed = time.monotonic() - started
                return Response(status, attempt, unknown, elapsed, content)
            if failure.maybe_applied:
                unknown += 1
            delay = self._retry_delay(
                failure, attempt, retry_unknown, retry_not_found, not_found_seen
            )
            if failure.not_found:
                not_found_seen += 1
            if delay is None or attempt >= self.settings.max_attempts:
                raise _given_up(failure, attempt, maybe_applied=unknown > 0)
            self._announce_retry(method, url, failure, attempt, delay)
            self._in_flight.wait(delay, maybe_applied=unknown > 0)

    def _try_once(
        self,
        method: str,
        url: str,
        data: bytes,
        attempt: int,
        *,
        maybe_applied: bool,
        expected: type,
    ) -> tuple[int, Failure | None, bytes]:
        """One try in its turn; a stop while waiting for the turn raises ``Stopping``."""
        self._in_flight.enter(maybe_applied=maybe_applied)
        started = time.monotonic()
        try:
            status, failure, content = self._transport.attempt(method, url, data, expected=expected)
            self._in_flight.answered(failure)  # what --workers auto learns from
        finally:
            self._in_flight.leave()
        if self._on_attempt is not None:  # the one check a run without a log file pays
            kind = None if failure is None else failure.key
            self._on_attempt(method, url, attempt, status, kind, time.monotonic() - started)
        return status, failure, content

    def _retry_delay(
        self,
        failure: Failure,
        attempt: int,
        retry_unknown: bool,
        retry_not_found: bool,
        not_found_seen: int,
    ) -> float | None:
        """Seconds to wait before the next try, or None when the failure is final."""
        if failure.key == "429" and self._limiter is not None:
            self._limiter.on_throttled(failure.retry_after)
        return retry_delay(
            self.settings,
            failure,
            attempt,
            retry_unknown=retry_unknown,
            not_found_seen=not_found_seen,
            retry_not_found=retry_not_found,
            jitter=self._jitter,
        )

    def _announce_retry(
        self, method: str, url: str, failure: Failure, attempt: int, delay: float
    ) -> None:
        """Count the retry, log it and tell ``on_retry``, before its wait."""
        self._transport.count_retry()
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

    def _jitter(self, ceiling: float) -> float:
        """A random wait in [0, ceiling] from the RNG all worker threads share (hence the lock)."""
        with self._rng_lock:
            return self._rng.uniform(0.0, ceiling)

    def _url(self, site: str, *segments: str) -> str:
        return "/".join([_site_url(self.settings.base_url, site), *map(_segment, segments)])


@functools.lru_cache(maxsize=64)  # quoted once per site, not once per request
def _site_url(base_url: str, site: str) -> str:
    return "/".join([base_url, "sites", _segment(site)])


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


def _given_up(failure: Failure, attempt: int, *, maybe_applied: bool) -> ApiError:
    """The error a request ends with, saying how many tries it took and if one may have applied."""
    error = failure.error
    error.attempts = attempt
    error.maybe_applied = maybe_applied
    return error
