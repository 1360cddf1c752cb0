"""The circuit breaker that stops a whole run, and says why.

It opens on any auth failure, after a run of consecutive requests that failed
for transport or server reasons or got a 2xx that is not the API's JSON, when
the server asks for a wait longer than the run sits out, on an interrupt, and
when the ledger cannot be written.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from importer.errors import ApiError, AuthError, TransportError, UnexpectedAnswerError


class CircuitBreaker:
    """Opens on any auth failure, or after N consecutive transport/server failures.

    The message follows the failure that opened it: an address that cannot be
    reached is named, and a run of 2xx answers that are not the API's JSON
    points at whatever answers in the API's place (a proxy, captive portal, SSO).
    """

    def __init__(self, threshold: int):
        self.threshold = threshold
        self._failures = 0
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.write_error: Exception | None = None  # set by halt()
        self.stop = threading.Event()

    def success(self) -> None:
        with self._lock:
            self._failures = 0

    def failure(self, error: ApiError) -> None:
        with self._lock:
            if isinstance(error, AuthError):
                self._open(
                    f"the API refused the credentials for this site ({error}); check RG_USERNAME/RG_PASSWORD and --site"
                )
                return
            self._failures += 1
            if self._failures >= self.threshold:
                self._open(_breaker_reason(self._failures, error))

    def server_asks_to_wait(self, seconds: float) -> None:
        """Open: the server keeps answering 429 with a wait longer than the run sits out."""
        until = (datetime.now() + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M")
        self.interrupt(
            f"the API keeps asking to wait {_duration(seconds)} before sending more "
            f"(429 with Retry-After); run again after {until} to resume"
        )

    def interrupt(self, reason: str) -> None:
        """Open at once: Ctrl-C, or an answer every request of the run would get."""
        with self._lock:
            self._open(reason)

    def halt(self, error: Exception) -> None:
        """Open at once because a file the run writes failed; the first such error is kept."""
        with self._lock:
            if self.write_error is None:
                self.write_error = error
            self._open(str(error))

    def _open(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.stop.set()


def _breaker_reason(failures: int, error: ApiError) -> str:
    """Why the circuit breaker opened, after ``failures`` failures ending in ``error``."""
    if isinstance(error, UnexpectedAnswerError):
        return (
            f"{failures} requests in a row got a success status without the API's answer "
            f"(last: {error}); something other than Real Geeks is answering at {_base(error.url)}, "
            "such as a proxy, a captive portal (hotel or guest Wi-Fi) or a single sign-on page: "
            "check the network or proxy settings and --base-url, then run again"
        )
    if never_reached(error):
        return (
            f"{failures} requests in a row could not reach {_base(error.url)} ({error.error}); "
            "nothing of them was applied: check the network and --base-url, then run again"
        )
    return (
        f"{failures} requests in a row failed ({error}); the API looks unavailable, try again later"
    )


def _duration(seconds: float) -> str:
    """A wait in words: 45 s, 20 min, 3 h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{round(seconds / 3600, 1):g} h"


def never_reached(exc: ApiError) -> bool:
    """No try of the request reached the server (refused, DNS, connect timeout, TLS)."""
    return isinstance(exc, TransportError) and not exc.maybe_applied


def _base(url: str) -> str:
    """The API address of a request's URL (what precedes ``/sites/``; else its origin)."""
    if "/sites/" in url:
        return url.split("/sites/", 1)[0]
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
