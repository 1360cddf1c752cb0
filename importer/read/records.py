"""The raw records of a delimited file: each data row's bytes, cut where the CSV parser cuts.

Two jobs need rows before, or without, parsing them:

- a re-run recognises unchanged rows by a digest of their raw bytes, and
  never parses them at all;
- a dry run hands record-aligned blocks of bytes to processes that parse and
  check them side by side.

Records are found with C-level byte operations: the text is cut at every
"\\n", and a line holding an odd number of '"' goes on into the next line (a
line break inside a quoted cell). That is exactly where the parser cuts a file
quoted the standard way (RFC 4180). So that the two can never disagree, every
record holding a quote is checked against the standard's grammar, and a file
that the parser could cut differently (a quote inside an unquoted cell, a
bare CR line end, a quote never closed, an encoding in which "\\n" is not one
byte) raises ``Unsplittable``: the caller then reads it the ordinary way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

__all__ = [
    "BLOCK_BYTES",
    "RecordBlock",
    "Span",
    "Unsplittable",
    "artefact_records",
    "field_counts",
    "record_blocks",
    "record_ends",
    "splittable_encoding",
]

# About 30,000 rows of a typical CRM export: big enough that fixed costs per
# block vanish, small enough that a few blocks in memory at once stay cheap.
BLOCK_BYTES = 8 << 20

# Encodings in which every ASCII character is the same single byte, and no
# byte of a multi-byte character is '"', "\r" or "\n".
_SPLITTABLE = frozenset(
    {
        "utf-8",
        "utf8",
        "utf-8-sig",
        "cp1252",
        "windows-1252",
        "latin-1",
        "latin1",
        "iso-8859-1",
        "ascii",
    }
)


@dataclass(frozen=True)
class Span:
    """Whole records of a file: bytes ``start`` to ``stop``, the first being spreadsheet
    row ``first_row``; ``records`` counts them (blank rows and footers included)."""

    start: int
    stop: int
    first_row: int
    records: int


class Unsplittable(Exception):
    """The file cannot be cut into records without the full parser (see the module docstring)."""


def splittable_encoding(encoding: str | None) -> bool:
    return (encoding or "utf-8").lower().replace("_", "-") in _SPLITTABLE


@dataclass
class RecordBlock:
    """Whole records, back to back, and where each one ends."""

    data: bytes
    ends: np.ndarray  # int64: offset just past each record's line end in ``data``
    first_row: int  # spreadsheet row number of the first record
    offset: int  # where ``data`` starts in the file

    @property
    def next_offset(self) -> int:
        """Where the next record starts in the file."""
        return self.offset + len(self.data)

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def rows(self) -> np.ndarray:
        """The spreadsheet row number of every record."""
        return np.arange(self.first_row, self.first_row + len(self.ends), dtype=np.int64)

    def positions(self, rows: Sequence[int]) -> list[int]:
        """Where the records of spreadsheet ``rows`` stand in the block."""
        return [row - self.first_row for row in rows]

    def _bounds(self) -> tuple[list[int], list[int]]:
        ends = self.ends.tolist()
        return [0, *ends[:-1]], ends

    def records(self) -> list[bytes]:
        """Every record's bytes without its line end (so CRLF and LF files digest alike)."""
        starts, ends = self._bounds()
        data = self.data
        return [data[s:e].rstrip(b"\r\n") for s, e in zip(starts, ends, strict=True)]

    def select(self, positions: Sequence[int]) -> bytes:
        """The records at ``positions``, each ending with a line break, as one text."""
        starts, ends = self._bounds()
        data = self.data
        parts = []
        for i in positions:
            part = data[starts[i] : ends[i]]
            parts.append(part if part.endswith(b"\n") else part + b"\n")
        return b"".join(parts)


