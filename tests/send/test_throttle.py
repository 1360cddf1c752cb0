"""RateLimiter: spacing, burst, pauses after 429s, AIMD with time-based recovery, stop.

Everything runs on a fake clock whose ``sleep`` advances it, so no test sleeps
for real except the wall-clock checks (a fraction of a second, and a stop that
must end a 120 s pause at once).
"""

from __future__ import annotations

import itertools
import random
import sys
import threading
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.errors import Stopping
from importer.send.learned_rate import CUT_WINDOW_S, LEARN_CUT, PROVE_S
from importer.send.throttle import BULK_429S, RateLimiter


class FakeClock:
    """A clock that only moves when someone sleeps; records every sleep."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[float], None] | None = None

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0, "the limiter must not ask for zero or negative sleeps"
        self.sleeps.append(seconds)
        if self.on_sleep is not None:
            hook, self.on_sleep = self.on_sleep, None
            hook(seconds)
        self.now += seconds


def send_times(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    """Acquire n times in a row; the clock reading when each request may go."""
    times = []
    for _ in range(n):
        limiter.acquire()
        times.append(clock.now)
    return times


def test_unlimited_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert [limiter.acquire() for _ in range(1000)] == [0.0] * 1000
    assert clock.sleeps == []
    assert limiter.current_rps is None


def test_requests_are_spaced_by_one_over_rps() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock, sleep=clock.sleep)
    times = send_times(limiter, clock, 9)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == 100.0
    assert gaps == pytest.approx([0.25] * 8)


def test_idle_time_is_not_banked_beyond_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock, sleep=clock.sleep, burst=3)
    send_times(limiter, clock, 5)
    clock.now += 60  # a long idle spell earns at most `burst` back-to-back requests
    start = clock.now
    times = send_times(limiter, clock, 6)
    assert times[:3] == [start] * 3
    assert [t - start for t in times[3:]] == pytest.approx([0.5, 1.0, 1.5])


def test_acquire_returns_seconds_waited() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(0.1)
    clock.now += 0.05
    assert limiter.acquire() == pytest.approx(0.05)


@settings(max_examples=60, deadline=None)
@given(
    rps=st.floats(min_value=0.5, max_value=500),
    burst=st.integers(min_value=1, max_value=10),
    pauses=st.lists(st.floats(min_value=0, max_value=3), min_size=1, max_size=40),
)
def test_no_window_ever_exceeds_burst_plus_rate(
    rps: float, burst: int, pauses: list[float]
) -> None:
    """Whatever the arrival pattern, n requests span at least (n - burst) / rps seconds."""
    clock = FakeClock()
    limiter = RateLimiter(rps, clock=clock, sleep=clock.sleep, burst=burst)
    times = []
    for pause in pauses:
        clock.now += pause
        limiter.acquire()
        times.append(clock.now)
    for i in range(len(times)):
        for j in range(i + burst, len(times)):
            assert times[j] - times[i] >= (j - i - burst + 1) / rps - 1e-9


def throttle_times(limiter: RateLimiter, n: int, retry_after: float | None = 1.0) -> None:
    for _ in range(n):
        limiter.on_throttled(retry_after)


def test_an_odd_429_cuts_the_rate_but_pauses_nobody() -> None:
    """The request that got it waits its Retry-After (the client does); the others go on."""
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        limiter.acquire()
        limiter.on_success()
    limiter.on_throttled(7.5)
    assert limiter.paused_until == float("-inf")
    assert limiter.current_rps == pytest.approx(10.0 * 20 / 21)  # 1 answer in 21 refused
    before = clock.now
    limiter.acquire()
    assert clock.now - before < 1.0


def test_429s_in_bulk_pause_everyone_for_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.acquire()
    throttle_times(limiter, BULK_429S, 7.5)
    assert limiter.paused_until == pytest.approx(107.5)
    waited = limiter.acquire()
    assert waited == pytest.approx(7.5)
    assert clock.now == pytest.approx(107.5)


def test_bulk_429s_without_retry_after_pause_one_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    throttle_times(limiter, BULK_429S, None)
    assert limiter.acquire() == pytest.approx(1.0)


def test_a_pause_during_a_wait_holds_the_sleeper_back() -> None:
    """A thread already sleeping towards its slot must not send inside a new pause."""
    clock = FakeClock()
    limiter = RateLimiter(1.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()  # slot at 100; the next one is at 101
    # While the next caller sleeps, the other workers' requests come back 429.
    clock.on_sleep = lambda _s: throttle_times(limiter, BULK_429S, 5.0)
    limiter.acquire()
    assert clock.now >= 105.0
    assert len(clock.sleeps) == 2


def test_no_pause_is_longer_than_max_pause() -> None:
    """Retry-After: 3600 fails that request (the client's job) and pauses the run 120 s only."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, max_pause=120.0)
    limiter.on_throttled(3600.0)
    assert limiter.paused_until == pytest.approx(220.0)
    assert limiter.acquire() == pytest.approx(120.0)


def test_the_run_gives_up_when_the_server_keeps_asking_for_long_waits() -> None:
    clock = FakeClock()
    asked: list[float] = []
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, max_pause=60.0, on_give_up=asked.append)
    throttle_times(limiter, 8, 3600.0)  # eight requests in flight answered at once: one pause
    assert asked == []
    limiter.acquire()  # after the pause ...
    limiter.on_throttled(7200.0)  # ... the server still wants a long break: give up
    assert asked == [7200.0]
    clock.now += 100
    throttle_times(limiter, 3, 7200.0)
    assert asked == [7200.0]  # said once


