"""The CSV files a command writes for people: rejects.csv, plan.csv, results.csv, held_activities.csv.

They are opened with ``private_files.open_private`` (owner-only, never through
a link). Every CSV cell that a spreadsheet would
run as a formula is prefixed with ``'``; ``importer.read.table`` removes exactly that
prefix again, so a reject file fixed in a spreadsheet feeds back unchanged.
CSVs are written as UTF-8 with a BOM, which is what Excel needs to show
accented names correctly.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from importer.api_contract import LEAD_TEXT_FIELDS
from importer.models import Problem, RowIssue
from importer.normalize.column_text import SEP, cells_at
from importer.outputs import private_files
from importer.read.headers import PLAN_FILE_START

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
REJECT_DIAGNOSTICS = ("_row", "_stage", "_code", "_message")
SEND_DIAGNOSTICS = ("_http_status", "_attempts")


def neutralise(value: str) -> str:
    """Prefix a cell that a spreadsheet would evaluate as a formula with ``'``.

    The reader removes exactly one ``'`` before a formula character, so a value
    that already starts with quotes and then ``=`` gets one more: it reads back
    as it was.
    """
    return "'" + value if value.lstrip("'").startswith(FORMULA_START) else value


def unneutralise(cell: str) -> str:
    """The value ``neutralise`` was given, from the cell it made."""
    return cell[1:] if cell[:1] == "'" and cell.lstrip("'").startswith(FORMULA_START) else cell


def csv_lines(
    *columns: Sequence[str],
    safe: Sequence[int] = (),
    plain: Sequence[int] = (),
) -> list[str]:
    """Rows given column by column as CSV text, one string per row (cells neutralised).

    For pieces formatted in one process and written by another
    (``CsvOut.write_lines``). Columns whose positions are in ``safe`` hold
    nothing a spreadsheet could run (row numbers, ids) and are not checked;
    those in ``plain`` hold plain tokens (digits, ids, codes: no formula start,
    comma, quote or line break) and are not checked at all.
    """
    if not columns or not len(columns[0]):
        return []
    cells = csv_cells(*columns, safe=safe, plain=plain)
    if len(cells) == 1:  # the csv writer quotes a lone empty cell: the line is not blank
        cells[0] = [v or '""' for v in cells[0]]
    return [",".join(row) + "\r\n" for row in zip(*cells, strict=True)]


def csv_cells(
    *columns: Sequence[str], safe: Sequence[int] = (), plain: Sequence[int] = ()
) -> list[Sequence[str]]:
    """The columns as cells of CSV text (``csv_lines``, without joining them):
    neutralised, and quoted where the csv writer (minimal quoting) would.

    Each column is scanned as one string for the few cells that need a guard
    or quotes, so a column without any costs little, however long its cells.
    """
    return [c if n in plain else _guarded(c, n not in safe) for n, c in enumerate(columns)]


_FORMULA_CELL = re.compile(re.escape(SEP) + "[" + re.escape("".join(FORMULA_START) + "'") + "]")


def _guarded(column: Sequence[str], formulas: bool) -> Sequence[str]:
    """The column with each cell ``neutralise`` changes changed (when
    ``formulas``), and the cells the csv writer quotes (a comma, quote or line
    break) quoted as it does: a copy, if any cell changes."""
    text = SEP + SEP.join(column)
    out: list[str] | None = None
    if formulas:
        hits = [m.start() for m in _FORMULA_CELL.finditer(text)]
        if hits:
            out = list(column)
            if text.count(SEP) != len(column):  # a cell holds the separator itself
                out = [neutralise(v) for v in column]
            else:
                for i in cells_at(text, hits):
                    out[i] = neutralise(out[i])
    if any(c in text for c in ',"\r\n'):  # (one fast scan per character)
        out = list(column) if out is None else out
        # cell by cell: some columns (a list of tags) need quotes in every other
        # cell, where finding the cells of matches in the joined text costs more
        found = [i for i, v in enumerate(out) if "," in v or '"' in v or "\n" in v or "\r" in v]
        for i in found:
            out[i] = '"' + out[i].replace('"', '""') + '"'
    return column if out is None else out


class CsvOut:
    """A CSV file created on the first row, so a clean run leaves no empty file."""

    def __init__(self, path: Path, header: Sequence[str]):
        self.path = path
        self.header = list(header)
        self.rows = 0
        self._file: IO[str] | None = None
        self._writer: Any = None

    def _start(self) -> None:
        if self._writer is None:
            self._file = private_files.open_private(self.path)
            self._file.write("\ufeff")  # the BOM, once: utf-8-sig would re-check it on every write
            self._writer = csv.writer(self._file, lineterminator="\r\n")
            self._writer.writerow([neutralise(h) for h in self.header])

    def write(self, cells: Iterable[str]) -> None:
        self._start()
        self._writer.writerow([neutralise(c) for c in cells])
        self.rows += 1

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write rows formatted by ``csv_lines``."""
        self.write_text("".join(lines), len(lines))

    def write_text(self, text: str, rows: int) -> None:
        """Write ``rows`` rows formatted by ``csv_lines`` and joined into ``text``."""
        if not rows:
            return
        self._start()
        assert self._file is not None
        self._file.write(text)
        self.rows += rows

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def written(self) -> bool:
        return self.rows > 0


