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

from importer.models import RowIssue
from importer.normalize.column_text import cells_at
from importer.outputs import private_files

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


def _may_need_quote(column: Sequence[str]) -> bool:
    """Whether any cell of a column starts like a formula (one C-speed scan)."""
    joined = "\n" + "\n".join(column)
    return any(f"\n{c}" in joined for c in (*FORMULA_START, "'"))


def csv_lines(
    *columns: Sequence[str], safe: Sequence[int] = (), plain: Sequence[int] = ()
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
    checked = [
        c if n in safe or n in plain or not _may_need_quote(c) else [neutralise(v) for v in c]
        for n, c in enumerate(columns)
    ]
    quoted = sorted(
        {i for n, c in enumerate(checked) if n not in plain for i in _cells_to_quote(c)}
    )
    if len(quoted) * 4 > len(checked[0]):
        return _written(zip(*checked, strict=True))
    # Most rows need no quoting at all: joined directly, several times faster
    # than the csv writer, which then writes only the rows that do.
    lines = [",".join(row) + "\r\n" for row in zip(*checked, strict=True)]
    for i, line in zip(quoted, _written([c[i] for c in checked] for i in quoted), strict=True):
        lines[i] = line
    return lines


_QUOTE_CHARS = re.compile('[,"\r\n]')


def _cells_to_quote(column: Sequence[str]) -> list[int]:
    """Positions of the cells the csv writer would quote (a comma, quote or line break)."""
    text = "\x00" + "\x00".join(column)
    if text.count("\x00") != len(column):  # a cell holds the separator itself
        return [i for i, v in enumerate(column) if _QUOTE_CHARS.search(v)]
    hits = [m.start() for m in _QUOTE_CHARS.finditer(text)]
    return sorted(set(cells_at(text, hits))) if hits else []


def _written(rows: Iterable[Sequence[str]]) -> list[str]:
    lines: list[str] = []
    # csv.writer calls write() once per row: a list's append collects the rows apart
    csv.writer(_Sink(lines.append), lineterminator="\r\n").writerows(rows)
    return lines


class _Sink:
    def __init__(self, write: Any):
        self.write = write


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
    """``rejects.csv``: the original columns as read, then the diagnostics."""

    def __init__(self, path: Path, headers: Sequence[str], *, send_columns: bool = False):
        diagnostics = REJECT_DIAGNOSTICS + (SEND_DIAGNOSTICS if send_columns else ())
        super().__init__(path, [*headers, *diagnostics])
        self.send_columns = send_columns

    def reject(self, cells: Sequence[str], issue: RowIssue) -> None:
        self.write(reject_cells(cells, issue, send_columns=self.send_columns))


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


PLAN_COLUMNS = ("row", "key", "lead_id", "action", "codes", "message")

# results.csv of a run: one line per input row, in input order (importer.send.run_results)
RESULT_COLUMNS = ("row", "key", "lead_id", "outcome", "codes", "message", "http_status")
