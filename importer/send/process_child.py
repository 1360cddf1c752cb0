"""One sending process of ``--send-processes``: a real ``Client`` serving a pipe.

Started by ``importer.send.process_client`` as ``python -m
importer.send.process_child FD``, where FD is its end of a socket pair. The
first message brings the credentials, the client settings and this process's
share of ``--workers``/``--max-workers``/``--rps`` (over the pipe, never in argv
or the environment); every later one is a call of a ``Client`` method, run by a
pool of threads, answered with its result or its error as plain data
(``importer.send.process_wire``), and the client's running stats.

It ignores Ctrl-C and SIGTERM (the run's process decides when to stop and says
so) and ends when the pipe closes: the run's process ended, however it ended.
"""

from __future__ import annotations

import signal

# first: a Ctrl-C at the terminal reaches the whole process group, and a service manager's
# SIGTERM often the whole group too; only the run's process may act on them (it stops the
# run and tells this process, whose tries in flight then get their grace to finish)
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)

import os  # noqa: E402
import queue  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from multiprocessing.connection import Connection  # noqa: E402
from typing import Any  # noqa: E402

from importer.collector import collect_less_often  # noqa: E402
from importer.send import process_wire as wire  # noqa: E402

__all__ = ["main"]

_CALLS = frozenset(
    {"create_lead", "update_lead", "add_activities", "create_potential_seller_lead", "list_users"}
)


class _Serving:
    """The client of this process and the one pipe back to the run's process."""

    def __init__(self, conn: Connection, setup: dict[str, Any]) -> None:
        from importer.config import Credentials
        from importer.send.client import Client
        from importer.send.concurrency import ConcurrencyLimit
        from importer.send.throttle import RateLimiter

        self.conn = conn
        self.send_lock = threading.Lock()
        self.stop = threading.Event()
        self.log_attempts = setup["log_attempts"]
        self.local = threading.local()
        settings = setup["settings"]
        limiter = RateLimiter(
            setup["rps"], stop=self.stop, max_pause=settings.max_retry_after,
            on_give_up=self._gave_up, learn=setup["auto"],
        )  # fmt: skip
        auto = ConcurrencyLimit(setup["max_workers"]) if setup["auto"] else None
        self.client = Client(
            Credentials(*setup["credentials"]), settings, rate_limiter=limiter, stop=self.stop,
            max_in_flight=setup["max_in_flight"], concurrency=auto,
            on_attempt=self._attempted if self.log_attempts else None,
        )  # fmt: skip
        # a plain queue and threads started up front: a call costs a put and a get, where
        # an executor's submit makes a Future and wakes a thread through a Condition
        self.calls: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._work, name=f"send-{i}", daemon=True)
            for i in range(setup["threads"])
        ]
        for thread in self.threads:
            thread.start()

    def serve(self) -> None:
        """Answer calls until told to close; a pipe that closes ends the process at once."""
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                # the run's process is gone: nobody is left to hear an answer
                self.stop.set()
                os._exit(0)
            kind = message[0]
            if kind == wire.CALL:
                self.calls.put(message[1:])
            elif kind == wire.STOP:
                self.stop.set()
            elif kind == wire.STATS:
                self._answer(message[1], True, None, [])
            elif kind == wire.CLOSE:
                break
        for _ in self.threads:
            self.calls.put(None)
        for thread in self.threads:
            thread.join()
        self.client.close()

    def _work(self) -> None:
        while (call := self.calls.get()) is not None:
            self._call(*call)

    def _call(self, call_id: int, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.local.attempts = []
        try:
            if name not in _CALLS:
                raise ValueError(f"not a call a sending process makes: {name!r}")
            result = getattr(self.client, name)(*args, **kwargs)
        except Exception as exc:  # every error goes back as data, to the row that made the call
            self._answer(call_id, False, wire.error_data(exc), self.local.attempts)
            return
        if name == "list_users":
            data: Any = [(u.id, u.name, u.email, u.role, u.admin) for u in result]
        else:
            data = (result.status, result.attempts, result.unknown_outcomes, result.elapsed,
                    result.content)  # fmt: skip
        self._answer(call_id, True, data, self.local.attempts)

    def _answer(self, call_id: int, ok: bool, data: Any, attempts: list[tuple[Any, ...]]) -> None:
        message = (wire.DONE, call_id, ok, data, self.client.stats(), attempts)
        self._send(message)

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            with self.send_lock:
                self.conn.send(message)
        except OSError:  # the run's process is gone; serve() sees the pipe close
            self.stop.set()

    def _attempted(self, *attempt: Any) -> None:
        """``on_attempt``: kept with the call's answer, for the run's log."""
        self.local.attempts.append(attempt)

    def _gave_up(self, seconds: float) -> None:
        self._send((wire.GIVE_UP, seconds))


def main() -> None:
    collect_less_often()  # as the run's own process does (importer.collector)
    conn = Connection(int(sys.argv[1]))
    try:
        setup = conn.recv()
    except (EOFError, OSError):
        return
    _Serving(conn, setup).serve()


if __name__ == "__main__":
    main()
