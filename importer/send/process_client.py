"""``--send-processes N``: the run's requests made by N processes, each with its own ``Client``.

One process sending at 0 ms latency is bound by Python's GIL: most of a
sending thread's time is the HTTP library's. ``ProcessClient`` offers the
methods ``importer.send.sender`` calls on a ``Client``, and hands each call to
one of N sending processes (``importer.send.process_child``): chosen by the
lead (or site), so a lead's requests all go through the same process, and the
calling thread waits for the answer. Planning, the ledger, the send loop, the
results and the report stay in the run's process, as with one.

Each sending process runs a real ``Client``: its own connections, retries,
circuit of waits; its share of ``--workers`` (in flight at once; with auto, of
``--max-workers``) and of ``--rps``. The processes are started with
``subprocess`` (a fresh interpreter: nothing of this process's threads or
open files is copied) and get the credentials over their pipe.

What must hold whatever happens:
- a sending process that dies turns its calls in flight into failures that may
  have been applied (``TransportError``, ``maybe_applied``: the rows end in
  doubt and the next run settles them) and stops the run; a later call is
  refused as never sent. Nothing is resent by this module.
- the run's stop (Ctrl-C, SIGTERM, the breaker) reaches every process: its
  waits end and its tries in flight are cut short, as in one process.
- the processes end with the run's process: each ends when its pipe closes.
- ``stats`` is the sum of the processes' stats.

``prepare`` only checks the stop: the wait for a place in flight and for the
rate limiter happens in the sending process, after the ledger marked the row
``sending``. A stop during that wait ends the row not sent, as before; a crash
during it leaves the row in doubt, which the next run settles.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from multiprocessing import Pipe
from pathlib import Path
from typing import Any

from importer.config import ENV_PASSWORD, ENV_USERNAME
from importer.errors import ConfigError, Stopping, TransportError
from importer.send import process_wire as wire
from importer.send.client import AttemptHook, Response
from importer.send.client_settings import ClientSettings
from importer.send.concurrency import INITIAL_LIMIT
from importer.send.users import User

__all__ = ["ProcessClient", "check_send_processes"]

THREADS_PER_PLACE = 4  # a process's threads per place in flight (as send_loop's pool)
STOP_POLL_S = 0.1  # how soon a stop of the run is passed on to the processes
CLOSE_WAIT_S = 10.0  # a process that has not ended this long after close is killed
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds ``importer``


def check_send_processes(processes: int, most_in_flight: int) -> None:
    """Raise ConfigError when ``processes`` cannot share ``most_in_flight`` places."""
    if processes > most_in_flight:
        raise ConfigError(
            f"--send-processes {processes} needs at least {processes} --workers "
            f"(each process sends at least one request at a time), not {most_in_flight}"
        )


def shares(total: int, parts: int) -> list[int]:
    """``total`` cut into ``parts`` whole shares as even as can be."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class _Pending:
    """A call waiting for its answer: ``wait`` returns once ``answer`` was called."""

    __slots__ = ("_done", "data", "ok")

    def __init__(self) -> None:
        # a bare lock, held until the answer comes: cheaper than an Event for one wait
        self._done = threading.Lock()
        self._done.acquire()
        self.ok = False
        self.data: Any = None

    def answer(self, ok: bool, data: Any) -> None:
        self.ok, self.data = ok, data
        self._done.release()

    def wait(self) -> None:
        self._done.acquire()


class _Child:
    """One sending process, its pipe, and the calls waiting for its answers."""

    def __init__(self, number: int, setup: dict[str, Any], on_message: Callable[..., None]):
        self.number = number
        self.places = setup["max_in_flight"]
        self.conn, theirs = Pipe(duplex=True)
        # the credentials come over the pipe: the process needs none from its environment
        env = {k: v for k, v in os.environ.items() if k not in (ENV_USERNAME, ENV_PASSWORD)}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "importer.send.process_child", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            env=env, close_fds=True,
        )  # fmt: skip
        theirs.close()
        self.send_lock = threading.Lock()
        self.pending: dict[int, _Pending] = {}
        self.lock = threading.Lock()  # guards pending and alive
        self.alive = True
        self.stats: dict[str, Any] = {"total": 0, "retries": 0, "by_status": {}}
        self.send(setup)
        self.reader = threading.Thread(
            target=on_message, args=(self,), name=f"send-process-{number}", daemon=True
        )
        self.reader.start()

    def send(self, message: Any) -> bool:
        """Send a message; False when the process is gone."""
        try:
            with self.send_lock:
                self.conn.send(message)
        except (OSError, ValueError):
            return False
        return True

    def how_it_ended(self) -> str:
        try:
            code = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "its pipe closed"
        return f"killed by signal {-code}" if code < 0 else f"exit {code}"


