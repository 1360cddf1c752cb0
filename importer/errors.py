"""Errors that stop a command, and the exit codes they map to.

Row-level problems are never exceptions: they are ``RowIssue`` values (see
``importer.models``) that end up in the reject file. Exceptions are only for
conditions that stop the whole command::

    ImporterError                      exit 1 unless a subclass says otherwise
    ├── ConfigError (ValueError)       exit 2: bad flag, environment or credentials
    │   └── MappingError               exit 2: a mapping file is missing or malformed
    ├── InputError                     exit 2: the input file cannot be used as it is
    ├── LedgerError                    exit 2: the ledger is corrupt or unwritable
    │   ├── LedgerLocked               exit 5: another run holds the ledger (--wait waits for it)
    │   ├── LedgerMissing              read-only, where no ledger is yet (a run creates it)
    │   ├── RowClaimed                 another run sharing the ledger has the row: not sent
    │   └── LedgerWriteError           a write failed (full disk...): a run stops, exit 4
    │       └── LedgerGone             the file was deleted or replaced while open: exit 4
    ├── ApiError                       an HTTP exchange failed (raised by importer.send.client)
    │   ├── UnexpectedAnswerError      a 2xx whose body is not the API's JSON: in doubt
    │   ├── ClientError                4xx: the request itself is wrong; never retried
    │   │   ├── BadRequestError        400
    │   │   ├── AuthError              401 / 403: stops a run (exit 4)
    │   │   ├── NotFoundError          404
    │   │   └── ValidationError        422: the server refused the payload
    │   └── TransientError             may succeed later; retried by the client
    │       ├── RateLimitedError       429
    │       ├── ServerError            5xx
    │       └── TransportError         connection refused or reset, timeout
    ├── RunAborted                     exit 4: the run stopped early; the ledger is consistent
    │   └── RunWriteFailed             a file the run writes failed (full disk); has the report
    └── OutputError                    exit 4: an output file could not be created safely

    Stopping (not an ImporterError)    raised inside a worker when the run is stopping
    Terminated (KeyboardInterrupt)     SIGTERM: stops like Ctrl-C, exit 143

Every message says what went wrong and what to do next, in one line.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes; the README has the same table."""

    OK = 0  # every row done, nothing rejected
    INTERNAL = 1  # a bug: please report it
    USAGE = 2  # usage, configuration or input error; nothing was sent
    REJECTS = 3  # finished, but some rows were rejected or are in doubt
    ABORTED = 4  # stopped early (auth, circuit breaker); re-run to resume
    LOCKED = 5  # another run holds the ledger; nothing was sent, try again later (or --wait)
    INTERRUPTED = 130  # Ctrl-C; the ledger is consistent, re-run to resume
    TERMINATED = 143  # SIGTERM (128 + 15, as a shell reports it); like Ctrl-C otherwise


class ImporterError(Exception):
    """Root of the errors that stop a command."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(ImporterError, ValueError):
    """A flag, environment variable, credential or setting is wrong."""

    exit_code = ExitCode.USAGE


class MappingError(ConfigError):
    """A mapping file cannot be found, parsed or understood."""

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None):
        where = path or "mapping"
        if key:
            where = f"{where} [{key}]"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.key = key


class InputError(ImporterError):
    """The input file cannot be read or does not fit the mapping."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, path: str | None = None):
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class LedgerError(ImporterError):
    """The ledger cannot be opened, is locked by another run, or is damaged."""

    exit_code = ExitCode.USAGE


class LedgerLocked(LedgerError):
    """Another run holds the ledger (its own exit code, so a scheduler can tell it from a bad
    configuration: the job may simply run again later, or wait with ``--wait``)."""

    exit_code = ExitCode.LOCKED


class LedgerMissing(LedgerError):
    """A read-only open found no ledger where one was named (a run creates it)."""


class RowClaimed(LedgerError):
    """Another run sharing the ledger (PostgreSQL) is sending the row, or began it after
    this run started: this run leaves it to that one (the row ends not sent here)."""


class LedgerWriteError(LedgerError):
    """A write to the open ledger failed; ``disk_full`` when the disk (or quota) is full.

    Opening stays exit 2 (nothing was sent); a run that meets this after it
    started sending stops with exit 4 instead (see ``RunWriteFailed``).
    """

    def __init__(self, message: str, *, path: str, disk_full: bool = False):
        super().__init__(message)
        self.path = path
        self.disk_full = disk_full


