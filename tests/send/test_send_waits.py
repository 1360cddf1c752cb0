"""Every wait of the send path ends on stop, and no try outlasts ``--timeout`` (issue 17).

Over real loopback: the sandbox answering 429 with a long ``Retry-After``, and a
plain socket server of this file that trickles its answer a byte at a time
(each byte well inside the read timeout, the whole answer never). Durations
are never asserted: ``join``/``communicate`` timeouts here only guard against a
hang, which is how the old code failed.
"""

from __future__ import annotations

import itertools
import json
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from importer.cli.summaries import run_summary
from importer.config import Credentials
from importer.errors import Stopping, TransportError
from importer.outputs.report import shown_json
from importer.sandbox.runner import start_sandbox
from importer.send.client import Client
from importer.send.client_settings import ClientSettings
from importer.send.in_flight import InFlight
from importer.send.throttle import BULK_429S, RateLimiter
from tests.conftest import SITE
from tests.send.test_run import PEOPLE, assert_invariant, ledger_counts, run_result
from tests.send.test_run_crash import start_run, wait_for
from tests.send.test_throttle import FakeClock, throttle_times

SANDBOX = Credentials("sandbox", "sandbox")
HANG_GUARD_S = 30  # far above any expected time: only a hang gets there


def new_lead() -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "source": "rg-import tests", "email": "t@example.com"}


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``call`` in a daemon thread; the list receives its result or exception."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def finished(thread: threading.Thread) -> bool:
    thread.join(timeout=HANG_GUARD_S)
    return not thread.is_alive()


class TricklingServer:
    """Reads each request, then answers one byte every ``interval`` seconds, without end.

    The answer is a status line followed by a header that never ends, so no
    single read waits long, and the answer is never complete.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/rest"
        self.got_request = threading.Event()
        self.stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            if not conn.recv(65536):
                return
            self.got_request.set()
            answer = itertools.chain(b"HTTP/1.1 201 Created\r\nX-Slow: ", itertools.repeat(97))
            for byte in answer:
                if self.stopping.wait(self.interval):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:  # the client hung up: what it should do at its deadline
                    return

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()


@contextmanager
def trickling(interval: float = 0.1) -> Iterator[TricklingServer]:
    server = TricklingServer(interval)
    try:
        yield server
    finally:
        server.stop()


# -- the client -------------------------------------------------------------------------


def test_a_trickling_answer_times_out_at_the_deadline() -> None:
    """--timeout bounds the whole try, not each read: a byte every 0.1 s cannot hold it."""
    with trickling() as server:
        client = Client(
            SANDBOX, ClientSettings(base_url=server.url, read_timeout=1.0, max_attempts=1)
        )
        with client:
            thread, outcome = in_thread(lambda: client.create_lead(SITE, new_lead()))
            assert finished(thread), "the trickled answer held the request past its deadline"
            stats = client.stats()
    [error] = outcome
    assert isinstance(error, TransportError)
    assert "within the 1 s timeout" in str(error)
    assert error.maybe_applied  # the request went out; the server may have applied it
    assert stats["by_status"] == {"timeout": 1}


def test_a_stop_cuts_a_try_in_flight_short() -> None:
    stop = threading.Event()
    with trickling() as server:
        settings = ClientSettings(base_url=server.url, read_timeout=600.0)
        with Client(SANDBOX, settings, stop=stop) as client:
            thread, outcome = in_thread(lambda: client.create_lead(SITE, new_lead()))
            assert server.got_request.wait(HANG_GUARD_S)
            stop.set()
            assert finished(thread), "the stop did not end the request in flight"
    [error] = outcome
    assert isinstance(error, Stopping) and error.maybe_applied


def test_a_stop_ends_a_retry_after_wait() -> None:
    """Retry-After 100 s (within max_retry_after): the wait ends as soon as the run stops."""
    stop = threading.Event()
    with (
        start_sandbox(port=0, fault_rate=1.0, faults=("429",), retry_after_s=100) as busy,
        Client(SANDBOX, ClientSettings(base_url=busy.url), stop=stop) as client,
    ):
        thread, outcome = in_thread(lambda: client.create_lead(SITE, new_lead()))
        wait_until(lambda: busy.stats()["total"] >= 1)
        stop.set()
        assert finished(thread), "the stop did not end the Retry-After wait"
    [error] = outcome
    assert isinstance(error, Stopping)
    assert not error.maybe_applied  # a 429 is a refusal: nothing was applied


def test_a_request_waiting_to_retry_holds_no_place_in_flight() -> None:
    """With one place in flight, a request sitting out Retry-After lets another one through."""
    stop = threading.Event()
    with start_sandbox(port=0, fault_rate=1.0, faults=("429",), retry_after_s=100) as busy:
        settings = ClientSettings(base_url=busy.url)
        with Client(SANDBOX, settings, stop=stop, max_in_flight=1) as client:
            first, first_outcome = in_thread(lambda: client.create_lead(SITE, new_lead()))
            wait_until(lambda: busy.stats()["total"] >= 1)
            second, _ = in_thread(lambda: client.create_lead(SITE, new_lead()))
            # the second request reaches the server while the first one waits
            wait_until(lambda: busy.stats()["total"] >= 2)
            assert first.is_alive()
            stop.set()
            assert finished(first) and finished(second)
    assert isinstance(first_outcome[0], Stopping)


def test_a_request_waiting_out_retry_after_is_counted_while_it_waits() -> None:
    """The count the run's threads grow by (importer.send.row_threads): one per waiting request."""
    stop = threading.Event()
    with (
        start_sandbox(port=0, fault_rate=1.0, faults=("429",), retry_after_s=100) as busy,
        Client(SANDBOX, ClientSettings(base_url=busy.url), stop=stop) as client,
    ):
        assert client.waiting_retries() == 0
        waiter, _ = in_thread(lambda: client.create_lead(SITE, new_lead()))
        wait_until(lambda: client.waiting_retries() == 1)
        stop.set()
        assert finished(waiter)
        assert client.waiting_retries() == 0


