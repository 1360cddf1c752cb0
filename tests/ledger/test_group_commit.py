"""Group commit: the write-ahead writes of concurrent threads share transactions, never durability."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from importer.errors import LedgerGone
from importer.ledger.group_commit import GroupCommit
from importer.ledger.ledger import Ledger
from importer.ledger.store import payload_hash
from importer.ledger.transitions import LeadIdConflict
from tests.conftest import SITE
from tests.ledger.test_ledger import kill, run_python

INSERT_RUN = "INSERT INTO runs (run_id, recorded_at, creations_known) VALUES (?, 'now', 1)"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite", run_id="run-1") as opened:
        yield opened


def runs_on_disk(path: Path) -> set[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        found = {row[0] for row in raw.execute("SELECT run_id FROM runs")}
    raw.close()
    return found


def insert(run_id: str, fail: Exception | None = None) -> Callable[[Any], str]:
    def work(conn: Any) -> str:
        conn.execute(INSERT_RUN, (run_id,))
        if fail is not None:
            raise fail
        return run_id

    return work


class Group:
    """A GroupCommit whose first writer holds its transaction open until ``release``."""

    def __init__(self, ledger: Ledger) -> None:
        self.store = ledger.store
        self.commit = GroupCommit(self.store)
        self.transactions = 0
        self.gate = threading.Event()
        self.results: dict[str, Any] = {}
        self.interrupt = False  # the leader is interrupted (Ctrl-C) once released
        self.threads: list[threading.Thread] = []
        opened = self.store.transaction

        @contextmanager
        def counted() -> Iterator[Any]:
            self.transactions += 1
            with opened() as conn:
                yield conn

        self.store.transaction = counted  # type: ignore[method-assign]
        self.start("leader", self.lead)
        self.wait_for(lambda: self.transactions == 1)

    def lead(self, conn: Any) -> bool:
        """The first writer's work: hold the transaction open until released."""
        self.gate.wait(10)
        if self.interrupt:
            raise KeyboardInterrupt
        return True

    def start(self, name: str, work: Callable[[Any], Any]) -> None:
        def call() -> None:
            try:
                self.results[name] = self.commit.run(work)
            except BaseException as exc:  # the thread's own outcome, for the test to look at
                self.results[name] = exc

        thread = threading.Thread(target=call)
        self.threads.append(thread)
        thread.start()

    def queue(self, works: dict[str, Callable[[Any], Any]]) -> None:
        """Start a thread per write and wait until all of them wait behind the leader."""
        queued = len(self.commit._waiting)
        for name, work in works.items():
            self.start(name, work)
        self.wait_for(lambda: len(self.commit._waiting) == queued + len(works))

    def release(self) -> dict[str, Any]:
        self.gate.set()
        for thread in self.threads:
            thread.join(10)
        return self.results

    @staticmethod
    def wait_for(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, "the writers never got there"
            time.sleep(0.005)


def test_writes_waiting_together_commit_in_one_transaction(ledger: Ledger) -> None:
    group = Group(ledger)
    group.queue({f"r{n}": insert(f"r{n}") for n in range(5)})
    assert not runs_on_disk(Path(ledger.store.path)) & {f"r{n}" for n in range(5)}

    results = group.release()

    assert results == {"leader": True, **{f"r{n}": f"r{n}" for n in range(5)}}
    assert group.transactions == 2  # the leader's, then one for the five waiting behind it
    assert {f"r{n}" for n in range(5)} <= runs_on_disk(Path(ledger.store.path))


def test_a_write_that_fails_is_undone_alone(ledger: Ledger) -> None:
    conflict = LeadIdConflict("lead id taken")
    group = Group(ledger)
    group.queue(
        {"good1": insert("good1"), "bad": insert("bad", conflict), "good2": insert("good2")}
    )

    results = group.release()

    assert results["bad"] is conflict  # raised in its own thread
    assert results["good1"] == "good1" and results["good2"] == "good2"
    on_disk = runs_on_disk(Path(ledger.store.path))
    assert {"good1", "good2"} <= on_disk and "bad" not in on_disk  # rolled back to its savepoint


def test_a_group_that_cannot_commit_fails_every_write_of_it(ledger: Ledger) -> None:
    group = Group(ledger)
    group.queue({"a": insert("a"), "b": insert("b")})
    os.remove(ledger.store.path)  # the next transaction finds the ledger gone

    results = group.release()

    assert results["leader"] is True  # its transaction was under way: it commits
    assert isinstance(results["a"], LedgerGone) and isinstance(results["b"], LedgerGone)


class Told:
    """What ``settled`` told a thread's later write: the error (None: committed), and in which thread."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error: BaseException | None = None
        self.thread: str | None = None

    def __call__(self, error: BaseException | None) -> None:
        self.error, self.thread = error, threading.current_thread().name
        self.event.set()


def hand_in_later(commit: GroupCommit, work: Callable[[Any], Any], name: str) -> tuple[Any, Told]:
    """In a thread called ``name``: hand ``work`` in later, then ask to be told when it is settled."""
    told, returned = Told(), []

    def call() -> None:
        returned.append(commit.run(work, later=True))
        commit.settled(told)

    thread = threading.Thread(target=call, name=name)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "a write handed in later waited"
    return returned[0], told


def test_a_write_handed_in_later_returns_at_once_and_is_told_once_committed(ledger: Ledger) -> None:
    group = Group(ledger)
    returned, told = hand_in_later(group.commit, insert("late"), "sender")

    # the caller went on while the leader still held its transaction open
    assert returned is None and not told.event.is_set()
    assert "late" not in runs_on_disk(Path(ledger.store.path))

    group.release()
    assert told.event.wait(10) and told.error is None
    assert told.thread != "sender"  # the leader told it, once it had committed it
    assert "late" in runs_on_disk(Path(ledger.store.path))
    # no thread waited behind the leader: it led again for the write handed in later
    assert group.transactions == 2 and not group.commit._leading


def test_a_write_handed_in_later_is_committed_before_the_next_write_returns(
    ledger: Ledger,
) -> None:
    group = Group(ledger)
    hand_in_later(group.commit, insert("late"), "sender")
    group.queue({"next": insert("next")})  # the same thread's next row, say

    results = group.release()
    assert results["next"] == "next"
    assert {"late", "next"} <= runs_on_disk(Path(ledger.store.path))
    assert group.transactions == 2  # both in the group after the leader's


def test_a_later_write_that_fails_is_told_its_error_alone(ledger: Ledger) -> None:
    conflict = LeadIdConflict("lead id taken")
    group = Group(ledger)
    group.queue({"good": insert("good")})
    _, told = hand_in_later(group.commit, insert("bad", conflict), "sender")

    results = group.release()
    assert told.event.wait(10) and told.error is conflict
    assert results["good"] == "good"
    on_disk = runs_on_disk(Path(ledger.store.path))
    assert "good" in on_disk and "bad" not in on_disk


def test_an_interrupted_leader_hands_a_later_write_to_a_thread_that_waits(ledger: Ledger) -> None:
    """The first write in line has no thread waiting on it: the next one that has leads."""
    group = Group(ledger)
    group.interrupt = True
    _, told = hand_in_later(group.commit, insert("late"), "sender")
    group.queue({"b": insert("b")})

    results = group.release()

    assert isinstance(results["leader"], KeyboardInterrupt)
    assert results["b"] == "b"
    assert told.event.wait(10) and told.error is None
    assert {"late", "b"} <= runs_on_disk(Path(ledger.store.path))


def test_a_later_write_alone_is_committed_by_its_own_thread(ledger: Ledger) -> None:
    commit = GroupCommit(ledger.store)
    _, told = hand_in_later(commit, insert("alone"), "sender")
    assert told.event.is_set() and told.error is None and told.thread == "sender"
    assert "alone" in runs_on_disk(Path(ledger.store.path))
    # nothing handed in later: told at once
    nothing = Told()
    commit.settled(nothing)
    assert nothing.event.is_set() and nothing.error is None


def begin_lead(ledger: Ledger, key: str, payload: dict[str, Any], **kwargs: Any) -> None:
    lead_id = kwargs.pop("lead_id", str(uuid.uuid5(uuid.NAMESPACE_URL, key)))
    ledger.begin_lead(
        SITE, "fub", key, lead_id, payload=payload, payload_hash=payload_hash(payload)
    )


def test_an_interrupted_leader_unwinds_alone(ledger: Ledger) -> None:
    """Ctrl-C in the thread committing a group: the threads waiting behind it still commit."""
    group = Group(ledger)
    group.interrupt = True
    group.queue({"a": insert("a"), "b": insert("b")})

    results = group.release()

    assert isinstance(results["leader"], KeyboardInterrupt)
    assert results["a"] == "a" and results["b"] == "b"
    assert {"a", "b"} <= runs_on_disk(Path(ledger.store.path))


def test_writes_of_a_group_whose_leader_is_interrupted_go_to_the_next(ledger: Ledger) -> None:
    def interrupted(conn: Any) -> None:
        conn.execute(INSERT_RUN, ("x",))
        raise KeyboardInterrupt

    group = Group(ledger)
    group.queue({"x": interrupted})  # first in line: it leads the next group, x, y and z
    group.queue({"y": insert("y"), "z": insert("z")})

    results = group.release()

    assert isinstance(results["x"], KeyboardInterrupt)
    assert results["y"] == "y" and results["z"] == "z"
    on_disk = runs_on_disk(Path(ledger.store.path))
    assert {"y", "z"} <= on_disk and "x" not in on_disk


def test_many_threads_see_their_own_outcomes(ledger: Ledger) -> None:
    """Begins and outcomes of 16 threads at once, a conflict now and then: each gets its own."""
    errors: list[BaseException] = []

    def rows(thread: int) -> None:
        for n in range(40):
            key = f"t{thread}-{n}"
            payload = {"key": key}
            try:
                begin_lead(ledger, key, payload)
                if n % 10 == 0:  # another row's id: refused, for this thread only
                    with pytest.raises(LeadIdConflict):
                        begin_lead(ledger, "t0-0", payload, lead_id=str(uuid.uuid4()))
                ledger.lead_sent(SITE, "fub", key, status=201)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=rows, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert ledger.counts()["leads"] == {"sending": 0, "sent": 640, "failed": 0, "in_doubt": 0}
    sent = {record.key: record.payload for record in ledger.iter_leads(state="sent")}
    assert sent == {key: {"key": key} for key in sent} and len(sent) == 640


THREADED_CRASH = """
import sys, threading, uuid
from importer.ledger.ledger import Ledger
from importer.ledger.store import payload_hash
from importer.ledger.store import payload_hash
path, site, threads, later = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "later"
ledger = Ledger(path, run_id="crashing")
ready = threading.Barrier(threads + 1)

def rows(thread):
    n = 0
    while True:
        key = f"t{thread}-{n}"
        payload = {"key": key}
        ledger.begin_lead(site, "fub", key, str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
                          payload=payload, payload_hash=payload_hash(payload))
        ledger.lead_sent(site, "fub", key, status=201, later=later)
        n += 1
        if n == 20:
            ready.wait()

for t in range(threads):
    threading.Thread(target=rows, args=(t,), daemon=True).start()
ready.wait()
print("ready", flush=True)
threading.Event().wait()
"""


@pytest.mark.parametrize("outcome", ["waited", "later"])
@pytest.mark.parametrize("delay", [0.0, 0.1])
def test_sigkill_leaves_at_most_one_open_row_per_thread(
    tmp_path: Path, delay: float, outcome: str
) -> None:
    """The in-doubt bound of a killed run: a thread's begin returns only once committed, with
    the outcome it handed in before (``later``: committed in the same group or an earlier one)."""
    path = tmp_path / "crash.sqlite"
    child = run_python(THREADED_CRASH, str(path), SITE, "8", outcome)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    time.sleep(delay)
    kill(child)

    with Ledger(path, run_id="next") as after:
        counts = after.counts()["leads"]
        assert counts["sending"] <= 8
        assert counts["sent"] >= 8 * 20
        for sent in after.iter_leads(state="sent"):
            assert sent.payload == {"key": sent.key}
        assert after.recover()["leads"] == counts["sending"]
