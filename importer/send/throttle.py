"""A client-side rate limiter shared by every worker thread.

The Incoming Leads API documents no rate limit, so by default nothing is held
back until the server answers 429. From then on the limiter behaves like TCP
congestion control (AIMD): a 429 halves the rate (once per episode: the other
requests in flight at that moment get the same answer), and the rate then
climbs back with time, linearly, to where it was in ``recovery_s`` seconds (half
a second by default). The climb depends on time, not on a count of successes,
so an occasional 429 (a proxy having a bad second) costs half a second of
reduced rate, not minutes at the floor: 5% random 429s keep about 90% of the
rate (``make bench`` measures it end to end).

A 429 pauses *every* sender only when the server is refusing in bulk (half of
the last answers were 429s) or asks for a wait longer than ``max_pause``; the
request that got the 429 waits out its own ``Retry-After`` anyway. No pause is
longer than ``max_pause``. When the server keeps asking for such long waits
(``LONG_PAUSES_TO_STOP`` pauses in a row, no success between them),
``on_give_up`` is called with the wait it asked for, so the run can stop and
say when to come back.

With ``learn`` (``--workers auto``) a 429 may teach the limiter a rate of the
server's, which it then keeps and probes upwards, instead of going back to
unlimited: but only a 429 tied to the rate (the 429s stop once the rate is
lower); 429s that come whatever the rate only dip it, as without ``learn``.
``importer.send.learned_rate`` tells them apart.

Every wait also ends when ``stop`` is set: ``acquire`` then raises ``Stopping``.

Scheduling is a "virtual scheduling" token bucket (GCRA): each ``acquire`` reserves
the next free send time under a lock and then waits outside it, so waiting
threads neither spin nor block each other, and the reserved times come out
evenly spaced. Stdlib only.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable

from importer.errors import Stopping

# CUT_WINDOW_S: 429s this soon after a cut belong to the same episode
from importer.send.learned_rate import CUT_WINDOW_S, LearnedRate

DEFAULT_PAUSE_S = 1.0  # wait after a 429 that carries no Retry-After
MIN_RPS = 0.5  # a 429 never cuts the rate below this
RECOVERY_S = 0.5  # seconds to climb from one halving back to the rate before it
MAX_PAUSE_S = 120.0  # the longest pause of every sender (the client's max_retry_after)
SHARE_ANSWERS = 50  # the last answers whose share of 429s sets the size of a cut
BULK_ANSWERS = 10  # the last answers looked at to tell bulk refusal from the odd 429 ...
BULK_429S = 5  # ... and how many 429s among them make everyone pause
LONG_PAUSES_TO_STOP = 2  # long pauses in a row after which the run gives up
# The measured rate (what an unlimited limiter halves) is that of the last few
# acquires: a long window would remember slow spells after earlier cuts, so each
# cut would start lower than the last, and the rate would spiral down.
MEASURE_COUNT = 32  # acquires the measured rate is taken over ...
MEASURE_WINDOW_S = 5.0  # ... if they are this recent
MIN_MEASURE_SPAN_S = 0.02  # so a burst at one instant does not read as "infinite rps"
ACCEPT_WINDOW_S = 2.0  # with learn: a cut starts at most from the successes per second of ...
MIN_ACCEPT_SPAN_S = 1.0  # ... this long, or of the run so far, counted over at least this


class RateLimiter:
    """Token bucket shared by all worker threads; thread-safe.

    ``rps`` None means unlimited until the server throttles us. ``burst`` is how
    many requests may go back to back after an idle spell (default 1: strict
    spacing of ``1/rps``). ``clock`` and ``sleep`` are injectable so tests run
    on a fake clock (without ``sleep``, waits are ``stop.wait``); ``min_rps`` is
    the floor a 429 cannot cut below, ``recovery_s`` how long the rate takes to
    climb back from one halving, ``max_pause`` the longest pause of every
    sender, and ``on_give_up(seconds)`` is called once when the server keeps
    asking for pauses longer than that. ``learn``: see the module docstring.
    """

    def __init__(
        self,
        rps: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
        burst: float | None = None,
        min_rps: float = MIN_RPS,
        recovery_s: float = RECOVERY_S,
        max_pause: float = MAX_PAUSE_S,
        on_give_up: Callable[[float], None] | None = None,
        learn: bool = False,
    ) -> None:
        if rps is not None and not rps > 0:
            raise ValueError(f"rps must be a positive number or None, not {rps!r}")
        if burst is not None and not burst >= 1:
            raise ValueError(f"burst must be at least 1, not {burst!r}")
        if not min_rps > 0:
            raise ValueError(f"min_rps must be positive, not {min_rps!r}")
        if not recovery_s > 0:
            raise ValueError(f"recovery_s must be positive, not {recovery_s!r}")
        if not max_pause >= 0:
            raise ValueError(f"max_pause must not be negative, not {max_pause!r}")
        self._clock = clock
        self._sleep = sleep
        self._stop = stop if stop is not None else threading.Event()
        self._burst = 1.0 if burst is None else float(burst)
        # A configured rate below the floor is respected: the floor only stops cuts.
        self._floor = min(min_rps, rps) if rps is not None else min_rps
        self._recovery_s = recovery_s
        self._max_pause = max_pause
        self._on_give_up = on_give_up
        self._learned = LearnedRate(rps, self._floor, recovery_s) if learn else None
        self._lock = threading.Lock()
        self._target: float | None = rps  # the rate when not recovering (None = unlimited)
        # Recovery from a cut: the rate is cut_rate + slope * (now - cut_at), up to recovery_to.
        self._cut_rate: float | None = None  # None: not recovering
        self._cut_at = 0.0
        self._slope = 0.0
        self._recovery_to = 0.0
        self._cut_window_end = float("-inf")
        self._tat = float("-inf")  # theoretical arrival time of the next request (GCRA)
        self._blocked_until = float("-inf")
        self._epoch = 0  # bumped by every pause, so sleepers re-check their slot
        self._answers: deque[bool] = deque(maxlen=SHARE_ANSWERS)  # True = a 429
        self._since_cut = [0, 0]  # with learn: answers since the last cut, and 429s among them
        self._successes: deque[float] = deque()  # with learn: when the last successes came
        self._first_success: float | None = None
        self._long_pauses = 0  # long pauses in a row, no success between
        self._long_until = float("-inf")
        self._gave_up = False
        self._recent: deque[float] = deque(maxlen=MEASURE_COUNT)

    @property
    def current_rps(self) -> float | None:
        """The rate in force now; None while unlimited."""
        with self._lock:
            return self._rate_at(self._clock())

    @property
    def random_429s(self) -> bool:
        """With ``learn``: 429s are coming now whatever the rate (a proxy, a busy server)."""
        with self._lock:
            return self._learned is not None and self._learned.background(self._clock())

    @property
    def schedule(self) -> int:
        """Which schedule the slots belong to: it changes at every pause, and at every cut
        with ``learn``; a slot taken under an older one is no longer the limiter's."""
        return self._epoch

    @property
    def paused_until(self) -> float:
        """Clock time before which nobody may send (after a pause); -inf if none."""
        with self._lock:
            return self._blocked_until

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds spent waiting.

        A pause that starts while a thread waits towards its slot starts a new
        schedule (an "epoch"); the thread then takes a fresh slot after the pause,
        so nobody sends during it and the queue resumes at the reduced rate.
        Raises ``Stopping`` as soon as ``stop`` is set.
        """
        if self._stop.is_set():
            raise Stopping()
        waited = 0.0
        with self._lock:
            now = self._clock()
            send_at = self._reserve(now)
            epoch = self._epoch
        while True:
            delay = send_at - now
            if delay > 0:
                self._wait(delay)
                waited += delay
            with self._lock:
                if self._epoch == epoch:
                    self._recent.append(self._clock())
                    return waited
                # A pause began while we waited: our slot belongs to the old schedule.
                now = self._clock()
                send_at = self._reserve(now)
                epoch = self._epoch

    def on_throttled(self, retry_after: float | None) -> None:
        """A 429 arrived: cut the rate, and pause everyone if the server refuses in bulk.

        ``retry_after`` None (or negative) means the default of 1 s. The cut
        takes the share of 429s among the last ``SHARE_ANSWERS`` answers off the
        current rate (or, when unlimited, the rate measured from recent
        acquires), at most half of it and never below the floor: the server
        took only that share of what we sent, so that is what it can take. A
        lone 429 after many successes is a small cut, one with nothing before
        it halves. 429s within ``CUT_WINDOW_S`` of a cut are the same episode
        (requests already in flight) and do not cut again, so N workers hit at
        once cut once, not N times.
        """
        wanted = DEFAULT_PAUSE_S if retry_after is None or retry_after < 0 else float(retry_after)
        pause = min(wanted, self._max_pause)
        long = wanted > self._max_pause
        give_up = False
        with self._lock:
            now = self._clock()
            self._answers.append(True)
            self._since_cut[0] += 1
            self._since_cut[1] += 1
            bulk = sum(itertools.islice(reversed(self._answers), BULK_ANSWERS)) >= BULK_429S
            if long or bulk:
                self._pause_until(now, now + pause)
            if now >= self._cut_window_end:
                self._cut(now, resume_at=max(now, self._blocked_until))
            if long and now >= self._long_until:  # a new long pause, not one already running
                self._long_pauses += 1
                self._long_until = now + pause
                give_up = self._long_pauses >= LONG_PAUSES_TO_STOP and not self._gave_up
                self._gave_up = self._gave_up or give_up
            # Resume at the new spacing with an empty bucket: no burst right after a 429.
            self._tat = max(self._tat, max(now, self._blocked_until) + self._tolerance(now))
        if give_up and self._on_give_up is not None:
            self._on_give_up(wanted)

    def on_success(self) -> None:
        """A request succeeded: the server is not refusing in bulk, nor asking for long waits."""
        with self._lock:
            self._answers.append(False)
            self._since_cut[0] += 1
            if self._learned is not None:
                self._note_success(self._clock())
            self._long_pauses = 0

    # -- internals (called with the lock held) ---------------------------------

    def _wait(self, seconds: float) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._stop.wait(seconds)
        if self._stop.is_set():
            raise Stopping()

    def _pause_until(self, now: float, until: float) -> None:
        if until <= self._blocked_until:
            return
        self._blocked_until = until
        self._epoch += 1
        rate = self._rate_at(now)
        if self._cut_rate is not None and rate is not None:
            # a climb under way holds its rate during the pause and goes on afterwards
            self._cut_rate, self._cut_at = rate, until

    def _cut(self, now: float, *, resume_at: float) -> None:
        """Cut the rate in force; recovery heads back to the rate before the first cut.

        The climb starts at ``resume_at``, when a pause (if any) ends.
        """
        current = self._rate_at(now)
        base = current if current is not None else self._measured_rate(now)
        refused = sum(self._answers) / len(self._answers)
        if self._learned is not None:
            self._cut_learned(self._learned, now, base, resume_at=resume_at)
            return
        new_rate = max(self._floor, base * max(0.5, 1.0 - refused))
        if self._cut_rate is None:  # not already recovering from an earlier cut
            # Unlimited mode climbs back to the rate that drew the 429, then lets go.
            self._recovery_to = self._target if self._target is not None else max(base, new_rate)
        self._cut_rate = new_rate
        self._cut_at = resume_at
        # A halving of the rate we head back to takes recovery_s to climb back.
        self._slope = self._recovery_to / 2 / self._recovery_s
        self._cut_window_end = resume_at + max(CUT_WINDOW_S, 1.0 / new_rate)

    def _cut_learned(
        self, learned: LearnedRate, now: float, base: float, *, resume_at: float
    ) -> None:
        """``learn``: a cut that may teach a rate (see ``importer.send.learned_rate``)."""
        # what we send, when below the rate in force (a climb may have outrun the senders),
        # and at most what the server took
        took = min(base, self._measured_rate(now), self._accepted_rate(now))
        since = (self._since_cut[0], self._since_cut[1])
        self._since_cut = [0, 0]
        last = (len(self._answers), sum(self._answers))
        learned.on_429(now, sent=base, took=took, refused=last, since=since, resume_at=resume_at)
        # the slots taken at the old rate are given up: their threads take new ones
        self._epoch += 1
        self._tat = resume_at
        new_rate = learned.rate_at(resume_at) or took
        self._cut_window_end = resume_at + max(CUT_WINDOW_S, 1.0 / new_rate)

    def _note_success(self, now: float) -> None:
        if self._first_success is None:
            self._first_success = now
        self._successes.append(now)
        self._forget_successes(now)

    def _forget_successes(self, now: float) -> None:
        while self._successes and self._successes[0] < now - ACCEPT_WINDOW_S:
            self._successes.popleft()

    def _accepted_rate(self, now: float) -> float:
        """Successes per second of the last ``ACCEPT_WINDOW_S`` (inf before the first)."""
        if self._first_success is None:
            return float("inf")
        self._forget_successes(now)
        span = max(min(ACCEPT_WINDOW_S, now - self._first_success), MIN_ACCEPT_SPAN_S)
        return max(len(self._successes) / span, self._floor)

    def _rate_at(self, now: float) -> float | None:
        if self._learned is not None:
            return self._learned.rate_at(now)
        if self._cut_rate is None:
            return self._target
        rate = self._cut_rate + self._slope * max(0.0, now - self._cut_at)
        if rate >= self._recovery_to:
            # Back where we were before the cut: the configured rate, or unlimited.
            self._cut_rate = None
            return self._target
        return rate

    def _interval(self, now: float) -> float:
        rate = self._rate_at(now)
        return 0.0 if rate is None else 1.0 / rate

    def _tolerance(self, now: float) -> float:
        return (self._burst - 1.0) * self._interval(now)

    def _reserve(self, now: float) -> float:
        """Claim the next send time at or after ``now`` and return it."""
        earliest = max(now, self._blocked_until)
        send_at = max(earliest, self._tat - self._tolerance(earliest))
        self._tat = max(self._tat, send_at) + self._interval(send_at)
        return send_at

    def _measured_rate(self, now: float) -> float:
        """Requests per second of the last acquires (an estimate for unlimited mode)."""
        horizon = now - MEASURE_WINDOW_S
        while self._recent and self._recent[0] < horizon:
            self._recent.popleft()
        if not self._recent:
            return self._floor
        span = max(now - self._recent[0], MIN_MEASURE_SPAN_S)
        return len(self._recent) / span