class RejectWriter(CsvOut):
    """``rejects.csv``: the original columns as read, then the diagnostics.

    It keeps each row's problems (``problems``: row -> problems) for rejects.xlsx,
    which marks the cells they are about, while the rows are few enough for one
    (``workbook_rows``; past it, or with 0, none are kept).
    """

    def __init__(
        self, path: Path, headers: Sequence[str], *, send_columns: bool = False,
        workbook_rows: int = 0,
    ):  # fmt: skip
        diagnostics = REJECT_DIAGNOSTICS + (SEND_DIAGNOSTICS if send_columns else ())
        super().__init__(path, [*headers, *diagnostics])
        self.send_columns = send_columns
        self.workbook_rows = workbook_rows
        self.problems: dict[int, list[Problem]] = {}

    def reject(self, cells: Sequence[str], issue: RowIssue) -> None:
        self.write(reject_cells(cells, issue, send_columns=self.send_columns))
        self.keep_problems({issue.row: issue.problems})

    def keep_problems(self, problems: dict[int, list[Problem]]) -> None:
        """Keep the problems of rows just written, for the workbook."""
        if len(self.problems) + len(problems) > self.workbook_rows:
            self.workbook_rows = 0  # too many for a workbook: keep none
            self.problems = {}
            return
        self.problems.update(problems)

    @property
    def wants_workbook(self) -> bool:
        """Whether rejects.xlsx is to be written beside this file."""
        return self.written and self.workbook_rows > 0


def reject_cells(cells: Sequence[str], issue: RowIssue, *, send_columns: bool = False) -> list[str]:
    """A row of rejects.csv: the cells as read, then the diagnostics."""
    extra = [str(issue.row), issue.stage.value, issue.codes, issue.message]
    if send_columns:
        extra += [
            "" if issue.http_status is None else str(issue.http_status),
            "" if issue.attempts is None else str(issue.attempts),
        ]
    return [*cells, *extra]


HELD_COLUMNS = ("row", "key", "lead_id", "type", "created", "description", "activity_hash")


class HeldWriter(CsvOut):
    """``held_activities.csv``: one line per activity an at-most-once run did not send.

    Their earlier send is unknown, so they may or may not be on the lead; the
    file names the lead and the activity, so someone can look and decide.
    """

    def __init__(self, path: Path):
        super().__init__(path, HELD_COLUMNS)

    def held(self, row: int, key: str, lead_id: str, digest: str, activity: dict[str, Any]) -> None:
        self.write(
            [str(row), key, lead_id, str(activity.get("type", "")),
             str(activity.get("created", "")), str(activity.get("description", "")), digest]
        )  # fmt: skip


# plan.csv: what happens to the row and why (the head of a line), then what a
# run sends for it (the tail): the lead fields in the contract's order, how
# many activities it carries, and for an update what changes.
# (its start is how a plan.csv given as input is recognised and refused)
PLAN_HEAD = (*PLAN_FILE_START, "codes", "message", "warnings", "warning_message")
PLAN_FIELDS = LEAD_TEXT_FIELDS
PLAN_TAIL = (*PLAN_FIELDS, "activities", "changes")
PLAN_COLUMNS = (*PLAN_HEAD, *PLAN_TAIL)

# results.csv of a run: one line per input row, in input order (importer.send.run_results)
RESULT_COLUMNS = ("row", "key", "lead_id", "outcome", "codes", "message", "http_status")