def record_blocks(
    path: str,
    *,
    encoding: str | None,
    delimiter: str,
    skip_records: int,
    block_bytes: int = BLOCK_BYTES,
    span: tuple[int, int, int] | None = None,
) -> Iterator[RecordBlock]:
    """The data records of ``path`` in blocks of about ``block_bytes``.

    ``skip_records`` records (title rows and the header) are left out; the
    first one after them is spreadsheet row ``skip_records + 1``. ``span``
    ``(start, stop, first_row)`` reads only the bytes from ``start`` to ``stop``,
    which hold whole records (a piece cut before), the first being spreadsheet
    row ``first_row``. Raises Unsplittable as soon as a record shows that the file
    is not quoted the standard way; blocks already yielded are right regardless.
    """
    if not splittable_encoding(encoding):
        raise Unsplittable(f"records cannot be cut in {encoding} text")
    # one byte in every splittable encoding; a quote or line break would confuse the cut
    if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n\x00':
        raise Unsplittable(f"the delimiter {delimiter!r} is not one plain ASCII character")
    separator = ord(delimiter)
    offset, stop, next_row = span or (0, None, 1)  # offset: of data[0] in the file
    to_skip = 0 if span else skip_records
    carry = b""
    with open(path, "rb") as handle:
        for fresh, final in _reads(handle, block_bytes, offset, stop):
            data = carry + fresh if carry else fresh
            if not data:
                return
            ends = _checked_ends(data, separator, final=final)
            done = int(ends[-1]) if len(ends) else 0
            carry = data[done:]
            if final and carry:
                raise Unsplittable("a quote is never closed (by the count of quotes)")
            start = offset
            offset += done
            if to_skip and len(ends):
                skipped = min(to_skip, len(ends))
                cut = int(ends[skipped - 1])
                data, ends = data[cut:done], ends[skipped:] - cut
                start += cut
                to_skip -= skipped
                next_row += skipped
            elif done < len(data):
                data = data[:done]
            if len(ends):
                yield RecordBlock(data, ends, next_row, start)
                next_row += len(ends)


def _reads(
    handle: BinaryIO, block_bytes: int, start: int, stop: int | None
) -> Iterator[tuple[bytes, bool]]:
    """Reads of about ``block_bytes`` from ``start`` up to ``stop`` (or the end), each
    with whether it is the last; a short read takes the rest, so it is the last."""
    if start:
        handle.seek(start)
    left = -1 if stop is None else stop - start
    while True:
        wanted = block_bytes if left < 0 else min(block_bytes, left)
        fresh = handle.read(wanted)
        if 0 < len(fresh) < block_bytes and left < 0:
            fresh += handle.read()  # a short read: take the rest, so it is the last block
        if left >= 0:
            left -= len(fresh)
            final = left <= 0 or not fresh
        else:
            final = len(fresh) < block_bytes
        yield fresh, final
        if final:
            return


_QUOTE, _LF, _CR = ord('"'), ord("\n"), ord("\r")


def record_ends(data: bytes, *, final: bool = True) -> np.ndarray:
    """End offsets of the complete records in ``data`` (see ``_checked_ends``)."""
    text = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(text == _QUOTE)
    return _ends(text, quotes, final=final)


def _ends(text: np.ndarray, quotes: np.ndarray, *, final: bool) -> np.ndarray:
    line_feeds = np.flatnonzero(text == _LF)
    ends = line_feeds[(np.searchsorted(quotes, line_feeds) & 1) == 0] + 1
    if final and len(text) and text[-1] != _LF:
        if len(quotes) & 1:
            raise Unsplittable("a quote is never closed")
        ends = np.append(ends, len(text))  # the last line has no line break
    return ends


