"""Raw records: cut where the parser cuts, or refused; blocks parse to what chunks read."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.errors import ConfigError, InputError
from importer.read import ragged as read_ragged
from importer.read.options import ReadOptions
from importer.read.records import (
    RecordBlock,
    Unsplittable,
    artefact_records,
    field_counts,
    record_blocks,
    record_ends,
)
from importer.read.table import open_table


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def via_chunks(path: Path) -> tuple[pd.DataFrame, int, int]:
    with open_table(path, ReadOptions(chunk_rows=7)) as table:
        frames = list(table.chunks())
        return _concat(frames, table.info.columns), table.info.rows, table.info.dropped_rows


def verdicts(frames: list[pd.DataFrame]) -> dict[int, str]:
    """The ragged rows of the frames read (row -> message)."""
    return {row: p.message for f in frames for row, p in read_ragged.found(f).items()}


def ragged_via(
    path: Path, block_bytes: int, delimiter: str | None = None
) -> tuple[dict[int, str], dict[int, str]]:
    """The verdicts on ragged rows read through ``chunks``, and through ``pieces``."""
    options = ReadOptions(chunk_rows=7, delimiter=delimiter)
    with open_table(path, options) as table:
        plain = verdicts(list(table.chunks()))
    frames = []
    with open_table(path, options, lazy=True) as table:
        for piece in table.pieces(block_bytes=block_bytes):
            if isinstance(piece, RecordBlock):
                half = list(range(0, len(piece), 2))
                frames += [
                    table.parse(piece, half),
                    table.parse(piece, list(range(1, len(piece), 2))),
                ]
                frames.append(table.parse(piece))
            else:
                frames.append(piece)
    return plain, verdicts(frames)


def via_pieces(path: Path, block_bytes: int = 64) -> tuple[pd.DataFrame, int, int, int]:
    """Every row through ``pieces``; also how many came as raw blocks."""
    frames = []
    blocks = 0
    with open_table(path, ReadOptions(chunk_rows=7), lazy=True) as table:
        for piece in table.pieces(block_bytes=block_bytes):
            if isinstance(piece, RecordBlock):
                blocks += 1
                # half the rows one call, the rest another: selections must parse alike
                half = list(range(0, len(piece), 2))
                rest = list(range(1, len(piece), 2))
                frames += [table.parse(piece, half), table.parse(piece, rest)]
            else:
                frames.append(piece)
        frame = _concat(frames, table.info.columns).sort_index()
        return frame, table.info.rows, table.info.dropped_rows, blocks


def _concat(frames: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=columns, dtype=object)
    return pd.concat(frames).astype(object)


def assert_same_rows(path: Path, block_bytes: int = 64) -> int:
    expected, rows, dropped = via_chunks(path)
    got, got_rows, got_dropped, blocks = via_pieces(path, block_bytes)
    plain, fast = ragged_via(path, block_bytes)
    assert fast == plain
    assert got.index.tolist() == expected.index.tolist()
    assert got.to_numpy().tolist() == expected.to_numpy().tolist()
    assert (got_rows, got_dropped) == (rows, dropped)
    return blocks


CELL = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00\r"),
    max_size=8,
) | st.sampled_from(['"', '""', "a\nb", "a\r\nb", ",", " x ", "=1+2", "'007", ""])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(st.lists(CELL, min_size=3, max_size=3), max_size=25),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    terminator=st.sampled_from(["\n", "\r\n"]),
    trailing=st.booleans(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    block_bytes=st.integers(16, 400),
)
def test_standard_csv_splits_exactly_where_the_parser_does(
    tmp_path: Path,
    rows: list[list[str]],
    quoting: int,
    terminator: str,
    trailing: bool,
    delimiter: str,
    block_bytes: int,
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=quoting, lineterminator=terminator, delimiter=delimiter)
    writer.writerow(["First", "Notes", "Zip"])
    writer.writerows(rows)
    text = buffer.getvalue()
    if not trailing and rows:
        text = text.removesuffix(terminator)
    path = write(tmp_path, "t.csv", text)
    assert_same_rows(path, block_bytes)


def test_blank_lines_title_rows_and_footers_match_chunks(tmp_path: Path) -> None:
    text = (
        'Leads export,,\n"generated ""today""",,\n\nName,Email,Note\n'
        'Ana,a@x.com,"two\nlines"\n\n,,\nBo,b@x.com,plain\n"Grand Totals (2 records)",,\n'
    )
    path = write(tmp_path, "r.csv", text)
    assert assert_same_rows(path, block_bytes=20) > 0
    frame = via_pieces(path)[0]
    assert frame.index.tolist() == [5, 8, 9]  # rows 6 and 7 are blank; their numbers stay used


