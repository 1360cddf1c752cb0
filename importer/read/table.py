"""The reading stage: CSV/TSV/TXT and XLSX exports in, text-only DataFrame chunks out.

This is the only module (with ``read_xlsx``) that calls pandas, python-calamine or openpyxl readers.
Every cell comes out as a Python ``str`` ("" when empty), indexed by its
spreadsheet row number, so the later stages can name the row in the reject file::

    with open_table("export.csv") as table:
        table.require(["Email"])
        for frame in table.chunks():
            ...

File-level problems raise ``InputError`` (one line: the file, the problem,
what to do), before any row is yielded whenever they can be seen up front.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

import pandas as pd

from importer.errors import InputError
from importer.read.cleaning import Cleaner
from importer.read.delimited import CsvSource
from importer.read.headers import is_plan_file, normalize_header, plan_columns
from importer.read.options import ReadOptions, check_options
from importer.read.records import (
    BLOCK_BYTES,
    RecordBlock,
    Span,
    Unsplittable,
    artefact_records,
    record_blocks,
    splittable_encoding,
)
from importer.read.sniff import read_head, sniff_kind

__all__ = ["Table", "TableInfo", "open_table", "peek_headers", "read_through"]


@dataclass
class TableInfo:
    """What was found out about an input file; ``rows`` grows while chunks are read."""

    path: str
    format: str  # "csv" | "xlsx"
    encoding: str | None  # e.g. "utf-8", "utf-8-sig", "utf-16", "cp1252"; None for xlsx
    delimiter: str | None
    sheet: str | None
    headers: list[str]  # header cells as in the file, stripped, without reject columns
    columns: list[str]  # unique names used in the frames, parallel to ``headers``
    ignored: list[str]  # reject diagnostic columns found and dropped
    sha256: str  # of the file's bytes
    size: int  # bytes
    rows: int = 0  # data rows yielded so far
    dropped_rows: int = 0  # rows dropped as blank or by drop_rows_matching
    header_row: int = 1  # spreadsheet row of the header (after blank or report-title rows)
    # one line each about the file as a whole (e.g. formula cells read as empty)
    warnings: list[str] = dataclasses.field(default_factory=list)


class _Source(Protocol):
    """A format-specific reader: header cells, then raw frames with positional columns."""

    path: str
    format: str
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    raw_headers: list[str]
    header_row: int
    sha256: str
    size: int
    maybe_artefacts: bool
    blank_rows_skipped: int

    def start(self) -> None: ...
    def frames(self) -> Iterator[pd.DataFrame]: ...
    @property
    def bytes_read(self) -> int: ...
    def close(self) -> None: ...


class Table:
    """An opened input file: its ``info`` and, once, its rows as DataFrame chunks."""

    def __init__(self, source: _Source, options: ReadOptions, patterns: list[re.Pattern[str]]):
        self._source = source
        self._options = options
        headers, columns, ignored, kept = plan_columns(
            source.raw_headers, keep_reject_columns=options.keep_reject_columns
        )
        self._cleaner = Cleaner(
            source.raw_headers, columns, kept, patterns,
            skip_blank_rows=options.skip_blank_rows, maybe_artefacts=source.maybe_artefacts,
        )  # fmt: skip
        self.info = TableInfo(
            path=source.path,
            format=source.format,
            encoding=source.encoding,
            delimiter=source.delimiter,
            sheet=source.sheet,
            headers=headers,
            columns=columns,
            ignored=ignored,
            sha256=source.sha256,
            size=source.size,
            header_row=source.header_row,
            warnings=list(getattr(source, "warnings", [])),
        )
        self._lookup: dict[str, str] = {}
        for header, column in zip(headers, columns, strict=True):
            self._lookup.setdefault(normalize_header(header), column)
        for column in columns:
            self._lookup.setdefault(normalize_header(column), column)
        self._started = False
        self._dropped = 0
        self._block_bytes = 0
        # how many blocks ``pieces(even=True)`` means to cut (None: not known)
        self.even_pieces: int | None = None
        self.span: Span | None = None  # the records read, when not all (``only``)

    def column(self, name: str) -> str | None:
        """The frame column for a header name (case- and whitespace-insensitive), or None."""
        return self._lookup.get(normalize_header(name))

    def require(self, names: Iterable[str]) -> None:
        """Raise InputError naming every one of ``names`` that the file lacks."""
        missing = [name for name in names if self.column(name) is None]
        if not missing:
            return
        have = ", ".join(repr(h) for h in self.info.headers[:12])
        if len(self.info.headers) > 12:
            have += f", … ({len(self.info.headers)} in all)"
        plural = "s" if len(missing) > 1 else ""
        raise InputError(
            f"missing column{plural} {', '.join(repr(m) for m in missing)} (the header row has {have or 'nothing'}); "
            "rename the header in the file or point the mapping at the right column",
            path=self.info.path,
        )

    def chunks(self) -> Iterator[pd.DataFrame]:
        """Yield the data rows as DataFrames of at most ``chunk_rows`` rows
        (about that many, with ``even_chunks``).

        Columns are ``info.columns``; every cell is a ``str``; the index is the
        spreadsheet row number. May be called once (or ``pieces`` instead).
        A ragged row is read like the others, with its verdict attached
        (``importer.read.ragged.found``). Raises InputError for a problem found
        part-way (a quote never closed).
        """
        self._claim()
        return self._frames()

    def pieces(
        self, block_bytes: int | None = None, *, even: bool = False
    ) -> Iterator[RecordBlock | pd.DataFrame]:
        """The data rows as blocks of raw records while the file allows, else as chunks.

        A CSV quoted the standard way comes entirely as ``RecordBlock`` objects
        of about ``chunk_rows`` rows or ``block_bytes`` bytes (parse the
        records wanted with ``parse``), unparsed, so a caller can
        skip rows it recognises by their bytes. An XLSX, a UTF-16 file, or a
        CSV from its first record quoted another way on, comes as DataFrame
        chunks, exactly as ``chunks`` yields them. May be called once.
        ``even`` sizes the blocks so that the file splits into equal ones.
        """
        self._claim()
        source = self._source
        if self.span is not None:
            yield from self._span_blocks(block_bytes)
            return
        if not isinstance(source, CsvSource) or not splittable_encoding(source.encoding):
            yield from self._frames()
            return
        if block_bytes is None:
            block_bytes = self._block_size(source)
        if even:
            parts = max(1, round(self.info.size / block_bytes))
            self.even_pieces = parts
            # One byte over the even share: the last read is then always short,
            # so it takes the rest of the file instead of a sliver of it being
            # left for a block of its own. (More slack would pile up in the
            # early blocks and leave the last one short.)
            block_bytes = -(-self.info.size // parts) + 1
        last: RecordBlock | None = None
        blocks = record_blocks(
            source.path,
            encoding=source.encoding,
            delimiter=source.delimiter or ",",
            skip_records=source.header_row,
            block_bytes=block_bytes,
        )
        try:
            for last in blocks:
                self.info.rows += len(last)
                self._block_bytes = last.next_offset
                yield last
        except Unsplittable:
            # From here on the parser decides where rows end: read the rest the ordinary way.
            if last is not None:
                source.start(last.next_offset, last.first_row + len(last))
            yield from self._frames()
        else:
            self._source.close()

    def _block_size(self, source: CsvSource) -> int:
        """About ``chunk_rows`` rows, at most BLOCK_BYTES."""
        return min(BLOCK_BYTES, max(4096, self._options.chunk_rows * source.bytes_per_row))

    def _span_blocks(self, block_bytes: int | None) -> Iterator[RecordBlock]:
        """The records of ``span`` alone, as blocks (see ``only``)."""
        source, span = self._source, self.span
        assert span is not None
        try:
            if not isinstance(source, CsvSource) or not splittable_encoding(source.encoding):
                raise Unsplittable("the file is no CSV that can be cut into records")
            blocks = record_blocks(
                source.path, encoding=source.encoding, delimiter=source.delimiter or ",",
                skip_records=0, block_bytes=block_bytes or self._block_size(source),
                span=(span.start, span.stop, span.first_row),
            )  # fmt: skip
            for block in blocks:
                self.info.rows += len(block)
                self._block_bytes = block.next_offset
                yield block
        except Unsplittable as exc:
            raise InputError(
                f"bytes {span.start} to {span.stop} are no whole records ({exc}): "
                "the file changed since it was cut into pieces; run it again",
                path=self.info.path,
            ) from None
        finally:
            source.close()

    def only(self, span: Span) -> None:
        """Read only the records of ``span`` (one piece of a run spread over several
        tasks, cut by ``importer.read.spans.cut``): ``pieces`` yields its blocks alone."""
        self.span = span

    def parse(
        self, block: RecordBlock, positions: Sequence[int] | None = None, *, count: bool = True
    ) -> pd.DataFrame:
        """The records of ``block`` at ``positions`` (all by default), as a chunk.

        The frame is what ``chunks`` would hold for those rows: blank rows and
        footers are left out, and counted as dropped in ``info`` unless
        ``count`` is False (rows read a second time, or read by another process).
        """
        source = self._source
        assert isinstance(source, CsvSource)
        wanted = range(len(block)) if positions is None else positions
        rows = block.rows[list(wanted)].tolist() if positions is not None else block.rows.tolist()
        if not rows:
            return pd.DataFrame(
                columns=self.info.columns, index=pd.Index([], dtype="int64"), dtype=object
            )
        data = block.data if positions is None else block.select(wanted)
        raw = source.parse_records(data, rows, block.ends if positions is None else None)
        # the raw bytes show which few rows may hold Excel artefacts: only those are unwrapped
        suspects = (
            artefact_records(
                data, source.delimiter or ",", block.ends if positions is None else None
            )
            if source.maybe_artefacts
            else None
        )
        frame = self._cleaner.clean(raw, suspects)
        if count:
            self.count_dropped(len(raw) - len(frame))
        return frame

    def count_dropped(self, rows: int) -> None:
        """Count ``rows`` of the blocks yielded as dropped (blank or footers), not as rows."""
        if rows:
            self.info.rows -= rows
            self._dropped += rows
            self.info.dropped_rows = self._source.blank_rows_skipped + self._dropped

    def _claim(self) -> None:
        if self._started:
            raise RuntimeError("Table.chunks() or Table.pieces() can be called only once")
        self._started = True

    def _frames(self) -> Iterator[pd.DataFrame]:
        try:
            for raw in self._source.frames():
                frame = self._cleaner.clean(raw)
                self._dropped += len(raw) - len(frame)
                self.info.dropped_rows = self._source.blank_rows_skipped + self._dropped
                if len(frame):
                    self.info.rows += len(frame)
                    yield frame
            self.info.dropped_rows = self._source.blank_rows_skipped + self._dropped
        finally:
            self._source.close()

    @property
    def bytes_read(self) -> int:
        """Bytes of the file consumed so far (for a progress bar)."""
        return max(self._source.bytes_read, self._block_bytes)

    def close(self) -> None:
        """Release the file; safe to call more than once."""
        self._source.close()

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _open(
    path: str | os.PathLike[str], options: ReadOptions, *, peek: bool, lazy: bool = False
) -> Table:
    checked, patterns = check_options(options)
    location = os.fspath(path)
    head = read_head(location)
    kind, utf16_hint = sniff_kind(location, head)
    source: _Source
    if kind == "xlsx":
        from importer.read.xlsx import XlsxSource

        source = XlsxSource(location, checked, peek=peek)
    else:
        source = CsvSource(location, checked, head, utf16_hint, peek=peek)
    if not peek and not lazy:
        try:
            source.start()
        except BaseException:
            source.close()
            raise
    try:
        table = Table(source, checked, patterns)
        # (``review`` reads with the reject columns kept, and says itself what a file is not)
        if is_plan_file(table.info.headers) and not options.keep_reject_columns:
            raise InputError(
                "this is a plan.csv that rg-import plan wrote (what a run would do with each "
                "row), not an export; give the export it was planned from",
                path=location,
            )
    except BaseException:
        source.close()
        raise
    return table


def open_table(
    path: str | os.PathLike[str], options: ReadOptions = ReadOptions(), *, lazy: bool = False
) -> Table:
    """Open a CSV/TSV/TXT or XLSX export for reading.

    Returns a Table whose ``info`` is complete except for the row counts.
    Raises InputError for a file that cannot be used (missing, empty, not a
    spreadsheet, legacy .xls, unknown sheet, bad encoding, no header, badly
    quoted rows within the first chunk), and ConfigError for bad options.
    ``lazy`` leaves the first chunk unread (for ``Table.pieces``, which may
    not need the parser at all): its problems then surface while reading.
    """
    return _open(path, options, peek=False, lazy=lazy)


def read_through(path: str | os.PathLike[str], options: ReadOptions = ReadOptions()) -> None:
    """Read the whole file once, as ``Table.pieces`` does, only to find what would stop it.

    For ``rg-import run``: a problem that stops reading part-way (a quote
    never closed) then stops the run before its first request. Raw blocks
    are cut and their quoting checked, but not parsed: records quoted the
    standard way cannot fail to parse (ragged ones are rows rejected, not
    errors). What comes as chunks (other quoting, UTF-16, workbooks) is parsed.
    """
    with open_table(path, options, lazy=True) as table:
        for _ in table.pieces():
            pass


def peek_headers(path: str | os.PathLike[str], options: ReadOptions = ReadOptions()) -> list[str]:
    """The header cells of a file (as ``TableInfo.headers``), reading only its start.

    Raises the same InputError as ``open_table`` for problems in the header.
    """
    table = _open(path, options, peek=True)
    try:
        return list(table.info.headers)
    finally:
        table.close()
