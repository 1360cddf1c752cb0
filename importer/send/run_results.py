"""results.csv: one line per input row, in input order, as the run ends each row.

Rows end out of order (the pool sends them in parallel), so each planned chunk
keeps how its rows ended in columns until its last row ends; its lines are
then made at once (``csv_lines``) and written as soon as every chunk before it
is. A finished chunk that waits for an earlier one is held as one string.
The outcome words are report.json's (``Outcome.done``), so the lines per
outcome add up to its ``leads``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from importer.codes import NOT_SENT
from importer.models import Outcome, Problem
from importer.outputs.csv_files import csv_lines
from importer.plan.rows import PlannedChunk
from importer.send.send_outcome import STOPPED_UNSENT, SendOutcome

__all__ = ["UNREACHED", "RunResults"]

# why a row the run never sent, and that has no problem of its own, was not sent
UNREACHED = Problem(NOT_SENT, STOPPED_UNSENT)
_WORDS = {o: o.done for o in Outcome}
# how the rows a plan ends (rejected, unchanged) end the run; "" for rows still to send
_ENDED_BY_PLAN = {Outcome.REJECT: Outcome.REJECT.done, Outcome.UNCHANGED: Outcome.UNCHANGED.done}
# columns that hold plain tokens: row, lead_id, outcome, codes, http_status (see csv_lines)
_PLAIN = (0, 2, 3, 4, 6)


class _Chunk:
    """How the rows of one planned chunk ended, column by column, until its text is made."""

    __slots__ = (
        "codes",
        "keys",
        "lead_ids",
        "messages",
        "n",
        "open",
        "outcomes",
        "rows",
        "statuses",
        "text",
        "waiting",
    )

    def __init__(self, planned: PlannedChunk):
        self.n = n = len(planned.rows)
        self.rows, self.keys, self.lead_ids = planned.rows, planned.keys, list(planned.lead_ids)
        self.outcomes = [_ENDED_BY_PLAN.get(a, "") for a in planned.actions]
        self.codes, self.messages, self.statuses = [""] * n, [""] * n, [""] * n
        if planned.problems or planned.warnings:
            where = dict(zip(self.rows, range(n), strict=True))
            # the plan keeps problems for the rows it rejected only: rows that
            # became no lead, whatever id their key would give
            for row in planned.problems:
                self._note(where[row], planned.issue(row).problems)
                self.lead_ids[where[row]] = ""
            for w in planned.warnings:
                if w.row in where:
                    self._note(where[w.row], [Problem(w.code, w.message)])
        self.waiting = self.outcomes.count("")  # rows handed to the senders, or to be
        self.open = True  # the loop still hands out rows of this chunk
        self.text: str | None = None

    def _note(self, i: int, problems: Sequence[Problem], *, first: bool = False) -> None:
        """Add the codes and messages of ``problems`` to row ``i`` (before what it has, if ``first``)."""
        codes = list(dict.fromkeys(p.code for p in problems))
        messages = [p.message for p in problems]
        if self.codes[i]:
            old_codes, old_messages = self.codes[i].split(";"), [self.messages[i]]
            codes = codes + old_codes if first else old_codes + codes
            messages = messages + old_messages if first else old_messages + messages
        self.codes[i] = ";".join(dict.fromkeys(codes))
        self.messages[i] = "; ".join(messages)

    def end(self, i: int, outcome: SendOutcome) -> None:
        """Row ``i`` was handed to the senders and ended so."""
        # once per row sent, in the thread that hands rows to the senders: kept lean
        result, problems, status = outcome.result, outcome.problems, outcome.http_status
        self.outcomes[i] = _WORDS[result]
        if problems or result is Outcome.NOT_SENT:
            # the row's end first, then its warnings
            self._note(i, problems or [UNREACHED], first=True)
        if status is not None:
            self.statuses[i] = str(status)
        self.waiting -= 1

    def never_reached(self) -> int:
        """End the rows the run never handed out as not sent; returns how many."""
        left = [i for i, o in enumerate(self.outcomes) if not o]
        for i in left:
            self.outcomes[i] = Outcome.NOT_SENT.done
            self._note(i, [UNREACHED], first=True)
        self.waiting = 0
        self.open = False
        return len(left)

    def finish(self) -> int:
        """Make the chunk's text once every row ended; returns its length if made now, else 0."""
        if self.text is None and not self.open and self.waiting == 0:
            self.text = "".join(
                csv_lines(
                    list(map(str, self.rows)), self.keys, self.lead_ids, self.outcomes,
                    self.codes, self.messages, self.statuses, plain=_PLAIN,
                )
            )  # fmt: skip
            # keep only the text: the columns (and the planned chunk's lists) are let go
            self.rows = []
            self.keys = self.lead_ids = self.outcomes = self.codes = self.messages = []
            self.statuses = []
            return len(self.text)
        return 0