@pytest.mark.parametrize(
    "body",
    [
        'Ana,5\'10" tall,x\nBo,"ok",y\n',  # a quote inside an unquoted cell
        'Ana,"closed"then more,x\nBo,b,y\n',  # text after a closing quote
        "Ana,a,x\rBo,b,y\r",  # old Mac line ends
        'Ana,a,x\nBo,b,"never closed\n',  # a quote never closed
    ],
)
def test_other_quoting_is_refused_and_read_the_ordinary_way(tmp_path: Path, body: str) -> None:
    path = write(tmp_path, "o.csv", "Name,Note,Tag\n" + body)
    with pytest.raises(Unsplittable):
        list(record_blocks(str(path), encoding="utf-8", delimiter=",", skip_records=1))
    try:
        expected = via_chunks(path)
    except InputError as exc:  # the ordinary reader's own error, from pieces too
        with pytest.raises(InputError) as again:
            via_pieces(path)
        assert str(again.value) == str(exc)
        return
    got = via_pieces(path)
    assert got[0].to_numpy().tolist() == expected[0].to_numpy().tolist()
    assert got[3] == 0  # no raw blocks: the first block was refused


def test_a_late_stray_quote_switches_to_the_parser_for_the_rest(tmp_path: Path) -> None:
    good = "".join(f'n{i},plain {i},"q, {i}"\n' for i in range(200))
    path = write(tmp_path, "late.csv", "Name,Note,Tag\n" + good + "odd,5'10\",x\n" + good)
    blocks = assert_same_rows(path, block_bytes=1024)
    assert blocks >= 2  # the start came as raw blocks, the rest was parsed


def test_a_cell_starting_with_a_bom_keeps_it_where_a_block_starts(tmp_path: Path) -> None:
    # pandas drops a UTF-8 BOM at the start of what it reads: a block (or the
    # rest of a file read from part-way) may start with a cell that holds one
    rows = "".join(f"\ufeffn{i},{'' if i % 3 else chr(0xFEFF)},{i}\n" for i in range(60))
    assert_same_rows(write(tmp_path, "bom.csv", "A,B,C\n" + rows), block_bytes=16)
    good = "".join(f'\ufeffn{i},plain {i},"q, {i}"\n' for i in range(200))
    # the rest of the file is read from the odd row on, and it starts with a BOM too
    late = write(tmp_path, "late.csv", "A,B,C\n" + good + "\ufeffodd,5'10\",x\n" + good)
    assert assert_same_rows(late, block_bytes=1024) >= 2  # raw blocks, then parsed from part-way


def test_a_small_file_ending_in_an_unclosed_quote_still_opens(tmp_path: Path) -> None:
    # the whole file is the sample: estimating the row size must not trip on the quote
    path = write(tmp_path, "short.csv", "Name,Note\nAna,5'10\"")
    table = open_table(path, ReadOptions())
    assert [f.to_dict("records") for f in table.chunks()] == [[{"Name": "Ana", "Note": "5'10\""}]]


def test_latin1_and_utf16(tmp_path: Path) -> None:
    latin = write(tmp_path, "l.csv", "Name,City\nJos\xe9,M\xfcnchen\n".encode("cp1252"))
    assert assert_same_rows(latin) == 1
    utf16 = write(tmp_path, "u.csv", "\ufeffName\tCity\nZoë\tKona\n".encode("utf-16-le"))
    assert assert_same_rows(utf16) == 0  # "\n" is two bytes there: parsed the ordinary way


