"""rejects.xlsx: rejects.csv as a workbook to review and fix in place.

Written from the lines of rejects.csv (read back once the file is closed, or
handed over as they are written to it), so it holds exactly its rows and
columns: sheet "Summary" first (rejected rows per code, most frequent first,
each with an example), then sheet "Rejects" (the original columns, then the
diagnostics). Each cell a problem is about is filled and carries a comment
saying what is wrong (``importer.outputs.problem_cells`` finds it); a problem
about the whole row fills the row lightly and comments its ``_code`` cell.

Every value is stored as text, exactly as the reader gave it (a zip ``02134``
stays ``02134``; a value starting with ``=`` is a string, never a formula).
Fed back to ``plan`` or ``run``, the reader takes sheet "Rejects", leaves the
diagnostic columns out and gets back the values it read the first time.

This is the one module that writes workbooks; it is imported only when a
command has rejects to write, so openpyxl costs nothing otherwise.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import re
from collections.abc import Iterable
from copy import copy
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.hyperlink import Hyperlink

from importer import codes
from importer.models import Problem
from importer.outputs import private_files
from importer.outputs.csv_files import FORMULA_START, unneutralise
from importer.outputs.problem_cells import ProblemCells
from importer.outputs.reasons import Reasons
from importer.read.headers import REJECTS_SHEET, SUMMARY_SHEET, unwrap_cell

_BAD = PatternFill("solid", fgColor="FFC7CE")  # a cell a problem is about
_ROW = PatternFill("solid", fgColor="FDE9D9")  # the cells of a row wrong as a whole
_DIAGNOSTIC = PatternFill("solid", fgColor="D9D9D9")  # headers of the columns we added
_BOLD = Font(bold=True)
_TEXT = "@"  # Excel's text format
_AUTHOR = "rg-import"
_WIDTH_SAMPLE = 500  # rows looked at to size the columns
_WIDTHS = {"_message": (20, 80)}  # (narrowest, widest) where the default (6, 40) is not

# What XML cannot hold, and what would read back as something else: Excel's own
# escape ``_xHHHH_`` stands for a character, so a value holding that text
# literally gets its "_" escaped (``_x005F_``), and control characters are
# written escaped (the reader decodes both).
_CARE = re.compile(r"^[=+\-@\t\r']|_x[0-9A-Fa-f]{4}_|[\x00-\x08\x0b\x0c\x0e-\x1f]")
_LITERAL_ESCAPE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def write_reject_workbook(
    csv_path: Path, xlsx_path: Path, problems: dict[int, list[Problem]], cells: ProblemCells
) -> Path:
    """Write ``xlsx_path`` (0600, new) from the rejects file ``csv_path`` and its rows' problems."""
    with csv_path.open(encoding="utf-8-sig", newline="") as source:
        rows = csv.reader(source)
        book = RejectBook(next(rows), cells)
        try:
            book.add(rows, problems)
        except BaseException:
            book.discard()
            raise
    return book.save(xlsx_path)