class LedgerGone(LedgerWriteError):
    """The ledger file was deleted or replaced by another file while a run had it open."""

    exit_code = ExitCode.ABORTED


class RunAborted(ImporterError):
    """The run stopped before the end; what was done is in the ledger."""

    exit_code = ExitCode.ABORTED


class RunWriteFailed(RunAborted):
    """The run stopped because a file it writes failed (full disk, ledger gone).

    ``result`` is the run's result as far as it got (an ``importer.outputs.report.RunResult``;
    report.json may be missing).
    """

    def __init__(self, message: str, result: object):
        super().__init__(message)
        self.result = result


class OutputError(ImporterError):
    """An output file was found where rg-import was about to create it (after the run dir was checked)."""

    exit_code = ExitCode.ABORTED


class ApiError(ImporterError):
    """An HTTP exchange with the Incoming Leads API failed.

    ``status`` is the HTTP status (None when no response arrived), ``error`` the
    server's readable reason, ``attempts`` how many times the request was tried,
    and ``maybe_applied`` whether the server may have applied the request anyway
    (a timeout, a reset connection or a 5xx after the body was sent).
    """

    exit_code = ExitCode.REJECTS

    def __init__(
        self,
        error: str,
        *,
        status: int | None = None,
        method: str = "",
        url: str = "",
        attempts: int = 1,
        maybe_applied: bool = False,
    ):
        prefix = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"{prefix}: {error}")
        self.error = error
        self.status = status
        self.method = method
        self.url = url
        self.attempts = attempts
        self.maybe_applied = maybe_applied


class UnexpectedAnswerError(ApiError):
    """A 2xx whose body is not the JSON object the API answers (``{}``).

    Something else answered in the API's place (a captive portal, a single
    sign-on or filtering proxy) or the answer was cut short, so whether the
    request reached the API is unknown: ``maybe_applied`` is True and it is not
    retried (a resend could add an activity twice). ``error`` names what came back.
    """


class ClientError(ApiError):
    """A 4xx answer: the request is wrong as sent, so it is never retried."""


class BadRequestError(ClientError):
    """400: the body was not valid JSON or the request was malformed."""


class AuthError(ClientError):
    """401/403: wrong credentials, or no permission to write to this site."""

    exit_code = ExitCode.ABORTED


class NotFoundError(ClientError):
    """404: unknown site, unknown lead, or a path the API does not have."""


class ValidationError(ClientError):
    """422: the server refused the payload; ``error`` says why."""


class TransientError(ApiError):
    """A failure that may go away: retried by the client, within bounds."""


class RateLimitedError(TransientError):
    """429: too many requests; ``retry_after`` is the server's hint in seconds."""

    def __init__(self, error: str, *, retry_after: float | None = None, **kwargs: object):
        super().__init__(error, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(TransientError):
    """5xx: the server or a proxy in front of it failed."""


class TransportError(TransientError):
    """No usable response: connection refused or reset, or a timeout."""


class Stopping(Exception):
    """The run is stopping (Ctrl-C, SIGTERM, circuit breaker): a worker unwinds at once.

    Raised by the client while a request waits (for the rate limiter, a free
    place in flight, a retry) or when it cuts an answer short. ``maybe_applied``
    says whether an earlier try of that request may have reached the server;
    when False the request was never applied and the next run simply sends it.
    """

    def __init__(self, *, maybe_applied: bool = True) -> None:
        super().__init__("the run is stopping")
        self.maybe_applied = maybe_applied


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd, a container runtime, ``kill``): the command stops as on Ctrl-C.

    A KeyboardInterrupt, so every place that ends a run cleanly on Ctrl-C ends
    it on SIGTERM too; only the message and the exit code (143) differ.
    """


def interrupted_code(cause: BaseException | None) -> ExitCode:
    """The exit code of a command stopped by ``cause``: 143 for SIGTERM, else 130 (Ctrl-C)."""
    return ExitCode.TERMINATED if isinstance(cause, Terminated) else ExitCode.INTERRUPTED


@contextmanager
def terminate_stops() -> Iterator[None]:
    """While this lasts, SIGTERM raises ``Terminated`` in the main thread of this process.

    A process forked meanwhile (``importer.plan.parallel``) inherits the
    handler: there SIGTERM ends the process as it always would, silently.
    Outside the main thread signals cannot be handled, and nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()

    def on_term(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
