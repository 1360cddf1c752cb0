"""Sniffing for the reading stage: file kind, encoding, delimiter, header row.

Pure Python, no pandas: everything here looks at bytes or at a small decoded
sample, so it is cheap and easy to test. ``importer.read.table`` puts it together.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Literal

from importer.errors import InputError
from importer.read.files import open_binary

FileKind = Literal["csv", "xlsx"]

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_BYTES = 256 * 1024  # enough for ~50 records of even a wide export
SAMPLE_RECORDS = 50
MAX_TITLE_ROWS = 10
_BLOCK = 1 << 20

_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
# Bytes that cp1252 leaves undefined; a file holding one is better read as latin-1.
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
# Give up looking for Excel artefacts after this many ' or = (then assume some).
_ARTEFACT_SCAN_LIMIT = 200_000

SAVE_AS = "open it in Excel and save it as .xlsx or .csv (UTF-8)"


def read_head(path: str, size: int = SAMPLE_BYTES) -> bytes:
    """The first ``size`` bytes of the file; raises InputError if it cannot be read."""
    with open_binary(path) as handle:
        try:
            return handle.read(size)
        except OSError as exc:
            raise InputError(f"cannot be read ({exc.strerror or exc})", path=path) from None


def _bomless_utf16(head: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when NULs sit in every other byte, as in BOM-less UTF-16 text."""
    probe = head[: 1024 - (len(head[:1024]) % 2)]
    if len(probe) < 4:
        return None
    even, odd = probe[0::2], probe[1::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def sniff_kind(path: str, head: bytes) -> tuple[FileKind, str | None]:
    """Classify a file by its first bytes, not its name.

    Returns ``(kind, encoding_hint)``; the hint is set only for BOM-less UTF-16.
    Raises InputError for an empty file, a legacy .xls, other spreadsheet or
    archive formats, HTML/XML pages and binary data.
    """
    if not head:
        raise InputError("is empty (0 bytes); export the data again", path=path)
    if head.startswith(_OLE_MAGIC):
        raise InputError(
            f"is a legacy Excel .xls workbook (or a password-protected one); {SAVE_AS}", path=path
        )
    if head.startswith(_ZIP_MAGIC):
        return _sniff_zip(path), None
    if head.startswith((_UTF8_BOM, *_UTF16_BOMS)):
        return "csv", None
    if b"\x00" in head[:1024]:
        hint = _bomless_utf16(head)
        if hint:
            return "csv", hint
        raise InputError(
            "is not a spreadsheet (it holds binary data); export the data as CSV or XLSX", path=path
        )
    start = head[:512].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml")):
        raise InputError(f"is an HTML or XML page, not a CSV file; {SAVE_AS}", path=path)
    return "csv", None


def _sniff_zip(path: str) -> FileKind:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError):
        raise InputError(
            f"looks like an .xlsx workbook but is damaged (not a readable zip); {SAVE_AS}",
            path=path,
        ) from None
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        raise InputError(f"is an Excel binary workbook (.xlsb); {SAVE_AS}", path=path)
    if b"opendocument.spreadsheet" in mimetype:
        raise InputError(f"is an OpenDocument spreadsheet (.ods); {SAVE_AS}", path=path)
    raise InputError(
        "is a zip archive, not a spreadsheet; unzip it and import the CSV or XLSX inside", path=path
    )


@dataclass(frozen=True)
class Scan:
    """What one pass over a text file's bytes found.

    ``encoding`` is the one to report; ``maybe_artefacts`` is False only when no
    cell can start with ``'`` or ``=`` (so unwrapping Excel artefacts can be skipped).
    """

    sha256: str
    size: int
    encoding: str
    maybe_artefacts: bool


class _ArtefactFinder:
    """Tracks whether a ``'`` or ``=`` ever starts a cell (possibly after a quote).

    Works on decoded text in blocks; a false positive only costs speed.
    """

    def __init__(self, field_starts: str):
        self.field_starts = field_starts
        self.tail = "\n"  # the start of the file starts a cell
        self.seen = 0
        self.found = False

    def feed(self, text: str) -> None:
        if self.found or not text:
            return
        window = self.tail + text
        offset = len(self.tail)
        for char in ("'", "="):
            i = window.find(char, offset)
            while i != -1:
                self.seen += 1
                before = window[i - 1] if i >= 1 else ""
                if (
                    self.seen > _ARTEFACT_SCAN_LIMIT
                    or before in self.field_starts
                    or (before == '"' and i >= 2 and window[i - 2] in self.field_starts)
                ):
                    self.found = True
                    return
                i = window.find(char, i + 1)
        self.tail = window[-2:]


