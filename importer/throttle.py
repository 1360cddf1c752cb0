"""A client-side rate limiter shared by every worker thread.

The Incoming Leads API documents no rate limit, so by default nothing is held
back until the server answers 429. From then on the limiter behaves like TCP
congestion control (AIMD): a 429 pauses every sender for the server's
``Retry-After`` and halves the rate; each success then raises the rate by a
small fixed step until it is back at the configured rate (or unlimited).

Scheduling is a "virtual scheduling" token bucket (GCRA): each ``acquire`` reserves
the next free send time under a lock and then sleeps outside it, so waiting
threads neither spin nor block each other, and the reserved times come out
evenly spaced. Stdlib only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_PAUSE_S = 1.0  # pause after a 429 that carries no Retry-After
MIN_RPS = 0.5  # a 429 never cuts the rate below this
RECOVERY_SUCCESSES = 50  # successes needed to climb back from one halving
MEASURE_WINDOW_S = 5.0  # how far back acquires count towards the measured rate
MIN_MEASURE_SPAN_S = 0.25  # so a burst at one instant does not read as "infinite rps"


class RateLimiter:
    """Token bucket shared by all worker threads; thread-safe.

    ``rps`` None means unlimited until the server throttles us. ``burst`` is how
    many requests may go back to back after an idle spell (default 1: strict
    spacing of ``1/rps``). ``clock`` and ``sleep`` are injectable so tests run
    on a fake clock; ``min_rps`` is the floor a 429 cannot cut below, and
    ``recovery_successes`` how many successes it takes to climb back from one
    halving (additive increase).
    """

    def __init__(
        self,
        rps: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        burst: float | None = None,
        min_rps: float = MIN_RPS,
        recovery_successes: int = RECOVERY_SUCCESSES,
    ) -> None:
        if rps is not None and not rps > 0:
            raise ValueError(f"rps must be a positive number or None, not {rps!r}")
        if burst is not None and not burst >= 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        if not min_rps > 0:
            raise ValueError(f"min_rps must be positive, not {min_rps!r}")
        if recovery_successes < 1:
            raise ValueError(f"recovery_successes must be at least 1, not {recovery_successes!r}")
        self._clock = clock
        self._sleep = sleep
        self._burst = 1.0 if burst is None else float(burst)
        # A configured rate below the floor is respected: the floor only stops cuts.
        self._floor = min(min_rps, rps) if rps is not None else min_rps
        self._recovery_successes = recovery_successes
        self._lock = threading.Lock()
        self._rate: float | None = rps  # None = unlimited
        self._target: float | None = rps  # where recovery heads (None = unlimited)
        self._step = 0.0  # additive increase per success while below target
        self._recovery_to = 0.0  # the rate at which recovery stops (then: target)
        self._tat = float("-inf")  # theoretical arrival time of the next request (GCRA)
        self._blocked_until = float("-inf")
        self._epoch = 0  # bumped by every 429, so sleepers re-check their slot
        self._cut_window_end = float("-inf")
        self._recent: deque[float] = deque()

    @property
    def current_rps(self) -> float | None:
        """The rate in force now; None while unlimited."""
        with self._lock:
            return self._rate

    @property
    def paused_until(self) -> float:
        """Clock time before which nobody may send (after a 429); -inf if none."""
        with self._lock:
            return self._blocked_until

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds spent waiting.

        A 429 that arrives while a thread sleeps towards its slot starts a new
        schedule (an "epoch"); the thread then takes a fresh slot after the pause,
        so nobody sends during it and the queue resumes at the reduced rate.
        """
        waited = 0.0
        with self._lock:
            now = self._clock()
            send_at = self._reserve(now)
            epoch = self._epoch
        while True:
            delay = send_at - now
            if delay > 0:
                self._sleep(delay)
                waited += delay
            with self._lock:
                if self._epoch == epoch:
                    self._record(self._clock())
                    return waited
                # A 429 arrived while we slept: our slot belongs to the old schedule.
                now = self._clock()
                send_at = self._reserve(now)
                epoch = self._epoch

    def on_throttled(self, retry_after: float | None) -> None:
        """A 429 arrived: pause everyone for ``retry_after`` seconds and cut the rate.

        ``retry_after`` None (or negative) means the default pause of 1 s. The cut
        halves the current rate (or, when unlimited, the rate measured from recent
        acquires) but never goes below the floor. 429s that arrive within the
        pause of a previous cut belong to the same episode (requests already in
        flight) and only extend the pause, so N workers hit at once cut once, not N times.
        """
        pause = DEFAULT_PAUSE_S if retry_after is None or retry_after < 0 else float(retry_after)
        with self._lock:
            now = self._clock()
            self._blocked_until = max(self._blocked_until, now + pause)
            self._epoch += 1
            if now >= self._cut_window_end:
                base = self._rate if self._rate is not None else self._measured_rate(now)
                new_rate = max(self._floor, base / 2)
                self._rate = new_rate
                # Unlimited mode climbs back to the rate that drew the 429 (at least
                # double the cut rate, so a floor-level cut still recovers), then lets go.
                self._recovery_to = self._target if self._target is not None else 2 * new_rate
                self._step = max(self._recovery_to - new_rate, 0.0) / self._recovery_successes
                self._cut_window_end = now + max(pause, 1.0 / new_rate)
            # Resume at the new spacing with an empty bucket: no burst right after a 429.
            self._tat = max(self._tat, self._blocked_until + self._tolerance())

    def on_success(self) -> None:
        """A request succeeded: raise the rate a step towards its target."""
        with self._lock:
            if self._rate is None or self._step <= 0:
                return
            self._rate += self._step
            if self._rate >= self._recovery_to - self._step / 2:  # float steps undershoot
                # Back where we were before the cut: the configured rate, or unlimited.
                self._rate = self._target
                self._step = 0.0

    # -- internals (called with the lock held) ---------------------------------

    def _interval(self) -> float:
        return 0.0 if self._rate is None else 1.0 / self._rate

    def _tolerance(self) -> float:
        return (self._burst - 1.0) * self._interval()

    def _reserve(self, now: float) -> float:
        """Claim the next send time at or after ``now`` and return it."""
        earliest = max(now, self._blocked_until)
        send_at = max(earliest, self._tat - self._tolerance())
        self._tat = max(self._tat, send_at) + self._interval()
        return send_at

    def _record(self, now: float) -> None:
        self._recent.append(now)
        horizon = now - MEASURE_WINDOW_S
        while self._recent and self._recent[0] < horizon:
            self._recent.popleft()

    def _measured_rate(self, now: float) -> float:
        """Requests per second over the recent window (an estimate for unlimited mode)."""
        horizon = now - MEASURE_WINDOW_S
        while self._recent and self._recent[0] < horizon:
            self._recent.popleft()
        if not self._recent:
            return self._floor
        span = max(now - self._recent[0], MIN_MEASURE_SPAN_S)
        return len(self._recent) / span