def test_a_success_between_long_waits_keeps_the_run_going() -> None:
    clock = FakeClock()
    asked: list[float] = []
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, max_pause=60.0, on_give_up=asked.append)
    for _ in range(3):
        limiter.on_throttled(3600.0)
        limiter.acquire()
        limiter.on_success()
    assert asked == []


def test_the_cut_is_the_share_of_recent_answers_refused() -> None:
    """The server took 45 of the last 46 requests: that is the rate it can take."""
    clock = FakeClock()
    limiter = RateLimiter(100.0, clock=clock, sleep=clock.sleep, recovery_s=1000)
    for _ in range(45):
        limiter.on_success()
    limiter.on_throttled(1.0)
    assert limiter.current_rps == pytest.approx(100.0 * 45 / 46)


def test_decrease_halves_the_configured_rate_then_recovers_with_time() -> None:
    """No count of successes: a second after the cut the rate is back, successes or not."""
    clock = FakeClock()
    limiter = RateLimiter(10.0, clock=clock, sleep=clock.sleep, recovery_s=1.0)
    limiter.on_throttled(1.0)
    assert limiter.current_rps == pytest.approx(5.0)
    clock.now += 0.5
    assert limiter.current_rps == pytest.approx(7.5)  # linear climb
    clock.now += 0.5
    assert limiter.current_rps == 10.0
    clock.now += 100
    assert limiter.current_rps == 10.0  # never above the configured rate


def test_the_climb_starts_when_a_pause_ends() -> None:
    clock = FakeClock()
    limiter = RateLimiter(8.0, clock=clock, sleep=clock.sleep, recovery_s=10.0)
    throttle_times(limiter, BULK_429S, 2.0)
    times = send_times(limiter, clock, 4)
    assert times[0] == pytest.approx(102.0)
    assert limiter.current_rps == pytest.approx(4.0, rel=0.15)  # barely climbed since 102
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.2 < g <= 0.25 for g in gaps)  # about 4 rps after the halving, and no burst


def test_simultaneous_429s_from_in_flight_requests_cut_once() -> None:
    clock = FakeClock()
    limiter = RateLimiter(16.0, clock=clock, sleep=clock.sleep, recovery_s=10.0)
    throttle_times(limiter, 4)  # four workers' requests all answered 429 at the same moment
    assert limiter.current_rps == pytest.approx(8.0)
    clock.now += 1.5  # a later, separate episode cuts again
    before = limiter.current_rps
    limiter.on_throttled(1.0)
    assert before is not None and limiter.current_rps == pytest.approx(before / 2)


def test_rate_never_drops_below_the_floor() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4.0, clock=clock, sleep=clock.sleep, min_rps=0.5, recovery_s=1000)
    for _ in range(20):
        limiter.on_throttled(0.0)
        rate = limiter.current_rps
        assert rate is not None and rate >= 0.5
        clock.now += 10
    limiter.on_throttled(0.0)
    assert limiter.current_rps == pytest.approx(0.5)


def test_unlimited_cut_is_half_the_measured_rate_then_unlimited_again() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, recovery_s=1.0)
    for _ in range(40):  # 40 requests over 2 seconds: 20 rps
        limiter.acquire()
        clock.now += 0.05
    limiter.on_throttled(1.0)
    assert limiter.current_rps == pytest.approx(10.0, rel=0.05)
    clock.now += 0.5
    assert limiter.current_rps is not None
    clock.now += 0.5
    assert limiter.current_rps is None