def scan_file(path: str, encoding: str | None, *, extra_delimiter: str | None = None) -> Scan:
    """Hash the file and choose (or check) its encoding in one streaming pass.

    With ``encoding`` None: a BOM decides ("utf-8-sig" or "utf-16"); else the
    whole file must decode as UTF-8 to be "utf-8"; else "cp1252", or "latin-1"
    when a byte undefined in cp1252 occurs. An explicit ``encoding`` is checked
    against the whole file. Memory stays at one block whatever the file size.

    Raises InputError when the file cannot be read, when an explicit encoding
    (or a UTF-8 BOM) does not fit the bytes, or for an unknown encoding name.
    """
    finder = _ArtefactFinder(",;\t|\r\n" + (extra_delimiter or ""))
    with open_binary(path) as handle:
        first = handle.read(_BLOCK)
        chosen, why = (encoding, None) if encoding else _first_guess(first)
        scanner = _Scanner(
            path, chosen, why, finder, strict=why is not None or encoding is not None
        )
        for block in _blocks(path, handle, first):
            scanner.feed(block)
        scanner.finish()
    return scanner.result(encoding)


def _first_guess(first: bytes) -> tuple[str, str | None]:
    """The encoding the first block points to, and how it was chosen (None: only a try at UTF-8)."""
    if bom := _encoding_from_bom(first):
        return bom, "starts with a byte-order mark"
    if utf16 := _bomless_utf16(first):
        return utf16, "looks like UTF-16 (a NUL in every other byte)"
    return "utf-8", None


def _blocks(path: str, handle: BinaryIO, first: bytes) -> Iterator[bytes]:
    """``first``, then the rest of the file a block at a time."""
    block = first
    while block:
        yield block
        try:
            block = handle.read(_BLOCK)
        except OSError as exc:
            raise InputError(f"cannot be read ({exc.strerror or exc})", path=path) from None


