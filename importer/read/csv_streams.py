"""The byte streams that the delimited reader hands to its two parsers.

pandas reads a file from a record boundary only when what it is given starts
the right way (``widened``, ``from_a_record``); Python's csv module reads the
same records beside it, to count their fields (``FieldCounter``). See
``importer.read.delimited``, which uses them.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from typing import Any, BinaryIO

from importer.read.files import open_binary

# The csv module counts the fields of rows the parser reads the ordinary way (and
# ``delimited`` splits ragged records with it): a cell as big as the parser takes
# must not stop it.
csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))


def from_a_record(stream: BinaryIO, pandas_encoding: str | None) -> BinaryIO:
    """``stream`` (at a record past the header) as pandas must read it.

    Reading UTF-8, pandas drops a BOM at the start of what it reads: right
    at the start of the file, but part-way it is the first character of a
    cell. Such a BOM gets one more in front, for pandas to drop instead.
    """
    if pandas_encoding != "utf-8":
        return stream
    at = stream.tell()
    head = stream.read(len(codecs.BOM_UTF8))
    stream.seek(at)
    if head != codecs.BOM_UTF8:
        return stream
    return io.BufferedReader(_Prefixed(codecs.BOM_UTF8, stream))


def widened(stream: BinaryIO, delimiter: str, width: int, pandas_encoding: str | None) -> BinaryIO:
    """``stream`` (at a record) after a row of the header's ``width``, all empty.

    With ``usecols`` the parser keeps the first fields of a longer row
    instead of stopping, but refuses a first row shorter than the header:
    this row is never shorter. It is also the stream's start, so a BOM in
    the first record (a cell's first character) is no longer dropped.
    """
    line = delimiter * (width - 1) + "\n"
    codec = codecs.lookup(pandas_encoding or "utf-8").name
    prefix = line.encode(codec)
    if codec in ("utf-16", "utf-32"):
        # the file's own byte-order mark decides the byte order: it must come first
        at = stream.tell()
        head = stream.read(4) if at == 0 else b""
        stream.seek(at)
        for bom, name in _BYTE_ORDERS:
            if head.startswith(bom):
                prefix = bom + line.encode(name)
                break
    return io.BufferedReader(_Prefixed(prefix, stream))


_BYTE_ORDERS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16's: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class FieldCounter:
    """Each record's fields, as Python's csv module splits them, read beside the parser.

    The csv module follows the same rules as the parser's tokenizer (a quote
    opens a cell only at its start, text after a closing quote is kept, CR, LF
    and CRLF end records), and unlike the parser it says how many fields each
    record has. Only the first field of every record and the fields of the
    records that may be ragged are kept.
    """

    def __init__(self, path: str, encoding: str, delimiter: str, *, offset: int, skip: int):
        self._handle = open_binary(path)
        self._handle.seek(offset)
        text = io.TextIOWrapper(self._handle, encoding=encoding, newline="")
        self._reader = csv.reader(text, delimiter=delimiter, quotechar='"', doublequote=True)
        for _ in itertools.islice(self._reader, skip):
            pass

    def take(self, rows: int, named: int, width: int) -> tuple[list[str], dict[int, list[str]]]:
        """The next ``rows`` records: their first fields, and the fields of the
        ones with fewer than ``named`` or more than ``width`` fields, by position."""
        firsts: list[str] = []
        suspects: dict[int, list[str]] = {}
        try:
            for i, fields in enumerate(itertools.islice(self._reader, rows)):
                firsts.append(fields[0] if fields else "")
                if not named <= len(fields) <= width:
                    suspects[i] = fields
        except csv.Error:
            pass  # the parser reports what is wrong there (or the two disagree)
        return firsts, suspects

    def close(self) -> None:
        self._handle.close()


class _Prefixed(io.RawIOBase):
    """``prefix``, then the rest of ``stream``."""

    def __init__(self, prefix: bytes, stream: BinaryIO):
        self._prefix = prefix
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
