"""A CSV cut into byte ranges: read span by span, it is the same rows as read whole."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd

from importer.read.spans import cut, shrinking
from importer.read.table import open_table


def _write_export(path: Path, rows: int) -> None:
    lines = ["Name,Email,Notes"]
    for n in range(rows):
        note = f'"line one\nline ""two"" of {n}"' if n % 7 == 0 else f"note {n}"
        lines.append(f"Person {n},p{n}@example.com,{note}")
        if n % 50 == 0:
            lines.append(",,")  # a blank row: dropped, not a row
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")


def _rows_of(path: Path, span: object = None) -> pd.DataFrame:
    with open_table(path, lazy=True) as table:
        if span is not None:
            table.only(span)  # type: ignore[arg-type]
        frames = [table.parse(block) for block in table.pieces(4096)]
    return pd.concat(frames)


def test_spans_read_one_after_another_are_the_whole_file(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    _write_export(export, 3000)
    found = cut(export, parts=5)
    assert found.spans is not None and 4 <= len(found.spans) <= 6
    assert sum(s.records for s in found.spans) == found.info.rows
    for before, after in zip(found.spans, found.spans[1:], strict=False):
        assert after.start == before.stop
        assert after.first_row == before.first_row + before.records
    pieces = pd.concat([_rows_of(export, span) for span in found.spans])
    whole = _rows_of(export)
    assert len(whole) == 3000
    pd.testing.assert_frame_equal(pieces, whole)


def test_a_file_the_parser_must_read_whole_is_one_piece(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    # a quote inside an unquoted cell: only the parser can tell where rows end
    export.write_text('Name,Email\nA 5" screen,a@example.com\nB,b@example.com\n', encoding="utf-8")
    found = cut(export, parts=3)
    assert found.spans is None
    assert found.info.rows == 2


def test_spans_are_about_equal(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    _write_export(export, 20_000)
    found = cut(export, parts=8)
    assert found.spans is not None and len(found.spans) == 8
    sizes = [s.stop - s.start for s in found.spans]
    assert max(sizes) < 1.3 * min(sizes)


def test_the_last_few_records_join_the_span_before(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    _write_export(export, 4000)
    found = cut(export, parts=4)
    assert found.spans is not None
    sizes = [s.stop - s.start for s in found.spans]
    assert len(sizes) == 4 and min(sizes) > 0.5 * max(sizes)
    assert found.spans[-1].stop == export.stat().st_size


def test_pieces_shrink_along_the_file_and_cover_it_in_order(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    _write_export(export, 3000)
    found = cut(export, parts=16)
    assert found.spans is not None and len(found.spans) >= 12
    pieces = shrinking(found.spans, 4)
    # each piece is whole spans one after another: together the same records, in order
    assert (pieces[0].start, pieces[-1].stop) == (found.spans[0].start, found.spans[-1].stop)
    for before, after in itertools.pairwise(pieces):
        assert after.start == before.stop
        assert after.first_row == before.first_row + before.records
    assert sum(p.records for p in pieces) == found.info.rows
    # the four that start together are the longest; the last ones are single spans
    sizes = [p.stop - p.start for p in pieces]
    assert len(found.spans) > len(pieces) > 4
    assert min(sizes[:4]) > max(sizes[-4:])
    assert pieces[-4:] == found.spans[-4:]
    assert shrinking(found.spans[:2], 4) == found.spans[:2]  # too few spans to gather