class _Scanner:
    """The state of ``scan_file``'s pass: digest, size, decoding, artefacts.

    ``strict``: the encoding is given or certain, so bytes that do not decode
    are an error; otherwise they only mean the file is not UTF-8, and the
    rest is read as cp1252 or latin-1 (decided at the end).
    """

    def __init__(
        self, path: str, chosen: str, why: str | None, finder: _ArtefactFinder, *, strict: bool
    ):
        self.path, self.chosen, self.why, self.strict = path, chosen, why, strict
        self.finder = finder
        self.decoder = _incremental_decoder(path, chosen)
        self.digest = hashlib.sha256()
        self.size = 0
        self.failed_utf8 = False
        self.undefined_cp1252 = False

    def feed(self, block: bytes) -> None:
        self.digest.update(block)
        if not self.failed_utf8:
            pending = len(self.decoder.getstate()[0])
            try:
                self.finder.feed(self.decoder.decode(block))
            except UnicodeDecodeError as exc:
                self._undecodable(exc, self.size - pending + exc.start)
        if self.failed_utf8:
            # cp1252 or latin-1, not known until the end; both keep ASCII
            # where it is, which is all the artefact finder looks at.
            self.finder.feed(block.decode("latin-1"))
        if not self.undefined_cp1252:  # checked from the start: UTF-8 can hold these bytes too
            self.undefined_cp1252 = any(b in block for b in _CP1252_UNDEFINED)
        self.size += len(block)

    def finish(self) -> None:
        """Decode what the decoder still holds (an incomplete character at the end)."""
        if self.failed_utf8:
            return
        try:
            self.finder.feed(self.decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            self._undecodable(exc, self.size)

    def _undecodable(self, exc: UnicodeDecodeError, offset: int) -> None:
        if self.strict:
            raise _decode_error(self.path, self.chosen, offset, exc, why=self.why) from None
        self.failed_utf8 = True

    def result(self, encoding: str | None) -> Scan:
        if self.failed_utf8:
            self.chosen = "latin-1" if self.undefined_cp1252 else "cp1252"
        return Scan(self.digest.hexdigest(), self.size, encoding or self.chosen, self.finder.found)


def _encoding_from_bom(head: bytes) -> str | None:
    if head.startswith(_UTF8_BOM):
        return "utf-8-sig"
    if head.startswith(_UTF16_BOMS):
        return "utf-16"
    return None


def _incremental_decoder(path: str, encoding: str) -> codecs.IncrementalDecoder:
    try:
        return codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        raise InputError(
            f"unknown encoding {encoding!r}; pass a valid one with --encoding (e.g. utf-8, cp1252, utf-16)",
            path=path,
        ) from None


def _decode_error(
    path: str, encoding: str, offset: int, exc: UnicodeDecodeError, *, why: str | None
) -> InputError:
    """The error for bytes that do not decode; ``why`` says how the encoding was chosen (None: given)."""
    bad = exc.object[exc.start : exc.start + 1].hex() if exc.object else "?"
    where = f"byte 0x{bad} at offset {max(offset, 0)}"
    if why is None:
        hint = "pass the file's real encoding with --encoding (e.g. --encoding cp1252), or leave it out to detect it"
        return InputError(f"is not valid {encoding}: {where}; {hint}", path=path)
    return InputError(
        f"{why} ({encoding}) but {where} does not decode; re-save it as UTF-8 or pass --encoding",
        path=path,
    )


def guess_encoding_from_head(head: bytes, hint: str | None) -> str:
    """A cheap encoding guess from the first bytes only (for peeking at headers)."""
    bom = _encoding_from_bom(head)
    if bom:
        return bom
    if hint:
        return hint
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        undefined = any(b in head for b in _CP1252_UNDEFINED)
        return "latin-1" if undefined else "cp1252"
    return "utf-8"


def decode_sample(path: str, head: bytes, encoding: str, *, complete: bool) -> str:
    """Decode the first bytes of a file; a byte-order mark is dropped.

    Raises InputError for an unknown encoding, or when the bytes do not decode.
    """
    decoder = _incremental_decoder(path, encoding)
    try:
        text = decoder.decode(head, final=complete)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc.start, exc, why=None) from None
    return text.removeprefix("\ufeff")


def parse_sample(text: str, delimiter: str, *, complete: bool) -> list[list[str]]:
    """Records of a sample, quote-aware; the last one is dropped if the sample was cut."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"', strict=False
    )
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
            if len(records) > SAMPLE_RECORDS + MAX_TITLE_ROWS:
                return records
    except csv.Error:
        # NUL or similar junk, or a cell over the csv module's 128 KB field limit
        # (a long note in the first data row): the record that failed was not
        # kept, and those before it are complete, so none is dropped.
        return records
    if not complete and records:
        records.pop()
    return records


def is_blank(record: Sequence[str]) -> bool:
    """True when every cell is empty or whitespace."""
    return not any(cell.strip() for cell in record)


def sniff_delimiter(text: str, *, complete: bool) -> str:
    """The delimiter among , ; tab | giving the most consistent field count above one.

    Ties prefer more columns, then the order above; a file where no candidate
    gives more than one column is read as a single column with ``,``.
    """
    best: tuple[float, int] | None = None
    chosen = ","
    for delimiter in DELIMITERS:
        counts = [
            len(r)
            for r in parse_sample(text, delimiter, complete=complete)[:SAMPLE_RECORDS]
            if not is_blank(r)
        ]
        if not counts:
            continue
        frequencies = Counter(counts)
        mode = max(frequencies, key=lambda n: (frequencies[n], n))
        if mode < 2:
            continue
        score = (frequencies[mode] / len(counts), mode)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def locate_header(records: Sequence[Sequence[str]]) -> int | None:
    """Index of the header among the first records, or None when all are blank.

    The header is the first non-blank record, except that up to MAX_TITLE_ROWS
    leading records holding a single non-empty cell (report titles such as
    "Leads by Source", or "Generated 3/15/2024") are skipped when a later record
    has two or more non-empty cells.
    """
    filled = [sum(1 for cell in r if cell.strip()) for r in records]
    titles = 0
    for index, count in enumerate(filled):
        if count == 0:
            continue
        if count == 1 and titles < MAX_TITLE_ROWS and any(n >= 2 for n in filled[index + 1 :]):
            titles += 1
            continue
        return index
    return None
