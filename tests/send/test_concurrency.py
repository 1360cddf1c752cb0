"""ConcurrencyLimit and AdaptiveGate (``--workers auto``), on a fake clock.

Every answer is fed with its round trip and the number of tries on the wire
when it left; the clock only moves when a test moves it.
"""

from __future__ import annotations

import random
import threading

import pytest

from importer.send.concurrency import (
    BACKOFF,
    FLOOR_WINDOW_S,
    INITIAL_LIMIT,
    AdaptiveGate,
    ConcurrencyLimit,
)
from importer.send.in_flight import InFlight
from importer.send.retry_policy import classify_answer
from importer.send.throttle import RateLimiter

RTT = 0.1  # a server answering in 100 ms


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a_round(limit: ConcurrencyLimit, clock: Clock, rtt: float = RTT, *, busy: bool = True) -> None:
    """A limit's worth of good answers, ``rtt`` each; all places on the wire if ``busy``."""
    clock.now += rtt
    on_wire = limit.limit if busy else 0
    for _ in range(limit.limit):
        limit.on_answer(rtt, on_wire=on_wire)


def after_first_cut(maximum: int = 64) -> tuple[ConcurrencyLimit, Clock]:
    """A limit past slow start: grown to 16, then cut once by a 429."""
    clock = Clock()
    limit = ConcurrencyLimit(maximum, clock=clock)
    while limit.limit < 16:
        a_round(limit, clock)
    clock.now += RTT
    limit.on_answer(RTT, on_wire=16, refused=True)
    assert limit.limit == int(16 * BACKOFF)
    return limit, clock


def test_while_round_trips_stay_flat_the_limit_doubles_then_stops_at_the_maximum() -> None:
    clock = Clock()
    limit = ConcurrencyLimit(20, clock=clock)
    assert limit.limit == INITIAL_LIMIT
    seen = [limit.limit]
    for _ in range(4):
        a_round(limit, clock)
        seen.append(limit.limit)
    assert seen == [4, 8, 16, 20, 20]


def test_slow_start_goes_on_while_round_trips_stay_within_tolerance() -> None:
    clock = Clock()
    limit = ConcurrencyLimit(64, clock=clock)
    a_round(limit, clock)  # the floor: 100 ms
    a_round(limit, clock, rtt=RTT * 1.5)  # slower, but within floor x tolerance
    a_round(limit, clock, rtt=RTT * 1.9)
    assert limit.limit == INITIAL_LIMIT * 8


def test_slow_start_ends_where_round_trips_pass_the_tolerance_though_within_the_slack() -> None:
    """At 0 ms latency a round trip is mostly this process's threads taking turns: doubling
    their queue sends no more, and every place on the wire draws a 429 once a rate-limited
    server runs out of room (the bench's --rate-limit 100 runs drew 20 to 45 429s at once)."""
    clock = Clock()
    limit = ConcurrencyLimit(64, clock=clock)
    a_round(limit, clock, rtt=0.002)  # the floor: 2 ms
    assert limit.limit == INITIAL_LIMIT * 2
    a_round(limit, clock, rtt=0.005)  # above 2 ms x tolerance, far within the 10 ms slack
    assert limit.limit == INITIAL_LIMIT * 2 + 1  # no cut: one more place, and no more doubling
    for n in range(1, 4):
        a_round(limit, clock, rtt=0.002)
        assert limit.limit == INITIAL_LIMIT * 2 + 1 + n


def test_after_a_cut_it_grows_by_one_place_per_round() -> None:
    limit, clock = after_first_cut()
    start = limit.limit
    for n in range(1, 6):
        a_round(limit, clock)
        assert limit.limit == start + n


def test_places_left_unused_prove_nothing_so_the_limit_stays() -> None:
    """When the rate limiter or the reading holds the run back, the limit does not climb."""
    clock = Clock()
    limit = ConcurrencyLimit(64, clock=clock)
    for _ in range(10):
        a_round(limit, clock, busy=False)
    assert limit.limit == INITIAL_LIMIT


@pytest.mark.parametrize("failure", ["429", "503", "504", "timeout"])
def test_a_refusal_for_load_cuts_the_limit(failure: str) -> None:
    clock = Clock()
    limit = ConcurrencyLimit(64, clock=clock)
    gate = AdaptiveGate(limit)
    for _ in range(3):
        a_round(limit, clock)
    assert limit.limit == 32
    start = gate.sending()
    clock.now += RTT
    gate.answered(start, failure, None)
    gate.sent()
    assert limit.limit == int(32 * BACKOFF)


@pytest.mark.parametrize("failure", ["422", "404", "500"])
def test_an_answer_refusing_the_data_is_an_ordinary_round_trip(failure: str) -> None:
    clock = Clock()
    limit = ConcurrencyLimit(64, clock=clock)
    gate = AdaptiveGate(limit)
    for _ in range(INITIAL_LIMIT):
        start = gate.sending()
        clock.now += RTT / INITIAL_LIMIT
        gate.answered(start, failure, None)
    assert limit.limit == 2 * INITIAL_LIMIT


def test_a_try_that_got_no_answer_tells_nothing() -> None:
    clock = Clock()
    limit = ConcurrencyLimit(64, clock=clock)
    gate = AdaptiveGate(limit)
    for _ in range(3 * INITIAL_LIMIT):
        start = gate.sending()
        clock.now += 5.0
        gate.answered(start, "connection", None)
    assert limit.limit == INITIAL_LIMIT
    assert limit.floor is None