class RunResults:
    """The lines of results.csv, kept in input order; ``out`` writes them (a guarded CsvOut).

    The loop registers each planned chunk (``chunk``), says when it has handed
    out all its rows (``handed_out``) and how each row it handed out ended
    (``ended``); a stopped run ends the rest (``end_unreached``).
    """

    def __init__(self, out: Any):
        self.out = out
        self.path = out.path
        self._queue: deque[_Chunk] = deque()  # chunks in input order, not yet written
        self._by_id: dict[int, _Chunk] = {}  # the chunks whose rows are still ending
        self.backlog = 0  # characters of finished chunks waiting for an earlier one

    @property
    def written(self) -> bool:
        return bool(self.out.written)

    def chunk(self, planned: PlannedChunk) -> None:
        """A chunk whose rows the loop hands out next (its plan ended the rejected and unchanged)."""
        part = _Chunk(planned)
        self._queue.append(part)
        self._by_id[id(planned)] = part

    def handed_out(self, planned: PlannedChunk) -> None:
        """Every row of ``planned`` was handed to the senders or ended by its plan."""
        part = self._by_id[id(planned)]
        part.open = False
        self._settled(planned, part)

    def ended(self, planned: PlannedChunk, position: int, outcome: SendOutcome) -> None:
        """The row at ``position`` of ``planned`` ended as ``outcome`` says."""
        part = self._by_id[id(planned)]
        part.end(position, outcome)
        if part.waiting == 0:
            self._settled(planned, part)

    def never_reached(self) -> int:
        """End as not sent every row of the chunks taken that the loop never handed out.

        Call once no row is in flight; returns how many rows that ended.
        """
        ended = 0
        for part in self._by_id.values():
            ended += part.never_reached()
            self.backlog += part.finish()
        self._by_id.clear()
        self._flush()
        return ended

    def end_unreached(self, pieces: Iterable[Sequence[int]]) -> int:
        """End as not sent the rows of the chunks taken that were never handed out, then
        those of ``pieces`` (never planned); returns how many rows that ended.

        For a run that stopped early, once no row is in flight. (Cut short by
        a second Ctrl-C, the rows listed so far are not sent all the same: the
        run counts what it read and did not end as not sent.)
        """
        ended = self.never_reached()
        for rows in pieces:
            self.unreached(rows)
            ended += len(rows)
        return ended

    def unreached(self, rows: Sequence[int]) -> None:
        """Rows the run never planned (it stopped first), after every chunk taken: not sent."""
        self.never_reached()
        n = len(rows)
        lines = csv_lines(
            list(map(str, rows)), [""] * n, [""] * n, [Outcome.NOT_SENT.done] * n,
            [UNREACHED.code] * n, [UNREACHED.message] * n, [""] * n, plain=_PLAIN,
        )  # fmt: skip
        self.out.write_text("".join(lines), n)

    def close(self) -> None:
        self.never_reached()
        self.out.close()

    def _settled(self, planned: PlannedChunk, part: _Chunk) -> None:
        made = part.finish()
        if made:
            self._by_id.pop(id(planned), None)
            self.backlog += made
            self._flush()

    def _flush(self) -> None:
        """Write the finished chunks at the front of the queue, in order."""
        queue = self._queue
        while queue and queue[0].text is not None:
            part = queue.popleft()
            text = part.text or ""
            self.backlog -= len(text)
            self.out.write_text(text, part.n)