def simulate(
    limiter: RateLimiter, clock: FakeClock, fault_rate: float, pace: float, seed: int = 5
) -> int:
    """One sender for 60 fake seconds; a share of answers are 429 (Retry-After: 1) at random.

    ``pace`` is the sender's own time per request (its capacity when unlimited).
    Returns the requests sent.
    """
    rng = random.Random(seed)
    end, sent = clock.now + 60, 0
    while clock.now < end:
        limiter.acquire()
        sent += 1
        if rng.random() < fault_rate:
            limiter.on_throttled(1.0)
        else:
            limiter.on_success()
        clock.now += pace
    return sent


@pytest.mark.parametrize(("rps", "pace"), [(100.0, 0.0), (None, 1 / 300)], ids=["rps", "unlimited"])
def test_five_percent_random_429s_keep_two_thirds_of_the_throughput(
    rps: float | None, pace: float
) -> None:
    """An occasional 429 from a proxy must not sink the run to the floor (issue 17)."""
    clean_clock, faulty_clock = FakeClock(), FakeClock()
    clean = simulate(
        RateLimiter(rps, clock=clean_clock, sleep=clean_clock.sleep), clean_clock, 0.0, pace
    )
    faulty = simulate(
        RateLimiter(rps, clock=faulty_clock, sleep=faulty_clock.sleep), faulty_clock, 0.05, pace
    )
    assert faulty >= clean * 2 / 3


def test_success_without_a_previous_cut_changes_nothing() -> None:
    limiter = RateLimiter(3.0)
    limiter.on_success()
    assert limiter.current_rps == 3.0
    unlimited = RateLimiter()
    unlimited.on_success()
    assert unlimited.current_rps is None


def test_a_stop_during_a_pause_ends_the_wait() -> None:
    clock = FakeClock()
    stop = threading.Event()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, stop=stop)
    throttle_times(limiter, BULK_429S, 60.0)
    clock.on_sleep = lambda _s: stop.set()
    with pytest.raises(Stopping):
        limiter.acquire()
    with pytest.raises(Stopping):  # and nobody gets a slot afterwards
        limiter.acquire()


def test_a_stop_wakes_a_thread_waiting_out_a_long_pause() -> None:
    """On the real clock: Retry-After 999999 pauses everyone; setting stop frees them at once."""
    stop = threading.Event()
    limiter = RateLimiter(stop=stop)  # max_pause: the default 120 s
    limiter.on_throttled(999999.0)
    outcome: list[BaseException] = []
    started = threading.Event()

    def worker() -> None:
        started.set()
        try:
            limiter.acquire()
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    started.wait()
    stop.set()
    thread.join(timeout=30)  # a hang guard, not a duration under test
    assert not thread.is_alive()
    assert [type(e) for e in outcome] == [Stopping]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rps": 0},
        {"rps": -1.0},
        {"rps": 5.0, "burst": 0.5},
        {"min_rps": 0},
        {"recovery_s": 0},
        {"max_pause": -1},
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimiter(**kwargs)  # type: ignore[arg-type]


def test_threads_get_distinct_slots() -> None:
    """Eight threads, one frozen clock: the reserved slots form exactly one schedule.

    A race in the reservation would hand two threads the same slot (or skip one),
    which shows up as a schedule that differs from the single-threaded one.
    """
    clock_value = 0.0
    limiter = RateLimiter(10.0, clock=lambda: clock_value, sleep=lambda _s: None, burst=3)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            w = limiter.acquire()
            with lock:
                waits.append(w)

    # Switch threads as often as possible, so an unlocked read-modify-write would interleave.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(previous)
    expected = [max(0.0, (k - 2) * 0.1) for k in range(200)]
    assert sorted(waits) == pytest.approx(expected)


class SharedClock(FakeClock):
    """A fake clock several threads sleep on: each sleep moves it, under a lock."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self.lock:
            super().sleep(seconds)


def test_threads_sharing_the_limiter_stay_within_the_rate() -> None:
    # Six threads on one limiter and one injected clock: however they interleave,
    # the k-th grant comes no earlier than (k - burst) / rps after the start.
    rps, burst, per_thread, n_threads = 400.0, 4, 20, 6
    clock = SharedClock()
    limiter = RateLimiter(rps, burst=burst, clock=clock, sleep=clock.sleep)
    start = clock()
    stamps: list[float] = []

    def worker() -> None:
        for _ in range(per_thread):
            limiter.acquire()
            with clock.lock:
                stamps.append(clock())

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = per_thread * n_threads
    assert len(stamps) == total
    for k, stamp in enumerate(sorted(stamps), start=1):
        assert stamp - start >= (k - burst) / rps - 1e-9, k


# --------------------------------------------------------------------------- learn (--workers auto)


def test_learning_a_429_holds_the_cut_rate_through_its_trial_then_climbs() -> None:
    """With learn, a 429 after steady successes teaches a rate: held a while, then probed upwards."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, learn=True)
    for _ in range(60):  # 60 requests over 3 seconds, all taken: 20 rps
        limiter.acquire()
        limiter.on_success()
        clock.now += 0.05
    limiter.on_throttled(1.0)
    cut = limiter.current_rps
    assert cut == pytest.approx(20.0 * (1 - LEARN_CUT), rel=0.05)  # at least LEARN_CUT off
    clock.now += CUT_WINDOW_S + PROVE_S
    assert limiter.current_rps == cut  # on trial: no 429 came at the lower rate yet
    clock.now += 60
    rate = limiter.current_rps
    assert rate is not None and rate > 20.0  # no 429 for a minute: probed past the old rate