def test_block_records_drop_line_ends_and_select_adds_them(tmp_path: Path) -> None:
    path = write(tmp_path, "e.csv", 'A,B\r\n1,"x\r\ny"\r\n2,z')
    blocks = list(record_blocks(str(path), encoding="utf-8", delimiter=",", skip_records=1))
    assert [r for b in blocks for r in b.records()] == [b'1,"x\r\ny"', b"2,z"]
    assert [r for b in blocks for r in b.rows.tolist()] == [2, 3]
    assert blocks[0].offset == 5 and blocks[-1].next_offset == path.stat().st_size
    both = RecordBlock(b'1,"x\r\ny"\r\n2,z', record_ends(b'1,"x\r\ny"\r\n2,z'), 2, 5)
    assert both.ends.tolist() == [10, 13]
    assert both.select([1, 0]) == b'2,z\n1,"x\r\ny"\r\n'


def test_a_ragged_row_in_a_block_is_judged_by_its_row(tmp_path: Path) -> None:
    path = write(tmp_path, "g.csv", 'A,B\n1,"multi\nline"\n2,x\n3,y,extra\n4\n')
    frame = via_pieces(path, block_bytes=1 << 20)[0]
    plain, fast = ragged_via(path, 1 << 20)
    # row 4 of the sheet (its 5th line: row 2 holds a line break)
    assert sorted(fast) == [4, 5] and fast == plain
    assert "the row has 3 fields but the header row has 2: '3,y,extra'" in fast[4]
    assert frame.loc[4].tolist() == ["3", "y,extra"] and frame.loc[5].tolist() == ["4", ""]


ROW = st.lists(CELL, min_size=1, max_size=5)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(ROW, max_size=25),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
    delimiter=st.sampled_from([",", ";", "\t"]),
    block_bytes=st.integers(16, 400),
)
def test_ragged_rows_are_the_same_from_blocks_and_chunks(
    tmp_path: Path, rows: list[list[str]], quoting: int, delimiter: str, block_bytes: int
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=quoting, lineterminator="\n", delimiter=delimiter)
    writer.writerow(["First", "Notes", "Zip"])
    writer.writerows(rows)
    path = write(tmp_path, "t.csv", buffer.getvalue())
    # (the delimiter is given: rows of one cell each would not show it to the sniffer)
    plain, fast = ragged_via(path, block_bytes, delimiter)
    assert fast == plain
    # a row missing a named cell, or with a value past the last column
    expected = [
        n + 2 for n, cells in enumerate(rows) if (len(cells) < 3 and any(cells)) or any(cells[3:])
    ]
    assert sorted(fast) == expected


def test_field_counts_are_those_of_the_csv_module() -> None:
    text = 'a,"b,c",d\n"x\ny",\n\n"",",",""""\r\nlast'
    data = text.encode()
    counts = field_counts(data, record_ends(data), ",")
    assert counts.tolist() == [3, 2, 1, 3, 1]
    assert [max(1, len(r)) for r in csv.reader(io.StringIO(text, newline=""))] == counts.tolist()


def test_a_non_ascii_delimiter_is_refused_up_front(tmp_path: Path) -> None:
    # "§" is two bytes in UTF-8: neither the byte scan nor pandas' parser can split on it
    path = write(tmp_path, "s.csv", "Name§Note\nAna§a,b\n")
    with pytest.raises(Unsplittable):
        list(record_blocks(str(path), encoding="utf-8", delimiter="§", skip_records=1))
    with pytest.raises(ConfigError, match="plain ASCII"):
        open_table(path, ReadOptions(delimiter="§"))


@given(st.lists(st.sampled_from(["a", "'+1", '="0"', '"=x"', "b'c", "", '"q,\n"']), max_size=30))
def test_artefact_records_with_known_ends_finds_the_same_records(cells: list[str]) -> None:
    data = "".join(",".join(cells[i : i + 3]) + "\n" for i in range(0, len(cells), 3)).encode()
    ends = record_ends(data)
    found = artefact_records(data, ",", ends)
    assert found.tolist() == artefact_records(data, ",").tolist()
    # every record found holds a ' or = (a superset of those starting a cell with one)
    starts = [0, *ends[:-1].tolist()]
    assert all(
        b"'" in data[starts[i] : ends[i]] or b"=" in data[starts[i] : ends[i]] for i in found
    )
