"""Delimited text (CSV/TSV/TXT) for the reading stage, streamed by the pandas C engine.

``importer.read.sniff`` chooses the encoding, delimiter and header row from the
first bytes; pandas then reads the rows after the header in chunks, so memory
stays flat whatever the file size. The streams it reads (and the csv module's
count of fields beside it) come from ``importer.read.csv_streams``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd

from importer.errors import InputError
from importer.models import Problem
from importer.read import ragged as read_ragged
from importer.read.csv_streams import FieldCounter, from_a_record, widened
from importer.read.files import open_binary
from importer.read.records import field_counts, record_ends
from importer.read.sniff import (
    SAMPLE_BYTES,
    decode_sample,
    guess_encoding_from_head,
    locate_header,
    parse_sample,
    scan_file,
    sniff_delimiter,
)

if TYPE_CHECKING:
    from importer.read.options import ReadOptions

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# Bytes the pandas C parser reads from a file at a time (its read-ahead).
_PARSER_BUFFER = 262_144
_RAGGED = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_UNCLOSED = re.compile(r"EOF inside string starting at row (\d+)")


class CsvSource:
    """Delimited text read by the pandas C engine in chunks, at constant memory."""

    format = "csv"
    sheet: str | None = None

    def __init__(
        self, path: str, options: ReadOptions, head: bytes, utf16_hint: str | None, *, peek: bool
    ):
        self.path = path
        self.options = options
        self.blank_rows_skipped = 0
        if peek:
            self.encoding: str | None = options.encoding or guess_encoding_from_head(
                head, utf16_hint
            )
            self.sha256, self.size, self.maybe_artefacts = "", os.path.getsize(path), True
        else:
            scan = scan_file(path, options.encoding, extra_delimiter=options.delimiter)
            self.encoding, self.sha256, self.size = scan.encoding, scan.sha256, scan.size
            self.maybe_artefacts = scan.maybe_artefacts
        complete = len(head) < SAMPLE_BYTES
        text = decode_sample(path, head, self.encoding or "utf-8", complete=complete)
        self.delimiter: str | None = options.delimiter or sniff_delimiter(text, complete=complete)
        records = parse_sample(text, self.delimiter, complete=complete)
        index = locate_header(records)
        if index is None:
            if complete:
                raise InputError(
                    "has no header row (it holds only blank lines); export the data again",
                    path=path,
                )
            raise InputError(
                f"has no header row in its first {SAMPLE_BYTES // 1024} KB (is a quote never closed?); check the file's quoting",
                path=path,
            )
        self.raw_headers = records[index]
        self.header_row = index + 1
        self.width = len(self.raw_headers)
        # rows with fewer fields than this lack a named column (see importer.read.ragged)
        self._named = read_ragged.named_width(self.raw_headers)
        self._counter: FieldCounter | None = None
        self._widening = False  # the next chunk starts with the row ``widened`` put first
        # a rough size of a row, to size blocks of raw records like chunks of rows:
        # the sample's bytes over the line ends outside quotes in it (``records``
        # stops at a few dozen, so it cannot tell). Complete records only: an
        # unclosed quote at the end is for the parser to report, not this estimate.
        self.bytes_per_row = max(1, len(head) // max(1, len(record_ends(head, final=False))))
        self._handle: BinaryIO | None = None
        self._reader: Iterator[pd.DataFrame] | None = None
        self._first: pd.DataFrame | None = None
        self._final_bytes = 0
        self._first_row = self.header_row + 1

    def start(self, offset: int = 0, first_row: int | None = None) -> None:
        """Open the file and read the first chunk, so early problems surface now.

        With ``offset`` (a record boundary, as ``importer.read.records`` finds
        them), reading starts there, at spreadsheet row ``first_row``.
        """
        self._handle = open_binary(self.path)
        if offset:
            self._handle.seek(offset)
        self._first_row = self.header_row + 1 if first_row is None else first_row
        # the fields of every row are counted alongside, to find the ragged ones
        self._counter = FieldCounter(
            self.path, self.encoding or "utf-8", self.delimiter or ",",
            offset=offset, skip=0 if offset else self.header_row,
        )  # fmt: skip
        try:
            # a row of the header's width goes first (and is dropped again): the
            # parser then takes every row, shorter or longer (see ``_read_csv``)
            self._reader = self._read_csv(
                widened(self._handle, self.delimiter or ",", self.width, self._pandas_encoding),
                skiprows=[] if offset else list(range(1, self.header_row + 1)),
                chunksize=self.options.chunk_rows,
                wide=True,
            )
            self._widening = True
        except pd.errors.ParserError as exc:  # the first line can already be unreadable
            raise self._parser_error(exc) from None
        self._first = self._next_chunk()

    @property
    def _pandas_encoding(self) -> str | None:
        codec = (self.encoding or "utf-8").lower().replace("_", "-")
        # The BOM sits in the header row, which pandas skips: utf-8 keeps its fast byte path.
        return "utf-8" if codec in ("utf-8", "utf8", "utf-8-sig") else self.encoding

    def _read_csv(
        self, source: Any, *, skiprows: int | list[int], chunksize: int | None, wide: bool = False
    ) -> Any:
        """``wide``: rows may have more fields than the header (the parser keeps
        the first ones instead of stopping; the ragged rows are judged apart).
        ``source`` must then be ``widened``."""
        # the parser takes the first fields of a longer row instead of stopping
        widening: dict[str, Any] = {"usecols": range(self.width)} if wide else {}
        return pd.read_csv(
            source,
            sep=self.delimiter,
            header=None,
            names=list(range(self.width)),
            skiprows=skiprows,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=False,  # blank lines must still count as rows
            index_col=False,
            quotechar='"',
            engine="c",
            encoding=self._pandas_encoding,
            encoding_errors="strict",
            chunksize=chunksize,
            **widening,
        )

    def parse_records(
        self, data: bytes, rows: Sequence[int], ends: np.ndarray | None = None
    ) -> pd.DataFrame:
        """Whole records (``importer.read.records``), one per row of ``rows``, parsed as the file is.

        ``ends``: where each record ends in ``data``, when known. Ragged rows
        are judged (``importer.read.ragged``) from the records' own bytes.
        """
        ends = record_ends(data) if ends is None else ends
        delimiter = self.delimiter or ","
        counts = field_counts(data, ends, delimiter)
        wide = bool(len(counts)) and int(counts.max()) > self.width
        try:
            if wide:
                frame = self._read_csv(
                    widened(io.BytesIO(data), delimiter, self.width, self._pandas_encoding),
                    skiprows=0,
                    chunksize=None,
                    wide=True,
                ).iloc[1:]
            else:
                frame = self._read_csv(
                    from_a_record(io.BytesIO(data), self._pandas_encoding),
                    skiprows=0,
                    chunksize=None,
                )
        except pd.errors.ParserError as exc:
            raise self._parser_error(exc, rows=rows) from None
        except UnicodeDecodeError as exc:
            raise InputError(
                f"does not decode as {self.encoding} ({exc.reason}); pass the right one with --encoding",
                path=self.path,
            ) from None
        if len(frame) != len(rows):  # cannot happen for records cut by read_records
            raise InputError(
                f"rows {rows[0]}-{rows[-1]} read as {len(frame)} rows instead of {len(rows)}; "
                "please report this with the file's quoting",
                path=self.path,
            )
        frame.index = pd.Index(list(rows), dtype="int64")
        suspects = np.flatnonzero((counts < self._named) | (counts > self.width)).tolist()
        if suspects:
            starts = [0, *ends[:-1].tolist()]
            codec = self._pandas_encoding or "utf-8"
            fields = {}
            for i in suspects:
                text = data[starts[i] : int(ends[i])].rstrip(b"\r\n").decode(codec, "replace")
                fields[i] = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), [])
            read_ragged.attach(frame, self._judge(frame, fields))
        return frame

    def _judge(self, frame: pd.DataFrame, fields: dict[int, list[str]]) -> dict[int, Problem]:
        """The ragged rows among the rows at these positions of ``frame``
        (their fields as the csv module splits them); the last cell of a row
        with extra fields gets them joined in."""
        problems = {}
        delimiter = self.delimiter or ","
        width = self.width
        for i, cells in fields.items():
            count = max(1, len(cells))
            if count < self._named:
                if not any(cells):
                    continue  # a blank line, or one of delimiters only
            elif count <= width or not any(cells[width:]):
                continue  # nothing under a named column is missing, nothing extra is lost
            else:
                frame.iat[i, width - 1] = delimiter.join(cells[width - 1 :])
            text = delimiter.join(cells)
            problems[int(frame.index[i])] = read_ragged.problem(count, width, text, delimiter)
        return problems

    def _next_chunk(self, rows: int | None = None) -> pd.DataFrame | None:
        assert self._reader is not None
        while True:
            # the widening row comes on top of the first chunk's rows
            size = (rows or self.options.chunk_rows) + 1 if self._widening else rows
            try:
                chunk = self._reader.get_chunk(size) if size else next(self._reader)  # type: ignore[attr-defined]
            except StopIteration:
                return None
            except pd.errors.ParserError as exc:
                raise self._parser_error(exc) from None
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"does not decode as {self.encoding} ({exc.reason}); pass the right one with --encoding",
                    path=self.path,
                ) from None
            except OSError as exc:
                raise InputError(
                    f"cannot be read ({exc.strerror or exc})", path=self.path
                ) from None
            # pandas numbers the rows from 0, the widening row first; turn that into sheet rows.
            chunk.index = chunk.index + self._first_row - 1
            if self._widening:
                self._widening = False
                chunk = chunk.iloc[1:]
                if not len(chunk):
                    continue
            break
        if self._counter is not None:
            self._judge_chunk(chunk)
        return chunk

    def _judge_chunk(self, chunk: pd.DataFrame) -> None:
        """Find the ragged rows of a chunk the parser read, with the csv module's counts."""
        assert self._counter is not None
        firsts, suspects = self._counter.take(len(chunk), self._named, self.width)
        # the two parsers must have cut the same records, or the counts are not this chunk's
        if len(firsts) != len(chunk) or firsts != chunk.iloc[:, 0].tolist():
            raise InputError(
                f"cannot be read consistently from row {int(chunk.index[0])} on (its quoting is "
                "unusual); please report this, and save the file again as standard CSV meanwhile",
                path=self.path,
            )
        if suspects:
            read_ragged.attach(chunk, self._judge(chunk, suspects))

    def _parser_error(self, exc: Exception, *, rows: Sequence[int] | None = None) -> InputError:
        text = str(exc)
        ragged = _RAGGED.search(text)
        if ragged:
            expected, row, saw = ragged.groups()
            if rows is not None:  # parsed from records, one per row of ``rows``
                # pandas numbers records ("lines") from 1
                row = str(rows[min(int(row), len(rows)) - 1])
            elif self._first_row != self.header_row + 1:  # read from an offset
                row = str(int(row) + self._first_row - 1)
            name = _DELIMITER_NAMES.get(self.delimiter or ",", repr(self.delimiter))
            return InputError(
                f"row {row} has {saw} fields but the header row has {expected}; "
                f"check the delimiter (read as {name}; choose another with --delimiter) "
                "or put quotes around cells that contain it",
                path=self.path,
            )
        unclosed = _UNCLOSED.search(text)
        if unclosed:
            # pandas counts these rows from 0, from where it started reading,
            # which is the row ``widened`` puts first
            start = self._first_row - 1 if self._first_row != self.header_row + 1 else 0
            row = int(unclosed.group(1)) + start
            if rows is not None:
                row = rows[min(int(unclosed.group(1)), len(rows) - 1)]
            return InputError(
                f'has a quote that is never closed, starting in row {row}; fix the quoting of that row (a stray " character)',
                path=self.path,
            )
        detail = text.removeprefix("Error tokenizing data. C error: ").strip()
        return InputError(
            f"cannot be parsed as CSV ({detail}); check the delimiter and quoting", path=self.path
        )

    def frames(self) -> Iterator[pd.DataFrame]:
        """Chunks of rows, from the start or from where ``start`` was told to begin."""
        if self._reader is None:
            self.start()
        chunk, self._first = self._first, None
        rows = None
        while chunk is not None:
            yield chunk
            if rows is None and self.options.even_chunks:
                rows = self._even_rows(len(chunk))
            chunk = self._next_chunk(rows)
        self._final_bytes = self.size

    def _even_rows(self, first_rows: int) -> int:
        """Rows per chunk that split the rest of the file evenly, judged by the first chunk."""
        consumed = self.bytes_read
        wanted = self.options.chunk_rows
        if not first_rows or not consumed or consumed >= self.size:
            return wanted  # all of it is buffered already: nothing to balance
        # the parser reads ahead by up to one buffer: assume half of it is unparsed
        parsed = max(consumed - _PARSER_BUFFER // 2, consumed / 2)
        rest = (self.size - consumed) / (parsed / first_rows)
        parts = max(1, round(rest / wanted))
        # some slack, so that an underestimate does not leave a tail of a few rows
        return max(wanted // 2, math.ceil(rest * 1.1 / parts))

    @property
    def bytes_read(self) -> int:
        if self._handle is not None and not self._handle.closed:
            return self._handle.tell()
        return self._final_bytes

    def close(self) -> None:
        if self._counter is not None:
            self._counter.close()
        if self._reader is not None:
            self._reader.close()  # type: ignore[attr-defined]
        if self._handle is not None:
            if not self._handle.closed:
                self._final_bytes = max(self._final_bytes, self._handle.tell())
            self._handle.close()
