"""The run's event log: JSON lines saying what a run did, through the standard ``logging`` module.

``rg-import run --log-file PATH`` attaches a handler to ``EVENTS`` for the
length of one run (``log_to_file``) and removes it afterwards. Each event is
one JSON object on one line, with ``ts`` (UTC), ``run_id``, ``level`` and
``event``: ``run_start``, ``request`` (one per try), ``row`` (one per input row
ended), ``run_end`` and ``warning``.

What an event may carry is decided here, field by field, and never includes
credentials or a row's data: requests give the URL's path (it holds only the
site UUID and the lead id), rows their number, outcome, codes and lead id,
never a key, a name, an email or a phone. Row keys can be emails.

Logging is off unless ``attach`` added a handler: the run asks ``enabled()`` once
and hands the sender no hook at all when it is off, so a run without a log
file pays one ``None`` check per try.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from importer.errors import ConfigError
from importer.models import Outcome

if TYPE_CHECKING:
    from importer.mapping.spec import Mapping
    from importer.plan.rows import PlannedChunk
    from importer.send.send_outcome import SendOutcome

# Not propagated: the lines go only to the handler a run attached, never to a
# root handler someone else configured (where requests' own logs also go).
EVENTS = logging.getLogger("importer.run")
EVENTS.propagate = False
EVENTS.setLevel(logging.INFO)

# rows that end while their chunk is read, without a request
_ENDED_IN_PLAN = (Outcome.REJECT, Outcome.UNCHANGED)
# the handlers ``attach`` added: only they turn the events on (pytest, for one, puts
# its own handlers on every logger that does not propagate)
_ATTACHED: list[logging.Handler] = []


def enabled() -> bool:
    """Whether a run's log is attached (asked once per run)."""
    return bool(_ATTACHED)


def event(name: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields (plain JSON values)."""
    # The record is made here and handed to the logger's handlers, as Logger.log
    # would, without looking up the caller's frame: a third of the cost of an event.
    record = logging.LogRecord(EVENTS.name, level, __file__, 0, name, None, None)
    record.fields = fields
    EVENTS.handle(record)


def warning(message: str) -> None:
    """A warning line in the log: ``{"event": "warning", "message": ...}``."""
    event("warning", level=logging.WARNING, message=message)


class JsonLines(logging.Formatter):
    """One JSON object per record: ``ts``, ``run_id``, ``level``, ``event``, then its fields."""

    def __init__(self, run_id: str):
        super().__init__()
        self.run_id = run_id

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "run_id": self.run_id,
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"), default=str)


@contextmanager
def log_to_file(path: Path | None, run_id: str) -> Iterator[None]:
    """Append the events of the run ``run_id`` to ``path`` while the block runs (nothing if None).

    Raises ConfigError when the file cannot be opened.
    """
    handler = attach(path, run_id)
    try:
        yield
    finally:
        detach(handler)


def attach(path: Path | None, run_id: str) -> logging.Handler | None:
    """Start appending the run's events to ``path``; the handler to ``detach`` (None if no path).

    Raises ConfigError when the file cannot be opened.
    """
    if path is None:
        return None
    handler = logging.StreamHandler(_open_append(path))  # flushed after every line
    handler.setFormatter(JsonLines(run_id))
    EVENTS.addHandler(handler)
    _ATTACHED.append(handler)
    return handler


def detach(handler: logging.Handler | None) -> None:
    """Stop logging to ``handler`` and close its file."""
    if handler is not None:
        _ATTACHED.remove(handler)
        EVENTS.removeHandler(handler)
        handler.close()
        if isinstance(handler, logging.StreamHandler):
            handler.stream.close()


def _open_append(path: Path) -> IO[str]:
    """``path`` opened for appending; created 0600, never through a link.

    An existing file keeps its mode: whoever made it chose who may read it
    (a log shipper's group, say). Nothing in it is personal data.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        existed = os.path.lexists(path)
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise ConfigError(
            f"cannot open log file {path}: {exc.strerror}; give a regular file in a writable folder "
            "with --log-file"
        ) from None
    if not existed:
        os.fchmod(fd, 0o600)  # the umask may have taken the owner's bits
    # line-buffered: each event goes out in one write, whole, even beside another run's
    return os.fdopen(fd, "a", encoding="utf-8", buffering=1)


# -- what the run logs ----------------------------------------------------------


def run_start(command: str, input_name: str, mapping: Mapping, site: str) -> None:
    """The run begins: the command as typed (it never holds a secret), input, mapping and site."""
    if enabled():
        event("run_start", command=command, input=input_name, mapping=mapping.name,
              mapping_kind=mapping.kind, site=site)  # fmt: skip


def request(
    method: str, url: str, attempt: int, status: int, failure: str | None, seconds: float
) -> None:
    """One try of a request: the URL's path only (site UUID and lead id), never its body."""
    event(
        "request", method=method, path=urlsplit(url).path, status=status or None,
        failure=failure, attempt=attempt, latency_ms=round(seconds * 1000, 1),
    )  # fmt: skip


def rows_ended(planned: PlannedChunk) -> None:
    """The rows of a chunk that ended without a request: rejected or unchanged."""
    for row, lead_id, action in zip(planned.rows, planned.lead_ids, planned.actions, strict=True):
        if action in _ENDED_IN_PLAN:
            codes = [p.code for p in planned.problems.get(row, ())]
            _row(row, action, codes, lead_id)


def row_sent(outcome: SendOutcome) -> None:
    """A row the sender ended: created, updated, rejected, in doubt or not sent."""
    plan = outcome.plan
    _row(plan.row, outcome.result, [p.code for p in outcome.problems], plan.lead_id)


def _row(row: int, outcome: Outcome, codes: list[str], lead_id: str) -> None:
    # a code is named once per row, however many of its columns it concerns
    event("row", row=row, outcome=outcome.done, codes=list(dict.fromkeys(codes)),
          lead_id=lead_id or None)  # fmt: skip
