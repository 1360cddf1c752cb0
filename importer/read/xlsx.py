"""XLSX workbooks for the reading stage.

A workbook up to ``STREAM_ABOVE_BYTES`` whose sheet unpacks to at most
``STREAM_ABOVE_XML_BYTES`` is read with python-calamine, which parses a sheet
in Rust about twelve times faster than openpyxl's read-only mode (some 14 µs of
Python per cell) but holds the sheet's values in memory (about 3 MB per 1,000
rows of 40 columns). A bigger one is streamed with openpyxl at constant
memory: slower, but never out of memory. Before either opens it, the package's
sizes are checked (``importer.read.xlsx_guard``: a zip bomb is refused), and
reading stops after ``ReadOptions.max_cells`` cells.

Cells become the text a person would type: 2134 (not 2134.0), 0.25, 2024-03-15
or 2024-03-15T09:30:00, TRUE/FALSE, and a formula's cached value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import openpyxl
import pandas as pd
from python_calamine import CalamineWorkbook, SheetTypeEnum

from importer.errors import InputError
from importer.models import Problem
from importer.read import ragged as read_ragged
from importer.read.files import open_binary
from importer.read.headers import REJECTS_SHEET, SUMMARY_SHEET
from importer.read.sniff import (
    MAX_TITLE_ROWS,
    SAMPLE_RECORDS,
    SAVE_AS,
    is_blank,
    locate_header,
)
from importer.read.xlsx_guard import formula_warning, inspect_package, scan_sheet

if TYPE_CHECKING:
    from importer.read.options import ReadOptions

# Workbooks bigger than this (about 200,000 rows of 40 columns) are streamed,
STREAM_ABOVE_BYTES = 40 << 20
# and so are those whose sheet (with the shared strings) unpacks to more XML than this,
# whatever their packed size: calamine holds about twice the XML in memory.
STREAM_ABOVE_XML_BYTES = 200 << 20


def cell_text(value: Any) -> str:
    """The text of one cell value as the reader returns it ("" for an empty cell)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Spreadsheets store every number as a float; whole ones read as integers.
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _file_digest(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open_binary(path) as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _last_filled(cells: list[str]) -> int:
    """1-based position of the last non-empty cell (0 when there is none)."""
    for position in range(len(cells), 0, -1):
        if cells[position - 1] != "":
            return position
    return 0


def _default_sheet(tables: list[str]) -> str:
    """The sheet read when none is named: the first, but the rows of a rejects.xlsx
    (sheets Summary and Rejects) rather than its summary."""
    if SUMMARY_SHEET in tables and REJECTS_SHEET in tables:
        return REJECTS_SHEET
    return tables[0]


def _column_letter(position: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(position)


class XlsxSource:
    """One worksheet of a workbook: header cells, then raw frames of text cells."""

    format = "xlsx"
    encoding: str | None = None
    delimiter: str | None = None
    maybe_artefacts = True  # cells are few enough per second that checking all is free

    def __init__(self, path: str, options: ReadOptions, *, peek: bool):
        self.path = path
        self.options = options
        self.blank_rows_skipped = 0
        if peek:
            self.sha256, self.size = "", os.path.getsize(path)
        else:
            self.sha256, self.size = _file_digest(path)
        self.warnings: list[str] = []
        self._cells_left = options.max_cells
        # a handle, so that content decides, not the file's extension
        self._handle = open_binary(path)
        try:
            self._package = inspect_package(
                self._handle, path, max_unpacked_bytes=options.max_unpacked_mb << 20
            )
        except BaseException:
            self._handle.close()
            raise
        self._workbook = self._load()
        try:
            self._prepare()
        except BaseException:
            self.close()
            raise

    def _load(self) -> Any:
        # until the sheet is known, the biggest one decides (a workbook is streamed or not as a whole)
        biggest = max((self._package.sheet_bytes(n) for n in self._package.sheet_parts), default=0)
        self._streamed = self.size > STREAM_ABOVE_BYTES or biggest > STREAM_ABOVE_XML_BYTES
        try:
            if self._streamed:
                return openpyxl.load_workbook(
                    self._handle, read_only=True, data_only=True, keep_links=False
                )
            return CalamineWorkbook.from_filelike(self._handle)
        except Exception as exc:  # both libraries raise many kinds for a damaged package
            self._handle.close()
            raise InputError(
                f"cannot be read as an .xlsx workbook ({type(exc).__name__}); {SAVE_AS}",
                path=self.path,
            ) from None

    def _sheets(self) -> tuple[list[str], list[str]]:
        """(every sheet's name, the names of those holding cells: not charts)."""
        if self._streamed:
            return list(self._workbook.sheetnames), [ws.title for ws in self._workbook.worksheets]
        metadata = list(self._workbook.sheets_metadata)
        return [m.name for m in metadata], [
            m.name for m in metadata if m.typ == SheetTypeEnum.WorkSheet
        ]

    def _open_rows(self, name: str) -> None:
        """Start ``self._rows``: (row number, cell values) from row 1 and column A."""
        if self._streamed:
            sheet = self._workbook[name]
            self._max_row = sheet.max_row if isinstance(sheet.max_row, int) else None
            self._rows = enumerate(sheet.iter_rows(values_only=True), start=1)
            return
        try:
            sheet = self._workbook.get_sheet_by_name(name)
        except Exception as exc:  # a damaged sheet XML part
            raise InputError(
                f"sheet {name!r} cannot be read ({type(exc).__name__}); {SAVE_AS}", path=self.path
            ) from None
        # calamine's rows start at row 1 (empty rows above the used range come
        # as empty rows) but at the used range's first column: the columns
        # before it are put back, so cells keep their column as in the sheet
        (top, left), height = sheet.start or (0, 0), sheet.height
        self._max_row = top + height if height else None
        pad = ("",) * left
        self._rows = enumerate((pad + tuple(r) for r in sheet.iter_rows()), start=1)

    def _prepare(self) -> None:
        names, tables = self._sheets()
        wanted = self.options.sheet
        listing = ", ".join(repr(n) for n in names)
        if wanted is None:
            if not tables:
                raise InputError(f"has no worksheet (only {listing}); {SAVE_AS}", path=self.path)
            name = _default_sheet(tables)
        else:
            exact = [n for n in names if n == wanted] or [
                n for n in names if n.casefold() == wanted.casefold()
            ]
            if not exact:
                raise InputError(
                    f"has no sheet named {wanted!r}; its sheets are {listing}; pick one with --sheet",
                    path=self.path,
                )
            name = exact[0]
            if name not in tables:
                raise InputError(
                    f"sheet {name!r} is a chart, not a table; its sheets are {listing}",
                    path=self.path,
                )
        self.sheet: str | None = name
        self._check_sheet(name)
        self._open_rows(name)
        self._row_number = 0
        # Read ahead to the header and a few data rows: enough to skip report
        # titles and to learn the width of the table.
        ahead: list[tuple[int, list[str]]] = []
        filled = 0
        for number, values in self._iterate():
            cells = [cell_text(v) for v in values]
            ahead.append((number, cells))
            if not is_blank(cells):
                filled += 1
                if filled >= SAMPLE_RECORDS + MAX_TITLE_ROWS:
                    break
        records = [cells for _, cells in ahead]
        index = locate_header(records)
        if index is None:
            raise InputError(
                f"sheet {self.sheet!r} is empty (no header row); its sheets are {listing}; pick one with --sheet",
                path=self.path,
            )
        self.header_row = ahead[index][0]
        header = records[index]
        self.width = max(
            [_last_filled(header)] + [_last_filled(cells) for cells in records[index + 1 :]]
        )
        self.raw_headers = (header + [""] * self.width)[: self.width]
        self._ahead = ahead[index + 1 :]

    def _check_sheet(self, name: str) -> None:
        """Unpack the sheet once, bounded, to see that it is what the zip says and to find
        formulas without a saved result. Unpacking costs a few percent of parsing the
        XML, even for a streamed sheet."""
        part = self._package.sheet_parts.get(name)
        if part is None:
            return
        limit = self.options.max_unpacked_mb << 20 if self._streamed else STREAM_ABOVE_XML_BYTES
        with open_binary(self.path) as handle:  # its own: the library reads self._handle lazily
            scan = scan_sheet(handle, self.path, part, limit=limit)
        warning = formula_warning(name, scan)
        if warning:
            self.warnings.append(warning)

    def _iterate(self) -> Iterator[tuple[int, tuple[Any, ...]]]:
        try:
            for number, values in self._rows:
                self._row_number = number
                self._cells_left -= max(1, len(values))
                if self._cells_left < 0:
                    raise InputError(
                        f"sheet {self.sheet!r} holds more than {self.options.max_cells:,} cells "
                        f"(row {number} is past the limit); split it, save it as CSV, "
                        "or raise the limit with RG_MAX_CELLS if it is genuine",
                        path=self.path,
                    )
                yield number, values
        except InputError:
            raise
        except Exception as exc:  # a damaged sheet XML part, found part-way
            raise InputError(
                f"sheet {self.sheet!r} is damaged after row {self._row_number} ({type(exc).__name__}); {SAVE_AS}",
                path=self.path,
            ) from None

    def start(self) -> None:
        """Nothing to do: the header was found when the workbook was opened."""

    def _data_rows(self) -> Iterator[tuple[int, list[str]]]:
        yield from self._ahead
        self._ahead = []
        for number, values in self._iterate():
            yield number, [cell_text(v) for v in values]

    def frames(self) -> Iterator[pd.DataFrame]:
        width = self.width
        columns = list(range(width))
        numbers: list[int] = []
        rows: list[list[str]] = []
        # rows with a value past the last column (see importer.read.ragged)
        ragged: dict[int, Problem] = {}

        def frame() -> pd.DataFrame:
            made = pd.DataFrame(
                rows, index=pd.Index(numbers, dtype="int64"), columns=columns, dtype=str
            )
            return read_ragged.attach(made, {n: ragged.pop(n) for n in list(ragged)})

        for number, cells in self._data_rows():
            if len(cells) > width and _last_filled(cells) > width:
                last = _last_filled(cells)
                ragged[number] = read_ragged.problem(
                    last, width, ",".join(cells[:last]), ",",
                    past=f"a value in column {_column_letter(last)}, which has no header",
                )  # fmt: skip
                cells = read_ragged.joined_cells(cells[:last], width, ",")
            elif self.options.skip_blank_rows and is_blank(cells) and not any(cells):
                self.blank_rows_skipped += 1
                continue
            numbers.append(number)
            rows.append((cells + [""] * width)[:width] if len(cells) != width else cells)
            if len(rows) >= self.options.chunk_rows:
                yield frame()
                numbers, rows = [], []
        if rows:
            yield frame()
        self._row_number = self._max_row or self._row_number

    @property
    def bytes_read(self) -> int:
        """An estimate: the share of the sheet's rows read so far, in bytes of the file."""
        if not self._max_row:
            return 0
        return min(self.size, self.size * self._row_number // self._max_row)

    def close(self) -> None:
        workbook = getattr(self, "_workbook", None)
        if workbook is not None:
            self._workbook = None  # calamine refuses a second close; this one can be called again
            workbook.close()
        self._handle.close()
