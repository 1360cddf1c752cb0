"""An adaptive limit of the tries in flight, for ``rg-import run --workers auto``.

Real Geeks documents no rate limit, so the right number of requests in flight
is unknown: too few leave the line idle between answers, too many queue at the
server (its answers slow down) or draw 429s. ``ConcurrencyLimit`` looks for it
the way TCP congestion control looks for its window (and Netflix's
concurrency-limits library for a service's), from what each try that got an
answer tells:

- its round trip (RTT); the shortest of the last ``FLOOR_WINDOW_S`` seconds is
  the floor, what a try costs when nothing queues anywhere;
- whether the server refused it for load: 429, 503, 504, or no answer in time.

Good answers are judged a round at a time, a limit's worth of them (about one
round trip of every place). A round whose median RTT stays within floor x
``TOLERANCE`` (+ ``SLACK_S``) raises the limit by one, or doubles it ("slow
start") until the first cut or the first round above floor x ``TOLERANCE``
without the slack (as TCP's HyStart leaves slow start on a rising delay),
provided the places were in use: when none of the round's tries
started with half the places on the wire, the limit is not what holds the run
back (the rate limiter or the reading is), and the round proves nothing about
a higher one. A refusal, or a round whose median RTT is above floor x
tolerance, multiplies the limit by ``BACKOFF``, once per episode: answers to
tries that started before a cut bring the same news and cut nothing more, nor
do refusals while the ``Retry-After`` of the one that cut runs (nor does the
limit grow then). The limit stays between 1 and ``maximum`` (``--max-workers``).

``AdaptiveGate`` holds the places: a thread takes one while fewer than the
limit are taken. Stdlib only; the clock is injectable for tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["OVERLOAD_KEYS", "AdaptiveGate", "ConcurrencyLimit", "TryStart"]

log = logging.getLogger(__name__)

INITIAL_LIMIT = 4  # places at the start, as many as the default --workers
TOLERANCE = 2.0  # a round's median RTT above floor x this (+ SLACK_S) means a queue is building
# ... give or take this: on a fast line the round trip is mostly this process's own
# work (threads taking turns), whose jitter is no queue at the server
SLACK_S = 0.01
BACKOFF = 0.7  # a cut keeps this share of the places
FLOOR_WINDOW_S = 30.0  # the floor is the shortest RTT of this many seconds
# failures that say "too much": the stats keys of importer.send.retry_policy.Failure
OVERLOAD_KEYS = frozenset({"429", "503", "504", "timeout"})


class ConcurrencyLimit:
    """The number of tries that may be in flight now; thread-safe.

    Feed it every answered try with ``on_answer``; read ``limit``. ``clock`` is
    injectable (tests); ``initial`` is clamped to ``[1, maximum]``.
    """

    def __init__(
        self,
        maximum: int,
        *,
        initial: int = INITIAL_LIMIT,
        tolerance: float = TOLERANCE,
        slack_s: float = SLACK_S,
        backoff: float = BACKOFF,
        floor_window_s: float = FLOOR_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError(f"maximum must be at least 1, not {maximum!r}")
        if not tolerance > 1:
            raise ValueError(f"tolerance must be above 1, not {tolerance!r}")
        if not 0 < backoff < 1:
            raise ValueError(f"backoff must be between 0 and 1, not {backoff!r}")
        self.clock = clock
        self._maximum = maximum
        self._tolerance = tolerance
        self._slack_s = slack_s
        self._backoff = backoff
        self._floor_window_s = floor_window_s
        self._lock = threading.Lock()
        self._limit = min(max(1, initial), maximum)
        self._peak = self._limit
        self._slow_start = True  # doubling each round, until the first cut
        self._round: list[float] = []  # RTTs of the good answers of this round
        self._round_busy = False  # a try of this round started with half the places on the wire
        self._cut_at = float("-inf")
        self._hold_until = float("-inf")  # the Retry-After of the refusal that cut
        self._floors: deque[tuple[float, float]] = deque()  # (time, rtt), rtt increasing

    @property
    def limit(self) -> int:
        """Places in flight allowed now."""
        return self._limit

    def summary(self) -> dict[str, int]:
        """The limit now (``final`` at the end of a run) and the highest it reached."""
        with self._lock:
            return {"final": self._limit, "peak": self._peak}

    @property
    def floor(self) -> float | None:
        """The shortest RTT of the last ``floor_window_s`` seconds (None before any)."""
        with self._lock:
            return self._floor(self.clock())

    def on_answer(
        self,
        rtt: float,
        *,
        on_wire: int,
        refused: bool = False,
        retry_after: float | None = None,
    ) -> None:
        """One try came back after ``rtt`` seconds; ``on_wire`` tries were out when it left.

        ``refused``: the server refused it for load (see ``OVERLOAD_KEYS``);
        ``retry_after`` is the wait it asked for, if any.
        """
        with self._lock:
            now = self.clock()
            started = now - rtt
            if refused:
                if started >= self._cut_at and now >= self._hold_until:
                    self._cut(now, hold=retry_after if retry_after and retry_after > 0 else 0.0)
                return
            self._note_floor(now, rtt)
            if started < self._cut_at:
                return  # it left before the cut: its RTT is the old news that cut
            self._round.append(rtt)
            self._round_busy = self._round_busy or on_wire * 2 >= self._limit
            if len(self._round) >= self._limit:
                self._end_round(now)

    # -- internals (called with the lock held) ---------------------------------

    def _end_round(self, now: float) -> None:
        rtts = sorted(self._round)
        median = rtts[len(rtts) // 2]
        busy = self._round_busy
        self._round.clear()
        self._round_busy = False
        floor = self._floor(now)
        if floor is not None and median > floor * self._tolerance + self._slack_s:
            log.debug("round trips of %.4fs, floor %.4fs: fewer in flight", median, floor)
            self._cut(now, hold=0.0)
        elif busy and now >= self._hold_until:
            if self._slow_start and floor is not None and median > floor * self._tolerance:
                # Slow start ends where round trips pass floor x tolerance, slack or not:
                # doubling a queue of our own (threads taking turns) adds no leads a
                # second, and when the server runs out of room every place on the wire
                # draws a 429 before the first one is back.
                self._slow_start = False
            grown = self._limit * 2 if self._slow_start else self._limit + 1
            self._limit = min(self._maximum, grown)
            self._peak = max(self._peak, self._limit)
            log.debug("round trips of %.4fs, floor %.4fs: %d in flight", median, floor, self._limit)

    def _cut(self, now: float, *, hold: float) -> None:
        self._limit = max(1, int(self._limit * self._backoff))
        log.debug("%d in flight (held %.1fs)", self._limit, hold)
        self._slow_start = False
        self._cut_at = now
        self._hold_until = now + hold
        self._round.clear()
        self._round_busy = False

    def _note_floor(self, now: float, rtt: float) -> None:
        floors = self._floors
        while floors and floors[-1][1] >= rtt:
            floors.pop()  # a shorter, newer RTT: the older ones can no longer be the floor
        floors.append((now, rtt))

    def _floor(self, now: float) -> float | None:
        floors = self._floors
        while len(floors) > 1 and floors[0][0] < now - self._floor_window_s:
            floors.popleft()
        return floors[0][1] if floors else None


class TryStart:
    """When a try went on the wire, and how many were on it then (itself included)."""

    __slots__ = ("at", "on_wire")

    def __init__(self, at: float, on_wire: int) -> None:
        self.at, self.on_wire = at, on_wire


class AdaptiveGate:
    """Places in flight, as many as ``limit`` allows at each moment; thread-safe.

    ``acquire``/``release`` as a semaphore's; ``sending``/``answered``/``sent``
    bracket each try on the wire, so the limit hears how it went.
    """

    def __init__(self, limit: ConcurrencyLimit) -> None:
        self.limit = limit
        self._changed = threading.Condition()
        self._taken = 0
        self._on_wire = 0

    def acquire(self, timeout: float) -> bool:
        """Take a place, waiting at most ``timeout`` seconds; False if none came free."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._taken < self.limit.limit, timeout):
                return False
            self._taken += 1
            return True

    def release(self) -> None:
        """Give a place back."""
        with self._changed:
            self._taken -= 1
            self._changed.notify()

    def sending(self) -> TryStart:
        """A try goes on the wire now."""
        with self._changed:
            self._on_wire += 1
            return TryStart(self.limit.clock(), self._on_wire)

    def answered(self, start: TryStart, failure_key: str | None, retry_after: float | None) -> None:
        """The try begun at ``start`` came back: failed with ``failure_key``, or None if it went through."""
        if (
            failure_key is not None
            and failure_key not in OVERLOAD_KEYS
            and not failure_key.isdigit()
        ):
            return  # no answer came (a connection failure): no RTT, and no sign of load
        # an answer refusing the data (422, 404, ...) took a normal round trip: a good sample
        refused = failure_key in OVERLOAD_KEYS
        before = self.limit.limit
        self.limit.on_answer(
            self.limit.clock() - start.at, on_wire=start.on_wire, refused=refused,
            retry_after=retry_after,
        )  # fmt: skip
        grown = self.limit.limit - before
        if grown > 0:
            with self._changed:
                self._changed.notify(grown)

    def sent(self) -> None:
        """The try is off the wire (answered or not)."""
        with self._changed:
            self._on_wire -= 1