def test_places_in_flight_let_in_as_many_as_they_are_and_stop_ends_a_wait() -> None:
    """Two places: two threads prepare at once, a third waits until one gives its place
    back, and a waiter still waiting when the run stops raises Stopping, holding nothing."""
    stop = threading.Event()
    gate = InFlight(stop, 2, None, None)
    gate.prepare()  # this thread's place
    other, _ = in_thread(gate.prepare)
    assert finished(other), "the second place was not given"
    third, third_outcome = in_thread(lambda: gate.enter(maybe_applied=False))
    third.join(timeout=0.3)
    assert third.is_alive(), "a third thread got in past two places"
    gate.unprepare()  # this thread gives its place back: the third gets it
    assert finished(third)
    assert third_outcome == [None]
    fourth, fourth_outcome = in_thread(lambda: gate.enter(maybe_applied=True))
    stop.set()
    assert finished(fourth), "the stop did not end the wait for a place"
    [error] = fourth_outcome
    assert isinstance(error, Stopping) and error.maybe_applied


def test_a_rate_slot_taken_before_a_pause_is_taken_again_after_it() -> None:
    """prepare() takes a rate slot before the ledger records the row; when the server
    refuses in bulk meanwhile, the try waits out the pause instead of sending into it."""
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    gate = InFlight(threading.Event(), 4, limiter, None)
    gate.prepare()
    gate.enter(maybe_applied=False)  # no pause between the two: the try goes at once
    gate.leave()
    assert clock.sleeps == []
    gate.prepare()
    throttle_times(limiter, BULK_429S, 1.0)  # everyone pauses for 1 s
    paused_until = limiter.paused_until
    assert paused_until > clock.now
    gate.enter(maybe_applied=False)
    assert clock.now >= paused_until


def wait_until(condition: Callable[[], bool]) -> None:
    stop = threading.Event()
    for _ in range(HANG_GUARD_S * 50):
        if condition():
            return
        stop.wait(0.02)
    pytest.fail("the condition never held")


# -- a whole run --------------------------------------------------------------------------


def test_a_server_that_keeps_asking_for_long_waits_stops_the_run(tmp_path: Path) -> None:
    """Retry-After: 3600 on every answer: pauses of max_retry_after, then exit 4 saying when."""
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0, fault_rate=1.0, faults=("429",), retry_after_s=3600) as busy:
        thread, outcome = in_thread(
            lambda: run_result(
                busy, PEOPLE, ledger, tmp_path / "out", workers=2, max_retry_after=0.2
            )
        )
        assert finished(thread), "the run sat out the server's hour"
    [result] = outcome
    assert not isinstance(result, BaseException), result
    report = shown_json(result)
    assert report["exit_code"] == 4
    assert "keeps asking to wait 1 h" in report["stopped"]
    assert "run again after" in report["stopped"]
    assert run_summary(result).count("to resume") == 1  # said once, with the time
    assert_invariant(report)
    assert report["leads"]["created"] == report["leads"]["in_doubt"] == 0
    assert report["leads"]["not_sent"] > 0
    counts = ledger_counts(ledger)["leads"]
    assert counts["sending"] == counts["in_doubt"] == counts["sent"] == 0


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize(
    "server",
    [
        {"faults": ("429",), "retry_after_s": 999999},  # the run pauses (max_retry_after)
        {"faults": ("timeout",), "fault_delay_s": 999999},  # no answer at all
    ],
    ids=["retry-after-999999", "no-answer"],
)
def test_a_signal_ends_a_run_whatever_the_server_does(
    tmp_path: Path, stop_signal: signal.Signals, server: dict[str, Any]
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    out = tmp_path / "out"
    with start_sandbox(port=0, fault_rate=1.0, **server) as sandbox:
        command = [
            *_run_command(sandbox.url, ledger, out),
            "--timeout", "600",
        ]  # fmt: skip
        proc = start_run(command, tmp_path)
        wait_for(lambda: sandbox.stats()["total"] >= 1, proc)
        proc.send_signal(stop_signal)
        try:
            _, stderr = proc.communicate(timeout=HANG_GUARD_S)
        except Exception:
            proc.kill()
            proc.communicate()
            pytest.fail("the run did not end after the signal")

    # SIGTERM ends the run as Ctrl-C does, with its own code (128 + 15)
    code = 143 if stop_signal == signal.SIGTERM else 130
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    report = json.loads((out / "report.json").read_text())
    assert report["exit_code"] == code
    assert_invariant(report)
    counts = ledger_counts(ledger)
    assert counts["leads"]["sending"] == counts["activities"]["sending"] == 0
    assert counts["leads"]["sent"] == 0


def _run_command(url: str, ledger: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "importer", "run", str(PEOPLE), "-m", "followupboss",
        "--site", SITE, "--base-url", url, "--ledger", str(ledger), "--out", str(out),
        "--yes", "-q", "--workers", "2", "--assign", "off",  # (what the writes meet)
    ]  # fmt: skip
