"""The sending threads: one per place in flight plus one per row waiting out a retry, never more."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

import pytest

from importer.send.row_threads import RowOut, RowThreads


class Held:
    """A ``send`` that holds every row until released, counting the threads it saw."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.names: set[str] = set()
        self.started = threading.Semaphore(0)

    def __call__(self, plan: Any) -> Any:
        self.names.add(threading.current_thread().name)
        self.started.release()
        self.gate.wait(10)
        if plan == "boom":
            raise RuntimeError("a bug in sending")
        return f"sent {plan}"


def rows_out(n: int, plans: list[Any] | None = None) -> list[RowOut]:
    return [RowOut(None, i, plan) for i, plan in enumerate(plans or range(n))]  # type: ignore[arg-type]


def run_rows(
    threads: RowThreads, send: Held, rows: list[RowOut], finished: queue.SimpleQueue[RowOut],
    busy: int,
) -> list[RowOut]:  # fmt: skip
    """Hand ``rows`` out, wait until ``busy`` of them are being sent, then let all end."""
    for row in rows:
        threads.submit(row)
    for _ in range(busy):
        assert send.started.acquire(timeout=10)
    send.gate.set()
    ended = [finished.get(timeout=10) for _ in rows]
    threads.shutdown()
    return ended


def make(
    send: Held, *, places: int, most: int, waiting: Callable[[], int] | None
) -> tuple[RowThreads, queue.SimpleQueue[RowOut]]:
    finished: queue.SimpleQueue[RowOut] = queue.SimpleQueue()
    return RowThreads(send, finished, places=lambda: places, most=most, waiting=waiting), finished


def test_one_thread_per_place_in_flight_however_many_rows_are_out() -> None:
    send = Held()
    threads, finished = make(send, places=4, most=16, waiting=lambda: 0)

    ended = run_rows(threads, send, rows_out(50), finished, busy=4)

    assert threads.count == 4 and len(send.names) == 4  # the 46 others waited in the queue
    assert sorted(row.position for row in ended) == list(range(50))  # each ended once
    assert all(row.done and row.result() == f"sent {row.plan}" for row in ended)


def test_a_thread_more_per_row_waiting_out_a_retry_up_to_the_most() -> None:
    send = Held()
    waits = [3]
    threads, finished = make(send, places=4, most=16, waiting=lambda: waits[0])
    run_rows(threads, send, rows_out(20), finished, busy=7)
    assert threads.count == 7

    send = Held()
    waits = [40]
    threads, finished = make(send, places=4, most=16, waiting=lambda: waits[0])
    run_rows(threads, send, rows_out(20), finished, busy=16)
    assert threads.count == 16


def test_without_a_count_of_the_waits_it_keeps_the_most() -> None:
    """A client sending from other processes: its threads wait on them for whole requests."""
    send = Held()
    threads, finished = make(send, places=4, most=16, waiting=None)
    run_rows(threads, send, rows_out(20), finished, busy=16)
    assert threads.count == 16


def test_what_sending_raised_is_raised_where_the_row_is_settled() -> None:
    send = Held()
    threads, finished = make(send, places=2, most=8, waiting=lambda: 0)
    ended = run_rows(threads, send, rows_out(3, ["a", "boom", "b"]), finished, busy=2)

    by_plan = {row.plan: row for row in ended}
    with pytest.raises(RuntimeError, match="a bug in sending"):
        by_plan["boom"].result()
    assert by_plan["a"].result() == "sent a" and by_plan["b"].result() == "sent b"


def test_with_settle_a_row_ends_when_settle_tells_it() -> None:
    """``Sender.settled``: the row is put on ``finished`` by whoever commits its ledger write."""
    told: list[Callable[[Any, BaseException | None], None]] = []

    def settle(outcome: Any, tell: Callable[[Any, BaseException | None], None]) -> None:
        told.append(lambda _o, _e: tell(f"{outcome}, recorded", None))

    finished: queue.SimpleQueue[RowOut] = queue.SimpleQueue()
    send = Held()
    send.gate.set()
    threads = RowThreads(send, finished, places=lambda: 1, most=4, waiting=lambda: 0,
                         settle=settle)  # fmt: skip
    for row in rows_out(2):
        threads.submit(row)
    threads.shutdown()  # both sent: the thread went on without waiting for the commit
    assert finished.empty() and len(told) == 2

    for tell in told:  # the commit, from another thread
        tell(None, None)
    ended = [finished.get(timeout=1) for _ in range(2)]
    assert sorted(row.result() for row in ended) == ["sent 0, recorded", "sent 1, recorded"]