def test_the_answers_of_tries_sent_before_a_cut_do_not_cut_again() -> None:
    clock = Clock()
    limit = ConcurrencyLimit(64, clock=clock)
    for _ in range(3):
        a_round(limit, clock)
    assert limit.limit == 32
    clock.now += RTT
    # 32 tries were out together; all come back 429 within their round trip
    for n in range(32):
        limit.on_answer(RTT + n * 0.001, on_wire=32, refused=True)
        clock.now += 0.001
    assert limit.limit == int(32 * BACKOFF)
    # a try sent after the cut that is refused again: the cut was not enough
    clock.now += RTT
    limit.on_answer(RTT / 2, on_wire=10, refused=True)
    assert limit.limit == int(int(32 * BACKOFF) * BACKOFF)


def test_retry_after_holds_the_limit_still_until_it_has_passed() -> None:
    limit, clock = after_first_cut()
    clock.now += RTT
    limit.on_answer(RTT / 2, on_wire=5, refused=True, retry_after=5.0)
    held = limit.limit
    # within those 5 s: more 429s cut nothing more, and good rounds grow nothing
    for _ in range(10):
        clock.now += 0.2
        limit.on_answer(0.1, on_wire=5, refused=True, retry_after=5.0)
        a_round(limit, clock)
    assert limit.limit == held
    clock.now += 5.0
    a_round(limit, clock)
    assert limit.limit == held + 1


def test_round_trips_well_above_the_floor_cut_the_limit() -> None:
    limit, clock = after_first_cut()
    a_round(limit, clock)  # the floor: 100 ms
    before = limit.limit
    a_round(limit, clock, rtt=RTT * 1.5)  # a little slower: within tolerance, still grows
    assert limit.limit == before + 1
    a_round(limit, clock, rtt=RTT * 3)  # a queue builds at the server
    assert limit.limit == int((before + 1) * BACKOFF)


def test_the_limit_never_falls_below_one() -> None:
    clock = Clock()
    limit = ConcurrencyLimit(64, clock=clock)
    for _ in range(20):
        clock.now += 10.0
        limit.on_answer(0.01, on_wire=1, refused=True)
    assert limit.limit == 1
    a_round(limit, clock)
    assert limit.limit == 2


def test_the_start_is_clamped_to_the_maximum() -> None:
    clock = Clock()
    limit = ConcurrencyLimit(2, clock=clock)
    assert limit.limit == 2
    for _ in range(5):
        a_round(limit, clock)
    assert limit.limit == 2
    assert limit.summary() == {"final": 2, "peak": 2}
    with pytest.raises(ValueError, match="at least 1"):
        ConcurrencyLimit(0)


def test_the_floor_is_the_shortest_round_trip_of_its_window() -> None:
    """A server that became slower for good is the new normal once the window has passed."""
    limit, clock = after_first_cut()
    a_round(limit, clock, rtt=0.05)
    assert limit.floor == 0.05
    clock.now += FLOOR_WINDOW_S + 1
    a_round(limit, clock, rtt=0.3)  # six times the old floor, but the only one now
    assert limit.floor == 0.3
    before = limit.limit
    a_round(limit, clock, rtt=0.3)
    assert limit.limit == before + 1


def test_summary_keeps_the_peak_after_a_cut() -> None:
    limit, _clock = after_first_cut()
    assert limit.summary() == {"final": int(16 * BACKOFF), "peak": 16}


# --------------------------------------------------------------------------- the gate


def test_the_gate_lets_in_as_many_as_the_limit_and_wakes_a_waiter_when_it_grows() -> None:
    clock = Clock()
    limit = ConcurrencyLimit(64, initial=2, clock=clock)
    gate = AdaptiveGate(limit)
    assert gate.acquire(timeout=0) and gate.acquire(timeout=0)
    assert not gate.acquire(timeout=0.01)
    got = threading.Event()
    waiter = threading.Thread(target=lambda: gate.acquire(timeout=10) and got.set())
    waiter.start()
    starts = [gate.sending(), gate.sending()]
    clock.now += RTT
    for start in starts:  # a good round with both places busy: the limit doubles to 4
        gate.answered(start, None, None)
        gate.sent()
    waiter.join(timeout=5)
    assert got.is_set()
    assert limit.limit == 4
    gate.release()
    assert gate.acquire(timeout=0) and gate.acquire(timeout=0)
    assert not gate.acquire(timeout=0)


def _random_429s(limiter: RateLimiter, clock: Clock) -> None:
    """Answers at 100 a second, 10% of them 429 at random, until the limiter calls them that."""
    rng = random.Random(3)
    for _ in range(6000):
        limiter.acquire()
        if rng.random() < 0.1:
            limiter.on_throttled(1.0)
        else:
            limiter.on_success()
        clock.now += 0.01
        if limiter.random_429s:
            return
    raise AssertionError("random 429s were never taken as such")


def _answer_429(in_flight: InFlight) -> None:
    in_flight.enter(maybe_applied=False)
    failure = classify_answer(429, "Too Many Requests", {"Retry-After": "1"}, b"",
                              method="POST", url="http://sandbox/leads")  # fmt: skip
    in_flight.answered(failure)
    in_flight.leave()


@pytest.mark.parametrize("random_before", [False, True], ids=["first-429", "random-429s"])
def test_429s_the_rate_limiter_takes_as_random_do_not_cut_the_places(random_before: bool) -> None:
    """A 429 cuts the places, unless 429s come whatever the rate: then they tell nothing of load."""
    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.now += seconds

    limiter = RateLimiter(clock=clock, sleep=sleep, learn=True)
    if random_before:
        _random_429s(limiter, clock)
    limit = ConcurrencyLimit(64, clock=clock)
    in_flight = InFlight(threading.Event(), None, limiter, sleep, concurrency=limit)
    _answer_429(in_flight)
    assert limit.limit == (INITIAL_LIMIT if random_before else int(INITIAL_LIMIT * BACKOFF))
