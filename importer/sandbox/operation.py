"""How the sandbox misbehaves and what it remembers about requests.

``FaultPicker`` draws injected faults from one seeded RNG, ``RateLimiter`` is a
token bucket, and ``Recorder`` keeps the per-route status counts and the
request log that the inspection routes show.
"""

from __future__ import annotations

import copy
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

ROUTES: tuple[str, ...] = (
    "create_lead",
    "update_lead",
    "update_lead_v2",
    "add_activities",
    "create_potential_seller_lead",
    "unknown",
)
REQUEST_LOG_LIMIT = 100_000  # the log keeps the newest entries; stats count everything


class FaultPicker:
    """Decides, per request, whether to inject a fault and which.

    With ``rate`` 0 it never touches the RNG. Otherwise each call draws one
    number (and a kind when it hits) under a lock, so a given ``seed`` gives
    the same sequence of faults for the same sequence of requests.
    """

    def __init__(self, rate: float, kinds: Sequence[str], seed: int | None = None) -> None:
        self._rate = rate
        self._kinds = tuple(kinds)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """The fault kind for the next request, or None for a normal answer."""
        if self._rate <= 0 or not self._kinds:
            return None
        with self._lock:
            if self._rng.random() >= self._rate:
                return None
            return self._rng.choice(self._kinds)


class RateLimiter:
    """Token bucket: ``rate`` requests per second, bursts up to ``max(1, rate)``."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def admit(self) -> float | None:
        """None when the request may go on; otherwise seconds until it would be admitted."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
            self._last = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return None
            return (1.0 - self._tokens) / self._rate


def retry_after_header(seconds: float) -> str:
    """Whole seconds for a Retry-After header, at least 1."""
    return str(max(1, math.ceil(seconds)))


class Recorder:
    """Status counts per route and the request log, both thread-safe."""

    def __init__(self, log_limit: int = REQUEST_LOG_LIMIT) -> None:
        self._lock = threading.Lock()
        self._log: deque[dict[str, Any]] = deque(maxlen=log_limit)
        self._counts: dict[str, dict[str, int]] = {}
        self._faults: dict[str, int] = {}
        self._total = 0

    def begin(self, method: str, path: str, route: str, body: Any) -> dict[str, Any]:
        """Log a request on arrival; its status stays None until ``finish``."""
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "route": route,
            "status": None,
            "fault": None,
            "body": body,
        }
        with self._lock:
            self._log.append(entry)
        return entry

    def finish(self, entry: dict[str, Any], status: str, fault: str | None = None) -> None:
        """Record how a logged request ended: ``status`` is "201", or "reset"/"timeout"."""
        with self._lock:
            entry["status"] = status
            entry["fault"] = fault
            by_status = self._counts.setdefault(entry["route"], {})
            by_status[status] = by_status.get(status, 0) + 1
            if fault is not None:
                self._faults[fault] = self._faults.get(fault, 0) + 1
            self._total += 1

    def stats(self) -> dict[str, Any]:
        """``{"requests": {route: {status: n}}, "faults": {kind: n}, "total": n}``."""
        with self._lock:
            return {
                "requests": copy.deepcopy(self._counts),
                "faults": dict(self._faults),
                "total": self._total,
            }

    def requests(self) -> list[dict[str, Any]]:
        """Copies of the logged requests, in arrival order."""
        with self._lock:
            return copy.deepcopy(list(self._log))

    def reset(self) -> None:
        """Forget the counts and the log."""
        with self._lock:
            self._log.clear()
            self._counts.clear()
            self._faults.clear()
            self._total = 0
