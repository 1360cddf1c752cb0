"""A thread's turn to send a try: a place in flight, a rate slot, and the run's stop.

Every wait here (a free place among the ``max_in_flight`` tries, the rate
limiter, the pause before a retry) ends at once when ``stop`` is set, raising
``Stopping`` and holding nothing. ``maybe_applied`` on that ``Stopping`` says
whether an earlier try of the same request may have been applied.

With a ``ConcurrencyLimit`` (``--workers auto``) the places are an
``AdaptiveGate`` instead of a fixed semaphore, and every try that comes back
tells the limit how long it took and whether the server refused it for load
(a 429 while the rate limiter takes 429s as coming whatever the rate does not
count as a refusal: it tells nothing of load).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from importer.errors import Stopping
from importer.send.concurrency import AdaptiveGate, ConcurrencyLimit
from importer.send.throttle import RateLimiter

if TYPE_CHECKING:
    from importer.send.retry_policy import Failure

__all__ = ["IN_FLIGHT_POLL_S", "InFlight", "Places"]

IN_FLIGHT_POLL_S = 0.25  # how often a thread waiting for a place in flight looks at ``stop``


class Places:
    """``count`` places in flight: ``acquire`` waits for one, ``release`` gives it back.

    What ``threading.Semaphore`` does, as a queue of tokens: taking and giving
    back are one call into C each (``queue.SimpleQueue``), where the semaphore
    runs a Python condition variable whose lock every waiting thread contends
    for. A run's threads take and give back a place once per request.
    """

    def __init__(self, count: int) -> None:
        self._tokens: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(count):
            self._tokens.put(None)

    def acquire(self, timeout: float) -> bool:
        """Take a place, waiting at most ``timeout`` seconds; whether one was taken."""
        try:
            self._tokens.get(timeout=timeout)
        except queue.Empty:
            return False
        return True

    def release(self) -> None:
        self._tokens.put(None)


class InFlight:
    """The places in flight shared by a client's threads, and each thread's waits.

    ``sleep`` (default: wait on ``stop``) is injectable for tests. A
    ``concurrency`` limit replaces ``max_in_flight``.
    """

    def __init__(
        self,
        stop: threading.Event,
        max_in_flight: int | None,
        rate_limiter: RateLimiter | None,
        sleep: Callable[[float], None] | None,
        concurrency: ConcurrencyLimit | None = None,
    ) -> None:
        self._stop = stop
        self._adaptive = AdaptiveGate(concurrency) if concurrency is not None else None
        self._in_flight: Places | AdaptiveGate | None = self._adaptive or (
            Places(max_in_flight) if max_in_flight else None
        )
        self._limiter = rate_limiter
        self._sleep = sleep
        self._local = threading.local()
        self._waits_lock = threading.Lock()
        self.waiting = 0  # threads in ``wait`` now (importer.send.row_threads starts more)

    def prepare(self) -> None:
        """Wait now for the calling thread's next try (see ``Client.prepare``)."""
        if not getattr(self._local, "prepared", False):
            self._get_ready(maybe_applied=False)
            self._local.prepared = True

    def unprepare(self) -> None:
        """Give back the place a ``prepare`` got, if no try used it."""
        if getattr(self._local, "prepared", False):
            self._local.prepared = False
            self._give_back()

    def enter(self, *, maybe_applied: bool) -> None:
        """Take the turn for a try: the one ``prepare`` waited for, or wait for one now.

        The rate slot ``prepare`` got is taken again when the limiter paused or
        cut since (the ledger's write between the two can take a while): a slot
        of the old schedule would send into the pause, or at the rate that drew
        the 429s.
        """
        if getattr(self._local, "prepared", False):
            self._local.prepared = False  # this try uses what prepare() waited for
            if self._limiter is not None and self._limiter.schedule != self._local.schedule:
                self._take_slot(maybe_applied=maybe_applied)
        else:
            # a stop while waiting to send: applied only if an earlier try may have been
            self._get_ready(maybe_applied=maybe_applied)
        if self._adaptive is not None:
            self._local.started = self._adaptive.sending()

    def answered(self, failure: Failure | None) -> None:
        """The try came back, through (None) or failed: tell the adaptive limit, if any."""
        if self._adaptive is not None:
            retry_after = None if failure is None else failure.retry_after
            key = None if failure is None else failure.key
            if key == "429" and self._limiter is not None and self._limiter.random_429s:
                # 429s that come whatever the rate say nothing of load: a normal answer
                key, retry_after = None, None
            self._adaptive.answered(self._local.started, key, retry_after)

    def leave(self) -> None:
        """Give back the place in flight of a try that ended."""
        if self._adaptive is not None:
            self._adaptive.sent()
        self._give_back()

    def _give_back(self) -> None:
        if self._in_flight is not None:
            self._in_flight.release()

    def wait(self, seconds: float, *, maybe_applied: bool) -> None:
        """Wait before a retry; raise ``Stopping`` as soon as the run stops."""
        with self._waits_lock:
            self.waiting += 1
        try:
            self._wait(seconds, maybe_applied=maybe_applied)
        finally:
            with self._waits_lock:
                self.waiting -= 1

    def _wait(self, seconds: float, *, maybe_applied: bool) -> None:
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
        self._take_slot(maybe_applied=maybe_applied)

    def _take_slot(self, *, maybe_applied: bool) -> None:
        """Wait for a rate slot, holding a place; on ``Stopping`` give the place back."""
        if self._limiter is None:
            return
        try:
            self._limiter.acquire()
        except Stopping:
            self._give_back()
            raise Stopping(maybe_applied=maybe_applied) from None
        self._local.schedule = self._limiter.schedule
