"""Checks on an .xlsx package before a workbook library trusts it.

An .xlsx is a zip of XML parts. Its compressed size says little about the work
inside: a 3 MB file can hold 1 GB of sheet XML (a zip bomb), which a reader
that keeps the sheet in memory turns into gigabytes. So, from the zip's
directory alone (nothing is unpacked):

* the parts may unpack to at most ``max_unpacked_bytes`` in all;
* a big part may not be packed more than ``MAX_RATIO`` times tighter than real
  sheets ever are (openpyxl and Excel write 8-15x; a bomb needs hundreds);
* how much XML the chosen sheet has decides whether it is read in memory
  (python-calamine) or streamed (openpyxl).

A zip's directory can understate a part's size; the part read in memory is
therefore unpacked once first (bounded by the stream threshold), which fails on
a part longer than it says. The same pass looks for formula cells whose result
was never saved (a workbook written by a program, not by Excel): a reader
gets nothing for them, so they are named in a warning.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, BinaryIO
from xml.etree import ElementTree

from importer.errors import InputError

# A part bigger than this is held to MAX_RATIO (tiny parts compress however they like).
RATIO_CHECKED_ABOVE = 8 << 20
MAX_RATIO = 100
# The package parts read to find the sheets are small; a big one is no workbook.
_MAX_INDEX_PART = 16 << 20
_SHOWN = 5  # formula cells named in the warning

_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG = "{http://schemas.openxmlformats.org/package/2006/relationships}"

_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_CELL_REF = re.compile(rb'\br="([A-Z]+[0-9]+)"')
_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]")


@dataclass
class Package:
    """What the zip directory says: unpacked sizes and each sheet's part."""

    unpacked: int  # bytes of all parts unpacked
    sheet_parts: dict[str, str] = field(default_factory=dict)  # sheet name -> part name
    sizes: dict[str, int] = field(default_factory=dict)  # part name -> unpacked bytes

    def sheet_bytes(self, sheet: str) -> int:
        """Unpacked XML a reader goes through for ``sheet``: its part and the shared strings."""
        part = self.sheet_parts.get(sheet, "")
        return self.sizes.get(part, 0) + self.sizes.get("xl/sharedStrings.xml", 0)


def _mb(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MB"


def inspect_package(handle: BinaryIO, path: str, *, max_unpacked_bytes: int) -> Package:
    """Check the package's sizes from its zip directory; raises InputError for a bomb.

    ``handle`` is left at offset 0.
    """
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError):
        raise InputError(
            "cannot be read as an .xlsx workbook (not a readable zip); open it in Excel and save it as .xlsx or .csv (UTF-8)",
            path=path,
        ) from None
    try:
        infos = archive.infolist()
        total = sum(i.file_size for i in infos)
        if total > max_unpacked_bytes:
            raise InputError(
                f"unpacks to {_mb(total)}, over the limit of {_mb(max_unpacked_bytes)} "
                "(a zip bomb, or a far bigger workbook than an export); if it is genuine, "
                "raise the limit with RG_MAX_UNPACKED_MB or save it as CSV",
                path=path,
            )
        for info in infos:
            ratio = info.file_size / max(1, info.compress_size)
            if info.file_size > RATIO_CHECKED_ABOVE and ratio > MAX_RATIO:
                raise InputError(
                    f"part {info.filename} unpacks to {_mb(info.file_size)}, {ratio:,.0f} times its "
                    f"packed size (real sheets are at most about {MAX_RATIO // 5}x): a zip bomb? "
                    "Open it in Excel and save it as CSV if it is genuine",
                    path=path,
                )
        package = Package(total, sizes={i.filename: i.file_size for i in infos})
        package.sheet_parts = _sheet_parts(archive, package.sizes)
        return package
    finally:
        archive.close()
        handle.seek(0)


def _read_small(archive: zipfile.ZipFile, name: str, sizes: dict[str, int]) -> bytes | None:
    if name not in sizes or sizes[name] > _MAX_INDEX_PART:
        return None
    return archive.read(name)