class RejectBook:
    """A rejects.xlsx being filled: rows of rejects.csv given in order, as cells
    read back from it (``header`` too), saved once all are in.

    Rows can come in parts (``add``), so the workbook can be filled while
    rejects.csv is still being written (``importer.outputs.background_workbook``).
    """

    def __init__(self, header: list[str], cells: ProblemCells):
        self.book = openpyxl.Workbook(write_only=True)
        self.header = [unneutralise(h) for h in header]
        # the diagnostics are the last 4 (plan) or 6 (run) columns; _row comes first
        self.originals = len(self.header) - self.header[::-1].index("_row") - 1
        self.cells = cells
        self.summary = self.book.create_sheet(SUMMARY_SHEET)  # first: what a person opens on
        self.sheet = self.book.create_sheet(REJECTS_SHEET)
        self.make = _Cells(self.sheet)
        self.tally = Reasons()
        self.sheet_rows: dict[int, int] = {}  # input row -> its row in sheet Rejects
        self.last = 1
        # the first rows, held until the columns are sized from them; then None
        self.held: list[list[str]] | None = []
        self.problems: dict[int, list[Problem]] = {}

    def add(self, rows: Iterable[list[str]], problems: dict[int, list[Problem]]) -> None:
        """Rows of rejects.csv (after those added before), and their problems."""
        self.problems.update(problems)
        values = ([unneutralise(c) for c in row] for row in rows)
        if self.held is not None:
            self.held += itertools.islice(values, _WIDTH_SAMPLE - len(self.held))
            if len(self.held) < _WIDTH_SAMPLE:
                return  # (all given are held)
            self._start()
        for row in values:
            self._append(row)

    def save(self, xlsx_path: Path) -> Path:
        """Write the workbook to ``xlsx_path`` (0600, new); none is left if that fails."""
        try:
            if self.held is not None:
                self._start()
            self.sheet.auto_filter.ref = f"A1:{get_column_letter(len(self.header))}{self.last}"
            _write_summary(self.summary, self.tally, self.sheet_rows)
            with private_files.open_private_bytes(xlsx_path) as out:
                self.book.save(out)
        except BaseException:
            self.discard()
            if xlsx_path.exists():  # a half-written workbook would only mislead: none is better
                os.unlink(xlsx_path)
            raise
        return xlsx_path

    def discard(self) -> None:
        """Drop what a workbook that failed part-way has written so far.

        openpyxl streams each sheet to a temporary file (0600) and removes it when
        saving; a failure leaves it behind until the interpreter exits, so it is
        closed and removed here (through its writer: openpyxl has no public way).
        """
        for sheet in self.book.worksheets:
            writer = getattr(sheet, "_writer", None)
            if writer is None:
                continue
            with contextlib.suppress(Exception):  # the stream may be broken already
                sheet._rows = None  # its generator, closed when the writer is
                writer.xf.close()
            with contextlib.suppress(OSError, ValueError):
                writer.cleanup()

    def _start(self) -> None:
        """Size the columns from the rows held, write the header, then those rows."""
        held, self.held = self.held or [], None
        _layout(self.sheet, self.header, held, self.originals)
        self.sheet.append(
            [
                self.make.cell(h, "diagnostic" if i >= self.originals else "header")
                for i, h in enumerate(self.header)
            ]
        )
        for row in held:
            self._append(row)

    def _append(self, row: list[str]) -> None:
        self.last += 1
        originals = self.originals
        number = int(row[originals]) if row[originals].isdigit() else 0
        found = self.problems.get(number, []) if number else []
        self.sheet.append(_row_cells(self.make, self.last, row, originals, found, self.cells))
        self.tally.add_row(number, _listed(row, originals, found))
        self.sheet_rows.setdefault(number, self.last)


def _layout(sheet: Any, header: list[str], sample: list[list[str]], originals: int) -> None:
    """Column widths for reading (from the header and the first rows), the header frozen."""
    sheet.freeze_panes = "A2"
    for position, name in enumerate(header):
        narrowest, widest = _WIDTHS.get(name, (6, 40))
        longest = max(
            (_shown_width(row[position]) for row in sample if position < len(row)), default=0
        )
        letter = get_column_letter(position + 1)
        sheet.column_dimensions[letter].width = min(
            widest, max(narrowest, _shown_width(name), longest) + 2
        )
        if position < originals:
            sheet.column_dimensions[letter].number_format = _TEXT


def _shown_width(value: str) -> int:
    return max((len(line) for line in value.splitlines()), default=0)


def _row_cells(
    make: _Cells, sheet_row: int, row: list[str], originals: int, found: list[Problem],
    cells: ProblemCells,
) -> list[Any]:  # fmt: skip
    """One row of sheet Rejects: plain text, with the cells the problems are about marked."""
    marks: dict[int, list[Problem]] = {}
    whole: list[Problem] = []
    for problem in found:
        position = cells.position(problem, row[:originals])
        if position is None:
            whole.append(problem)
        else:
            marks.setdefault(position, []).append(problem)
    out: list[Any] = [make.plain(v) for v in row]
    for position, listed in marks.items():
        out[position] = make.cell(row[position], "bad", listed)
    if whole:
        # the row's style fills its empty cells (written as none: cheaper), its own the rest
        make.sheet.row_dimensions[sheet_row].fill = _ROW
        for position in range(originals):
            if position not in marks and row[position] != "":
                out[position] = make.cell(row[position], "row")
        code = originals + 2  # _row, _stage, _code
        out[code] = make.cell(row[code], "bad", whole)
    return out