def test_a_429_among_the_first_answers_teaches_no_rate() -> None:
    """One 429 in the first five answers is a dip, as without learn: then unlimited again."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, learn=True)
    for _ in range(5):
        limiter.acquire()
        limiter.on_success()
        clock.now += 0.01
    limiter.on_throttled(1.0)
    assert limiter.current_rps is not None
    clock.now += 2.0
    assert limiter.current_rps is None


@pytest.mark.parametrize("seed", [5, 6, 7])
@pytest.mark.parametrize("fault_rate", [0.02, 0.05])
@pytest.mark.parametrize("pace", [1 / 300, 1 / 100], ids=["300rps", "100rps"])
def test_learning_keeps_most_of_the_rate_when_429s_come_at_random(
    pace: float, fault_rate: float, seed: int
) -> None:
    """429s that come whatever the rate teach no rate: the run keeps going (--workers auto)."""
    clean_clock, faulty_clock = FakeClock(), FakeClock()
    clean = simulate(
        RateLimiter(clock=clean_clock, sleep=clean_clock.sleep, learn=True), clean_clock, 0.0, pace
    )
    learner = RateLimiter(clock=faulty_clock, sleep=faulty_clock.sleep, learn=True)
    faulty = simulate(learner, faulty_clock, fault_rate, pace, seed)
    assert faulty >= 0.85 * clean
    assert learner.random_429s  # and says so (the places in flight are then not cut)


def test_learning_starts_from_what_the_server_took_not_from_what_was_sent() -> None:
    """Half the requests of the last second were refused: the rate it keeps is the other half."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, learn=True)
    for n in range(200):  # 200 rps sent for a second, every other one refused
        limiter.acquire()
        if n % 2 or n < 2:
            limiter.on_success()
        elif clock.now >= 100.5:
            limiter.on_throttled(1.0)
        clock.now += 0.005
    rate = limiter.current_rps
    assert rate is not None and rate <= 100 * (1 - LEARN_CUT) + 1


def test_learning_never_climbs_past_the_configured_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50.0, clock=clock, sleep=clock.sleep, learn=True)
    send_times(limiter, clock, 50)
    limiter.on_throttled(1.0)
    rate = limiter.current_rps
    assert rate is not None and rate < 50.0
    clock.now += 10_000
    assert limiter.current_rps == 50.0


def bucket_server(
    limiter: RateLimiter, clock: FakeClock, rate: float, seconds: float, pace: float
) -> tuple[int, int]:
    """One sender against a server that takes ``rate`` per second (a bucket of one
    second's worth, 429 with Retry-After beyond it); returns (answers taken, 429s)."""
    tokens, last, taken, refused = rate, clock.now, 0, 0
    end = clock.now + seconds
    while clock.now < end:
        limiter.acquire()
        tokens, last = min(rate, tokens + (clock.now - last) * rate), clock.now
        if tokens >= 1:
            tokens -= 1
            taken += 1
            limiter.on_success()
        else:
            refused += 1
            limiter.on_throttled(1.0)
        clock.now += pace
    return taken, refused


@pytest.mark.parametrize("pace", [1 / 1000, 1 / 150], ids=["fast-sender", "slow-sender"])
@pytest.mark.parametrize("rate", [20.0, 100.0, 300.0])
def test_learning_settles_under_a_servers_rate_with_few_429s(rate: float, pace: float) -> None:
    """What --workers auto is for: the server's rate found, and kept, with few refusals."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, learn=True)
    taken, refused = bucket_server(limiter, clock, rate, 120.0, pace=pace)
    assert not limiter.random_429s
    assert refused < 0.02 * (taken + refused)
    assert taken >= 0.85 * min(rate, 1 / pace) * 120.0
