"""Small value types shared by the pipeline stages.

Kept apart from the stages so that they can import each other's results
without import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Stage(StrEnum):
    """Where a row problem was found; the ``_stage`` column of the reject file."""

    READ = "read"
    VALIDATE = "validate"
    SEND = "send"


class Outcome(StrEnum):
    """How one input row ends: planned by ``rg-import plan``, done by ``rg-import run``.

    The value is the plan's word (plan.csv's ``action`` column); ``done`` is the
    word for a row a run has finished with (report.json's ``leads`` of a run).
    A plan only decides the first four; a run can also end a row in doubt (the
    server may have applied it) or not sent (the request never reached it).
    """

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    REJECT = "reject"
    IN_DOUBT = "in_doubt"
    NOT_SENT = "not_sent"

    @property
    def done(self) -> str:
        """The row's end after a run: created, updated, unchanged, rejected, in_doubt, not_sent."""
        return _DONE.get(self, self.value)


_DONE = {
    Outcome.CREATE: "created",
    Outcome.UPDATE: "updated",
    Outcome.REJECT: "rejected",
}
# what a plan decides for a row; a run adds in doubt and not sent
PLANNED = (Outcome.CREATE, Outcome.UPDATE, Outcome.UNCHANGED, Outcome.REJECT)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a row: a stable code and a sentence for people.

    ``column`` names the source column (original header text) when known.
    """

    code: str
    message: str
    column: str | None = None


@dataclass(slots=True)
class RowIssue:
    """Every problem found in one source row, at one stage.

    ``row`` is the spreadsheet row number (the header is row 1).
    """

    row: int
    stage: Stage
    problems: list[Problem] = field(default_factory=list)
    http_status: int | None = None
    attempts: int | None = None

    @property
    def codes(self) -> str:
        """The distinct codes, in order, joined with ``;``."""
        seen: dict[str, None] = {}
        for p in self.problems:
            seen.setdefault(p.code, None)
        return ";".join(seen)

    @property
    def message(self) -> str:
        """All problems of the row as one readable line."""
        return "; ".join(p.message for p in self.problems)


@dataclass(frozen=True, slots=True)
class RowWarning:
    """Something worth telling the user that does not reject the row."""

    row: int | None
    code: str
    message: str