# a cell's look, by name: (font, fill)
_LOOKS: dict[str, tuple[Font | None, PatternFill | None]] = {
    "text": (None, None), "bad": (None, _BAD), "row": (None, _ROW),
    "header": (_BOLD, None), "diagnostic": (_BOLD, _DIAGNOSTIC),
}  # fmt: skip


class _Cells:
    """Makes the cells of one sheet, each holding its value as text.

    Setting a style on a cell looks its font and fill up by hashing them (tens
    of µs a cell); each look is made once here, and its cells get a copy.
    """

    def __init__(self, sheet: Any):
        self.sheet = sheet
        self._styles: dict[tuple[str, bool], Any] = {}

    def plain(self, value: str) -> Any:
        """A cell without a look: the text itself where that is safe (None when empty)."""
        if value == "":
            return None
        if _CARE.search(value) is None:
            return value
        return self.cell(value)

    def cell(self, value: str, look: str = "text", note: list[Problem] | None = None) -> Any:
        """A cell holding ``value`` as text whatever it starts with, in ``look``."""
        stored = "'" + value if unwrap_cell(value) != value else value  # the reader takes one ' off
        stored = _escaped(_LITERAL_ESCAPE.sub(r"_x005F_\1", stored))
        cell = WriteOnlyCell(self.sheet, value=stored if stored else None)
        cell.data_type = "s"  # never a formula, never a number
        cell._style = copy(self._style(look, quoted=stored.startswith(FORMULA_START)))
        if note:
            text = "\n".join(f"{p.code}: {p.message}" for p in note)
            cell.comment = Comment(
                _escaped(text), _AUTHOR, width=320, height=40 + 15 * (len(text) // 45)
            )
        return cell

    def _style(self, look: str, *, quoted: bool) -> Any:
        key = (look, quoted)
        if key not in self._styles:
            font, fill = _LOOKS[look]
            model = WriteOnlyCell(self.sheet)
            model.number_format = _TEXT  # Excel's text format: a value typed in stays text
            if quoted:
                model.quotePrefix = True  # as Excel marks '=x: editing the cell keeps it text
            if font is not None:
                model.font = font
            if fill is not None:
                model.fill = fill
            self._styles[key] = model._style
        return self._styles[key]


def _escaped(text: str) -> str:
    """Control characters, which XML cannot hold, as Excel escapes them (``_x000B_``)."""
    return _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def _listed(row: list[str], originals: int, found: list[Problem]) -> list[Problem]:
    """The row's codes as its ``_code`` cell lists them (an API refusal's included), each
    with the first message of its problems, or the row's ``_message``."""
    messages = {p.code: p.message for p in reversed(found)}  # the first message of each code
    listed = row[originals + 2].split(";") if row[originals + 2] else []
    return [Problem(code, messages.get(code, row[originals + 3])) for code in listed]


def _write_summary(sheet: Any, tally: Reasons, sheet_rows: dict[int, int]) -> None:
    """Sheet Summary: the codes, most frequent first, each with a meaning and an example."""
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDE", (22, 8, 48, 12, 80), strict=True):
        sheet.column_dimensions[letter].width = width
    make = _Cells(sheet)
    titles = ("Code", "Rows", "Meaning", "Example row", "Example message")
    sheet.append([make.cell(title, "header") for title in titles])
    for code, rows in tally.ordered():
        described = codes.describe(code)
        row, message = tally.examples[code]
        link = make.cell(str(row) if row else "")
        link.hyperlink = Hyperlink(ref="", location=f"'{REJECTS_SHEET}'!A{sheet_rows[row]}")
        meaning = described.meaning if described else ""
        sheet.append([make.plain(code), rows, meaning, link, make.plain(message)])
    sheet.append([])
    sheet.append([make.cell("Rejected rows", "header"), tally.rows])
    sheet.append([make.plain(
        f"Fix the marked cells in sheet {REJECTS_SHEET} (each one's comment says what is wrong), "
        "delete the rows not to import, save, and give this file to rg-import plan or run again."
    )])  # fmt: skip