def _sheet_parts(archive: zipfile.ZipFile, sizes: dict[str, int]) -> dict[str, str]:
    """Sheet name -> part name, from xl/workbook.xml and its relationships ({} if unclear)."""
    try:
        workbook = _read_small(archive, "xl/workbook.xml", sizes)
        rels = _read_small(archive, "xl/_rels/workbook.xml.rels", sizes)
        if workbook is None or rels is None:
            return {}
        targets = {
            r.get("Id"): r.get("Target", "")
            for r in ElementTree.fromstring(rels).iter(f"{_NS_PKG}Relationship")
        }
        parts: dict[str, str] = {}
        for sheet in ElementTree.fromstring(workbook).iter(f"{_NS_MAIN}sheet"):
            target = targets.get(sheet.get(f"{_NS_REL}id"))
            if sheet.get("name") is None or not target:
                continue
            part = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join("xl", target))
            )
            parts[str(sheet.get("name"))] = part
        return parts
    except (ElementTree.ParseError, zipfile.BadZipFile, KeyError, OSError, ValueError):
        return {}  # the workbook library reports a damaged package in its own words


@dataclass
class FormulaScan:
    """Formula cells without a saved result: how many, and the first few references."""

    count: int = 0
    cells: list[str] = field(default_factory=list)


def scan_sheet(handle: BinaryIO, path: str, part: str, *, limit: int) -> FormulaScan:
    """Unpack ``part`` once: at most ``limit`` bytes, and no more than the zip says it holds.

    Returns the formula cells found without a saved value. Raises InputError
    when the part is longer than ``limit`` or damaged (a CRC that does not match
    is how zipfile finds a part longer than its directory entry says).
    ``handle`` is left at offset 0.
    """
    scan = FormulaScan()
    try:
        with zipfile.ZipFile(handle) as archive, archive.open(part) as stream:
            seen = 0
            for text in _cells_text(stream):
                seen += len(text)
                if seen > limit:
                    raise InputError(
                        f"sheet part {part} holds more than {_mb(limit)} of XML; a zip bomb?",
                        path=path,
                    )
                _count_formulas(text, scan)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError):
        raise InputError(
            f"cannot be read as an .xlsx workbook (part {part} is damaged); open it in Excel and save it as .xlsx or .csv (UTF-8)",
            path=path,
        ) from None
    finally:
        handle.seek(0)
    return scan


def _cells_text(stream: IO[bytes], block: int = 1 << 20) -> Iterator[bytes]:
    """The XML in pieces that end after a complete cell (a cell never spans two pieces)."""
    carry = b""
    while data := stream.read(block):
        text = carry + data
        cut = text.rfind(b"</c>")
        if cut == -1 and len(text) < 4 * block:
            carry = text
            continue
        cut = len(text) if cut == -1 else cut + 4
        carry = text[cut:]
        yield text[:cut]
    if carry:
        yield carry


def _count_formulas(text: bytes, scan: FormulaScan) -> None:
    if not _FORMULA.search(text):
        return  # the common case: no formula at all in this piece
    position = 0
    while match := _FORMULA.search(text, position):
        start = max(text.rfind(b"<c ", 0, match.start()), text.rfind(b"<c>", 0, match.start()))
        end = text.find(b"</c>", match.end())
        end = len(text) if end == -1 else end
        cell = text[max(start, 0) : end]
        if not _VALUE.search(cell):
            scan.count += 1
            if len(scan.cells) < _SHOWN and (ref := _CELL_REF.search(cell)):
                scan.cells.append(ref.group(1).decode("ascii"))
        position = end


def formula_warning(sheet: str, scan: FormulaScan) -> str | None:
    """The warning for formula cells read as empty, naming the first few (None: there are none)."""
    if not scan.count:
        return None
    named = ", ".join(scan.cells) + (", …" if scan.count > len(scan.cells) else "")
    many = scan.count > 1
    return (
        f"sheet {sheet!r}: {scan.count} formula cell{'s have' if many else ' has'} no saved result "
        f"and read as empty ({named}); open the workbook in Excel and save it again to keep "
        f"{'their values' if many else 'its value'}"
    )
