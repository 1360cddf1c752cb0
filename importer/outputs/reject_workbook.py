"""rejects.xlsx: rejects.csv as a workbook to review and fix in place.

Written from rejects.csv once that is closed, so it holds exactly its rows and
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
from collections.abc import Iterator
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
    book = openpyxl.Workbook(write_only=True)
    try:
        with csv_path.open(encoding="utf-8-sig", newline="") as source:
            _fill(book, csv.reader(source), problems, cells)
        with private_files.open_private_bytes(xlsx_path) as out:
            book.save(out)
    except BaseException:
        _discard(book)
        if xlsx_path.exists():  # a half-written workbook would only mislead: none is better
            os.unlink(xlsx_path)
        raise
    return xlsx_path


def _discard(book: Any) -> None:
    """Drop what a workbook that failed part-way has written so far.

    openpyxl streams each sheet to a temporary file (0600) and removes it when
    saving; a failure leaves it behind until the interpreter exits, so it is
    closed and removed here (through its writer: openpyxl has no public way).
    """
    for sheet in book.worksheets:
        writer = getattr(sheet, "_writer", None)
        if writer is None:
            continue
        with contextlib.suppress(Exception):  # the stream may be broken already
            sheet._rows = None  # its generator, closed when the writer is
            writer.xf.close()
        with contextlib.suppress(OSError, ValueError):
            writer.cleanup()


def _fill(
    book: Any, rows: Iterator[list[str]], problems: dict[int, list[Problem]], cells: ProblemCells
) -> None:
    header = [unneutralise(h) for h in next(rows)]
    # the diagnostics are the last 4 (plan) or 6 (run) columns; _row comes first
    originals = len(header) - header[::-1].index("_row") - 1
    values = ([unneutralise(c) for c in row] for row in rows)
    head = list(itertools.islice(values, _WIDTH_SAMPLE))
    summary = book.create_sheet(SUMMARY_SHEET)  # first: it is what a person opens on
    sheet = book.create_sheet(REJECTS_SHEET)
    _layout(sheet, header, head, originals)
    make = _Cells(sheet)
    sheet.append(
        [make.cell(h, "diagnostic" if i >= originals else "header") for i, h in enumerate(header)]
    )
    tally = Reasons()
    sheet_rows: dict[int, int] = {}  # input row -> its row in sheet Rejects
    last = 1
    for last, row in enumerate(itertools.chain(head, values), start=2):
        number = int(row[originals]) if row[originals].isdigit() else 0
        found = problems.get(number, []) if number else []
        sheet.append(_row_cells(make, last, row, originals, found, cells))
        tally.add_row(number, _listed(row, originals, found))
        sheet_rows.setdefault(number, last)
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{last}"
    _write_summary(summary, tally, sheet_rows)


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
