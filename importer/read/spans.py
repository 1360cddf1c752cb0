"""A CSV cut into byte ranges of whole records, for a run spread over several tasks.

``cut`` reads the file once, as ``Table.pieces`` does (records cut and their
quoting checked, cells not parsed), and gathers consecutive blocks into about
``parts`` spans of equal size. A task then opens the same file and reads its
span alone (``Table.only``), its rows keeping their spreadsheet numbers.

A file that cannot be cut into records without the full parser (a workbook,
UTF-16 text, quoting the standard does not allow) has no spans: it is read
through, so that what would stop reading stops here, and is run as one piece.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from importer.read.options import ReadOptions
from importer.read.records import BLOCK_BYTES, RecordBlock, Span
from importer.read.table import TableInfo, open_table

__all__ = ["Cut", "cut", "shrinking"]


@dataclass(frozen=True)
class Cut:
    """The file as read (``info.rows``: records, before any are dropped) and its spans;
    ``spans`` is None when the file cannot be cut (it is then one piece)."""

    info: TableInfo
    spans: list[Span] | None


def cut(path: str | os.PathLike[str], options: ReadOptions = ReadOptions(), *, parts: int) -> Cut:
    """Cut the data records of ``path`` into about ``parts`` spans of equal size.

    Raises InputError as ``read_through`` does (a quote never closed, a file
    that cannot be read); nothing is parsed but what the parser must read.
    """
    with open_table(path, options, lazy=True) as table:
        share = max(1, -(-table.info.size // max(1, parts)))
        # blocks of a quarter share, gathered until a span holds about its share
        block = min(BLOCK_BYTES, max(4096, share // 4))
        spans: list[Span] = []
        whole = True
        for piece in table.pieces(block):
            if not isinstance(piece, RecordBlock):
                whole = False  # read on to the end all the same: see read_through
                continue
            last = spans[-1] if spans else None
            if last is not None and last.stop - last.start < share - block // 2:
                spans[-1] = Span(
                    last.start, piece.next_offset, last.first_row, last.records + len(piece)
                )
            else:
                spans.append(Span(piece.offset, piece.next_offset, piece.first_row, len(piece)))
        return Cut(table.info, _tail_joined(spans, share) if whole else None)


def _tail_joined(spans: list[Span], share: int) -> list[Span]:
    """The spans, a last one of less than half a share (the file's last few records)
    joined to the one before: a task of its own would cost more than it sends."""
    if len(spans) < 2 or spans[-1].stop - spans[-1].start >= share // 2:
        return spans
    before, tail = spans[-2], spans[-1]
    joined = Span(before.start, tail.stop, before.first_row, before.records + tail.records)
    return [*spans[:-2], joined]


def shrinking(spans: list[Span], at_once: int) -> list[Span]:
    """Adjacent spans gathered into pieces that shrink along the file, for ``at_once``
    tasks running at once: each piece takes about ``1 / (2 * at_once)`` of the spans left
    (at least one). The first pieces, which start together, are the longest; those that
    start as others end are ever shorter, so the last ones end close together instead of
    one of them running on alone (on a busy worker, say)."""
    pieces: list[Span] = []
    left = list(spans)
    while left:
        take = max(1, -(-len(left) // (2 * max(1, at_once))))
        gathered, left = left[:take], left[take:]
        first, last = gathered[0], gathered[-1]
        records = sum(s.records for s in gathered)
        pieces.append(Span(first.start, last.stop, first.first_row, records))
    return pieces