def _checked_ends(data: bytes, separator: int, *, final: bool) -> np.ndarray:
    """End offsets of the complete records in ``data``; checks their quoting.

    A record ends at a line feed with an even number of quotes before it.
    Then every quote must sit where the standard puts one, so that counting
    quotes tracks the parser's state: an opening quote (even-numbered) starts
    a cell or follows a quote (an escaped ""), a closing quote (odd-numbered)
    ends a cell or precedes a quote. A bare CR outside quotes would end a
    line for the parser, and NUL bytes are its own business: both are refused.
    """
    text = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(text == _QUOTE)
    ends = _ends(text, quotes, final=final)
    done = int(ends[-1]) if len(ends) else 0
    _check_quoting(text[:done], quotes[quotes < done], separator)
    return ends


def _check_quoting(text: np.ndarray, quotes: np.ndarray, separator: int) -> None:
    n = len(text)
    if not n:
        return
    if len(quotes):
        number = np.arange(len(quotes))
        adjacent_before = np.zeros(len(quotes), dtype=bool)
        adjacent_before[1:] = quotes[1:] == quotes[:-1] + 1
        adjacent_after = np.zeros(len(quotes), dtype=bool)
        adjacent_after[:-1] = adjacent_before[1:]
        before = np.where(quotes > 0, text[np.maximum(quotes - 1, 0)], _LF)
        after = np.where(quotes < n - 1, text[np.minimum(quotes + 1, n - 1)], _LF)
        opening = (number & 1) == 0
        opens_well = (before == separator) | (before == _LF) | adjacent_before
        closes_well = (after == separator) | (after == _LF) | (after == _CR) | adjacent_after
        bad = np.flatnonzero(np.where(opening, ~opens_well, ~closes_well))
        if len(bad):
            raise Unsplittable(
                f"a quote at byte {int(quotes[bad[0]])} of a block is not standard CSV quoting"
            )
    carriage = np.flatnonzero(text == _CR)
    if len(carriage):
        following = text[np.minimum(carriage + 1, n - 1)]
        bare = carriage[(following != _LF) & (carriage < n - 1)]
        outside = bare[(np.searchsorted(quotes, bare) & 1) == 0]
        if len(outside):
            raise Unsplittable("a line ends with a bare carriage return")
    if 0 in text:
        raise Unsplittable("the text holds NUL bytes")


def field_counts(data: bytes, ends: np.ndarray, delimiter: str) -> np.ndarray:
    """How many fields each record of ``data`` (ending at ``ends``) has, as the parser splits it.

    Exact for records quoted the standard way (those ``record_blocks`` cuts):
    a delimiter outside quotes is one with an even number of quotes before it.
    An empty line counts as one (empty) field, as the parser reads it.
    """
    text = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(text == _QUOTE)
    separators = np.flatnonzero(text == ord(delimiter))
    if len(quotes):
        separators = separators[(np.searchsorted(quotes, separators) & 1) == 0]
    before = np.searchsorted(separators, ends)  # separators before each record's end
    return np.diff(before, prepend=0) + 1


def artefact_records(data: bytes, delimiter: str, ends: np.ndarray | None = None) -> np.ndarray:
    """Indices of the records in ``data`` where a cell may start with ' or = (Excel artefacts).

    A superset, found with byte comparisons: a ' or = right after a delimiter
    or a line feed (or the start), or after a quote that follows one. Only
    these records need ``importer.read.table.unwrap_excel`` looked at. ``ends``:
    the records' end offsets when known (``RecordBlock.ends``).
    """
    text = np.frombuffer(data, dtype=np.uint8)
    triggers = np.flatnonzero((text == ord("'")) | (text == ord("=")))
    if not len(triggers):
        return triggers
    separator = ord(delimiter)

    def starts_cell(at: np.ndarray) -> np.ndarray:
        before = text[np.maximum(at - 1, 0)]
        return (at == 0) | (before == separator) | (before == _LF)

    quoted = (triggers > 0) & (text[np.maximum(triggers - 1, 0)] == _QUOTE)
    hits = triggers[starts_cell(triggers) | (quoted & starts_cell(triggers - 1))]
    if not len(hits):
        return hits
    if ends is None:
        ends = record_ends(data)
    return np.unique(np.searchsorted(ends, hits, side="right"))