class ProcessClient:
    """A ``Client`` whose requests N sending processes make; see the module docstring.

    ``workers`` (in flight at once), ``max_workers`` (with ``auto``) and ``rps``
    are the run's, shared out among the processes. ``on_give_up`` is the rate
    limiter's (the server asks for too long a pause), ``on_dead(reason)`` is
    called once when a process dies while the run goes on, ``on_attempt`` is
    the client's hook, called in this process for every try of every process.
    """

    def __init__(
        self,
        credentials: Any,
        settings: ClientSettings,
        *,
        processes: int,
        workers: int,
        stop: threading.Event,
        auto: bool = False,
        rps: float | None = None,
        on_give_up: Callable[[float], None] | None = None,
        on_dead: Callable[[str], None] | None = None,
        on_attempt: AttemptHook | None = None,
    ) -> None:
        check_send_processes(processes, workers)
        self.settings = settings
        self._stop = stop
        self._on_give_up = on_give_up
        self._on_dead = on_dead
        self._on_attempt = on_attempt
        self._ids = itertools.count()
        self._closing = False
        self._users: dict[str, list[User]] = {}
        self.concurrency = _SummedLimit(self) if auto else None
        self._children: list[_Child] = []
        try:
            for number, places in enumerate(shares(workers, processes), start=1):
                setup = {
                    "credentials": (credentials.username, credentials.password),
                    "settings": replace(settings, pool_size=max(places, 4)),
                    "rps": None if rps is None else rps / processes,
                    "auto": auto,
                    "max_in_flight": places,
                    "max_workers": places,
                    "threads": places * THREADS_PER_PLACE,
                    "log_attempts": on_attempt is not None,
                }
                self._children.append(_Child(number, setup, self._read))
        except BaseException:
            self.close()
            raise
        self._watch = threading.Thread(target=self._pass_stop_on, name="send-stop", daemon=True)
        self._watch.start()

    # -- what the sender calls -----------------------------------------------------

    def create_lead(
        self, site: str, lead: dict[str, Any], *, retry_unknown: bool = True
    ) -> Response:
        return self._call(_key(lead.get("id"), site), "create_lead", (site, lead),
                          {"retry_unknown": retry_unknown})  # fmt: skip

    def create_potential_seller_lead(
        self, site: str, lead: dict[str, Any], *, retry_unknown: bool = True
    ) -> Response:
        return self._call(_key(lead.get("id"), site), "create_potential_seller_lead",
                          (site, lead), {"retry_unknown": retry_unknown})  # fmt: skip

    def update_lead(
        self, site: str, lead_id: str, fields: dict[str, Any], *, retry_unknown: bool = True
    ) -> Response:
        return self._call(_key(lead_id, site), "update_lead", (site, lead_id, fields),
                          {"retry_unknown": retry_unknown})  # fmt: skip

    def add_activities(
        self, site: str, lead_id: str, activities: list[dict[str, Any]], *,
        retry_unknown: bool = True,
    ) -> Response:  # fmt: skip
        return self._call(_key(lead_id, site), "add_activities", (site, lead_id, activities),
                          {"retry_unknown": retry_unknown})  # fmt: skip

    def list_users(self, site: str) -> list[User]:
        """The site's users, asked once per run (as ``Client.list_users``)."""
        key = site.strip().lower() if isinstance(site, str) else site
        if key not in self._users:
            rows = self._call(_key(None, site), "list_users", (site,), {})
            self._users.setdefault(key, [User(*row) for row in rows])
        return list(self._users[key])

    def prepare(self) -> None:
        """Raise ``Stopping`` when the run stops; the waits themselves are the processes'."""
        if self._stop.is_set():
            raise Stopping(maybe_applied=False)

    def unprepare(self) -> None:
        """Nothing to give back: ``prepare`` holds nothing here."""

    def stats(self) -> dict[str, Any]:
        """The processes' stats added up (as ``Client.stats``); a dead one's as last heard;
        ``send_processes``: how many there are."""
        for child in self._children:
            if child.alive and not self._closing:
                pending = self._ask(child, (wire.STATS, None))
                if pending is not None:
                    pending.wait()
        total: dict[str, Any] = {"total": 0, "retries": 0, "send_processes": len(self._children)}
        by_status: Counter[str] = Counter()
        for child in self._children:
            total["total"] += child.stats["total"]
            total["retries"] += child.stats["retries"]
            by_status.update(child.stats["by_status"])
        total["by_status"] = dict(by_status)
        if self.concurrency is not None:
            total["workers"] = self.concurrency.summary()
        return total

    def close(self) -> None:
        """Tell every process to end, and wait for it (a process that does not end is killed)."""
        self._closing = True
        for child in self._children:
            child.send((wire.CLOSE,))
        for child in self._children:
            try:
                child.process.wait(timeout=CLOSE_WAIT_S)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            child.reader.join(timeout=CLOSE_WAIT_S)
            child.conn.close()

    def __enter__(self) -> ProcessClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"ProcessClient(base_url={self.settings.base_url!r}, processes={len(self._children)})"
        )

    # -- the calls and their answers -----------------------------------------------

    def _call(self, key: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        child = self._children[zlib.crc32(key.encode("utf-8")) % len(self._children)]
        call_id = next(self._ids)
        pending = self._ask(child, (wire.CALL, call_id, name, args, kwargs), call_id)
        if pending is None:
            raise TransportError(
                f"sending process {child.number} has ended ({child.how_it_ended()}): not sent",
                method=name, url=self.settings.base_url, maybe_applied=False,
            )  # fmt: skip
        pending.wait()
        if not pending.ok:
            raise wire.rebuilt_error(pending.data)
        if name == "list_users":
            return pending.data
        return Response(*pending.data)

    def _ask(
        self, child: _Child, message: tuple[Any, ...], call_id: int | None = None
    ) -> _Pending | None:
        """Send ``message``, registered to wait for its answer; None when the process is gone."""
        if call_id is None:
            call_id = next(self._ids)
            message = (message[0], call_id, *message[2:])
        pending = _Pending()
        with child.lock:
            if not child.alive:
                return None
            child.pending[call_id] = pending
        if not child.send(message):
            with child.lock:
                child.pending.pop(call_id, None)
            return None
        return pending

    def _read(self, child: _Child) -> None:
        """The reader thread of one process: hands each answer to the call waiting for it."""
        while True:
            try:
                message = child.conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == wire.GIVE_UP:
                if self._on_give_up is not None:
                    self._on_give_up(message[1])
                continue
            _, call_id, ok, data, stats, attempts = message
            child.stats = stats
            if self._on_attempt is not None:
                for attempt in attempts:
                    self._on_attempt(*attempt)
            with child.lock:
                pending = child.pending.pop(call_id, None)
            if pending is not None:
                pending.answer(ok, data)
        self._ended(child)

    def _ended(self, child: _Child) -> None:
        """The process's pipe closed: what it had in flight may have been applied."""
        with child.lock:
            child.alive = False
            lost, child.pending = child.pending, {}
        if self._closing and not lost:
            return
        how = child.how_it_ended()
        for pending in lost.values():
            pending.answer(False, wire.error_data(TransportError(
                f"sending process {child.number} ended ({how}) before it answered: "
                "the server may have applied the request",
                url=self.settings.base_url, maybe_applied=True,
            )))  # fmt: skip
        if self._on_dead is not None and not self._closing:
            doubt = (
                f"its {len(lost)} request(s) in flight are in doubt: run again to settle them"
                if lost else "none of its requests was in flight: run again to send the rest"
            )  # fmt: skip
            self._on_dead(f"sending process {child.number} ended unexpectedly ({how}); {doubt}")

    def _pass_stop_on(self) -> None:
        while not self._closing:
            if self._stop.wait(STOP_POLL_S):
                for child in self._children:
                    child.send((wire.STOP,))
                return


class _SummedLimit:
    """``--workers auto`` over the processes: their limits added up (``ConcurrencyLimit``'s
    ``limit`` and ``summary``, as the send loop and the report read them)."""

    def __init__(self, client: ProcessClient) -> None:
        self._client = client

    @property
    def limit(self) -> int:
        return max(1, sum(self._part(c)["final"] for c in self._client._children))

    def summary(self) -> dict[str, int]:
        parts = [self._part(c) for c in self._client._children]
        return {"final": sum(p["final"] for p in parts), "peak": sum(p["peak"] for p in parts)}

    @staticmethod
    def _part(child: _Child) -> dict[str, int]:
        # before its first answer, a process's limit is where every auto limit starts
        start = min(INITIAL_LIMIT, child.places)
        return child.stats.get("workers") or {"final": start, "peak": start}


def _key(lead_id: object, site: str) -> str:
    """What picks a call's process: the lead's id (the site's for a call without one)."""
    return str(lead_id) if lead_id is not None else str(site)
