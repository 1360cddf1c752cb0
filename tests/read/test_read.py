"""The reading stage: encodings, delimiters, headers, Excel artefacts, XLSX, file errors."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.errors import ConfigError, InputError
from importer.read import files as read_files
from importer.read import ragged as read_ragged
from importer.read import sniff as read_detect
from importer.read.headers import REJECT_COLUMNS, normalize_header, plan_columns, unwrap_excel
from importer.read.options import ReadOptions
from importer.read.table import Table, open_table, peek_headers

SF_FOOTER = (
    r"Grand Totals \(\d+ records\)",
    r"Confidential Information - Do Not Distribute",
    r"Copyright \(c\).*",
)


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def read_all(path: Path, **options: object) -> tuple[Table, pd.DataFrame]:
    table = open_table(path, ReadOptions(**options))  # type: ignore[arg-type]
    frames = list(table.chunks())
    frame = pd.concat(frames) if frames else pd.DataFrame(columns=table.info.columns)
    return table, frame


def neutralise(value: str) -> str:
    """What a reject writer does to a cell so spreadsheets do not run it as a formula.

    The brief's rule is "prefix ' when the value starts with = + - @ tab CR". A
    value that already starts with ' (or several) and then one of those needs the
    prefix too, or reading it back would take its own ' off
    (see test_neutralise_needs_the_quote_rule).
    """
    triggers = ("=", "+", "-", "@", "\t", "\r")
    return "'" + value if value.lstrip("'").startswith(triggers) else value


# --- encodings ---------------------------------------------------------------------------


def test_utf8_is_detected_and_decoded(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "First Name,Last Name\nJosé,Müller\n")
    table, frame = read_all(path)
    assert table.info.encoding == "utf-8"
    assert list(frame.loc[2]) == ["José", "Müller"]


def test_utf8_bom_is_not_glued_to_the_first_header(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.csv", b'\xef\xbb\xbf"First Name",Email\nAna,ana@example.com\n')
    table, frame = read_all(path)
    assert table.info.encoding == "utf-8-sig"
    assert table.info.headers == ["First Name", "Email"]
    assert table.column("first name") == "First Name"
    assert frame["First Name"].tolist() == ["Ana"]


def test_utf16_le_unicode_text_from_excel(tmp_path: Path) -> None:
    text = "First Name\tLast Name\tZip\r\nJosé\tMüller\t02134\r\nZoë\t王\t00501\r\n"
    path = write(tmp_path, "unicode.txt", codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    table, frame = read_all(path)
    assert (table.info.encoding, table.info.delimiter) == ("utf-16", "\t")
    assert frame.to_dict("list") == {
        "First Name": ["José", "Zoë"],
        "Last Name": ["Müller", "王"],
        "Zip": ["02134", "00501"],
    }
    assert frame.index.tolist() == [2, 3]


def test_utf16_without_bom_is_recognised(tmp_path: Path) -> None:
    path = write(tmp_path, "nobom.txt", "Name\tCity\nAna\tHilo\n".encode("utf-16-le"))
    table, frame = read_all(path)
    assert table.info.encoding == "utf-16-le"
    assert list(frame.loc[2]) == ["Ana", "Hilo"]


def test_cp1252_names_and_smart_quotes(tmp_path: Path) -> None:
    text = "Name,Notes\nJosé Müller,“VIP” – wants €500k\n"
    path = write(tmp_path, "outlook.csv", text, encoding="cp1252")
    table, frame = read_all(path)
    assert table.info.encoding == "cp1252"
    assert list(frame.loc[2]) == ["José Müller", "“VIP” – wants €500k"]


def test_byte_undefined_in_cp1252_falls_back_to_latin1(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.csv", b"Name,Code\nJos\xe9,\x81x\n")
    table, frame = read_all(path)
    assert table.info.encoding == "latin-1"
    assert list(frame.loc[2]) == ["José", "\x81x"]


def test_whole_file_is_validated_in_blocks(tmp_path: Path) -> None:
    # A two-byte character split by the 1 MiB block boundary is still UTF-8...
    filler = "Name,Note\n" + "a,b\n" * 1000
    pad = (1 << 20) - 2 - len(filler)
    text = filler + "x" * pad + ",é\n"
    assert text.encode().index("é".encode()) == (1 << 20) - 1
    table, frame = read_all(write(tmp_path, "big.csv", text))
    assert table.info.encoding == "utf-8"
    assert list(frame.iloc[-1]) == ["x" * pad, "é"]
    # ...and a cp1252 byte far past the sample still makes the file cp1252.
    table, frame = read_all(
        write(tmp_path, "late.csv", text.replace("é", "e").encode() + b"Jos\xe9,M\xfcller\n")
    )
    assert table.info.encoding == "cp1252"
    assert list(frame.iloc[-1]) == ["José", "Müller"]


def test_utf8_continuation_bytes_count_when_falling_back(tmp_path: Path) -> None:
    # "Á" is C3 81 in UTF-8; 0x81 is undefined in cp1252, so a file that turns
    # out not to be UTF-8 must be read as latin-1, which can decode every byte.
    content = "Name\nÁlvaro\n".encode() + b"x" * (1 << 20) + b"\nJos\xe9\n"
    table, frame = read_all(write(tmp_path, "mixed.csv", content))
    assert table.info.encoding == "latin-1"
    assert frame["Name"].iloc[-1] == "José"


def test_broken_utf16_names_how_the_encoding_was_chosen(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "odd.txt",
        codecs.BOM_UTF16_LE + "Name\tCity\r\n".encode("utf-16-le") + b"\x00\xd8",
    )
    message = error_for(path)
    assert "byte-order mark (utf-16)" in message and "does not decode" in message


def test_explicit_encoding_is_used_as_given(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "Name\nJosé\n", encoding="cp1252")
    table, frame = read_all(path, encoding="latin-1")
    assert table.info.encoding == "latin-1"
    assert frame["Name"].tolist() == ["José"]


def test_explicit_encoding_that_does_not_fit(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "Name\nJosé\n", encoding="cp1252")
    with pytest.raises(InputError) as err:
        open_table(path, ReadOptions(encoding="utf-8"))
    message = str(err.value)
    assert str(path) in message and "utf-8" in message and "--encoding" in message


def test_unknown_encoding_name(tmp_path: Path) -> None:
    path = write(tmp_path, "a.csv", "Name\nAna\n")
    with pytest.raises(InputError, match="unknown encoding 'klingon'") as err:
        open_table(path, ReadOptions(encoding="klingon"))
    assert str(path) in str(err.value)


# --- delimiters --------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    rows = [
        ["First Name", "Notes", "Zip"],
        ["Ana", "likes a, b; c | d", "02134"],
        ["Bo", "", "00501"],
    ]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL).writerows(rows)
    table, frame = read_all(write(tmp_path, "d.csv", buffer.getvalue()))
    assert table.info.delimiter == delimiter
    assert frame.values.tolist() == rows[1:]


@settings(max_examples=40, deadline=None)
@given(
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    width=st.integers(2, 6),
    cells=st.lists(st.text(st.sampled_from("ab 0'\"\n="), max_size=6), min_size=6, max_size=60),
)
def test_sniffing_finds_the_delimiter_used(delimiter: str, width: int, cells: list[str]) -> None:
    rows = [cells[i : i + width] for i in range(0, len(cells) - width + 1, width)]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows([[f"H{i}" for i in range(width)], *rows])
    assert read_detect.sniff_delimiter(buffer.getvalue(), complete=True) == delimiter


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "brevo.csv",
        "EMAIL;PRICE;DATE\na@x.com;1,5;15-03-2024 10:00\nb@x.com;2,75;16-03-2024 11:00\n",
    )
    table, frame = read_all(path)
    assert table.info.delimiter == ";"
    assert frame["PRICE"].tolist() == ["1,5", "2,75"]


def test_delimiter_override(tmp_path: Path) -> None:
    path = write(tmp_path, "o.csv", "a;b,c\n1;2,3\n")
    assert read_all(path)[0].info.delimiter == ","
    table, frame = read_all(path, delimiter=";")
    assert table.info.headers == ["a", "b,c"]
    assert list(frame.loc[2]) == ["1", "2,3"]
    assert read_all(path, delimiter="\\t")[0].info.headers == ["a;b,c"]


def test_single_column_file(tmp_path: Path) -> None:
    table, frame = read_all(write(tmp_path, "one.csv", "Email\na@x.com\nb@x.com\n"))
    assert (table.info.delimiter, table.info.columns) == (",", ["Email"])
    assert frame["Email"].tolist() == ["a@x.com", "b@x.com"]


def test_bad_delimiter_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one character"):
        open_table(write(tmp_path, "a.csv", "a,b\n"), ReadOptions(delimiter=";;"))


# --- values ------------------------------------------------------------------------------


def test_every_cell_is_text_and_leading_zeros_are_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "z.csv",
        "ID,Zip,Phone,Amount,Flag,Missing\n007,02134,0014255550177,1.50,TRUE,NA\n008,00501\n",
    )
    _, frame = read_all(path)
    assert list(frame.loc[2]) == ["007", "02134", "0014255550177", "1.50", "TRUE", "NA"]
    assert list(frame.loc[3]) == ["008", "00501", "", "", "", ""]  # a short row is padded
    assert all(type(v) is str for v in frame.to_numpy().ravel())


def test_excel_artefacts_are_unwrapped(tmp_path: Path) -> None:
    path = write(
        tmp_path, "x.csv", 'Zip,Phone,Text,Formula\n"=""00123""",\'+39 0471,\'abc,"=""a""&""b"""\n'
    )
    _, frame = read_all(path)
    assert list(frame.loc[2]) == ["00123", "+39 0471", "'abc", '="a"&"b"']


def test_artefacts_are_found_anywhere_in_a_big_file(tmp_path: Path) -> None:
    rows = "".join(f"O'Brien {i},x=1\n" for i in range(60_000))
    path = write(tmp_path, "late.csv", "Name,Phone\n" + rows + "Ana,'+1 808 555 0101\n")
    assert read_detect.scan_file(str(tmp_path / "late.csv"), None).maybe_artefacts
    _, frame = read_all(path)
    assert frame["Phone"].iloc[-1] == "+1 808 555 0101"
    assert frame["Name"].iloc[0] == "O'Brien 0"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("Name,Note\nO'Brien,a=b\n", False),
        ("Name,Note\nAna,'+1\n", True),
        ('Name,Note\nAna,"=""007"""\n', True),
        ("Name;Note\r'x;y\r", True),
        ("=Name,Note\n", True),
    ],
)
def test_artefact_scan(tmp_path: Path, content: str, expected: bool) -> None:
    write(tmp_path, "s.csv", content)
    assert read_detect.scan_file(str(tmp_path / "s.csv"), None).maybe_artefacts is expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ('="00123"', "00123"),
        ('="say ""hi"""', 'say "hi"'),
        ('=""', ""),
        ("'+39 0471", "+39 0471"),
        ("'=SUM(A1)", "=SUM(A1)"),
        ("'-5", "-5"),
        ("'@home", "@home"),
        ("'\tx", "\tx"),
        ("'", "'"),
        ("O'Brien", "O'Brien"),
        ("'quoted'", "'quoted'"),
        ('="a"&"b"', '="a"&"b"'),
        ("=1+1", "=1+1"),
    ],
)
def test_unwrap_excel_cells(cell: str, expected: str) -> None:
    values = pd.Series([cell, "plain"], index=[5, 6], name="c", dtype=str)
    result = unwrap_excel(values)
    assert result.tolist() == [expected, "plain"]
    assert result.index.tolist() == [5, 6] and result.name == "c" and result.dtype == values.dtype


def test_unwrap_excel_returns_the_same_series_when_nothing_changes() -> None:
    values = pd.Series(["a", "O'Brien", "x=y", ""], dtype=str)
    assert unwrap_excel(values) is values


TRICKY_STARTS = st.sampled_from(
    ["'", "''", "=", '="', "+", "-", "@", "\t", "\r", "'=", "''+", "'=\""]
)


@given(
    st.text()
    | st.builds(str.__add__, TRICKY_STARTS, st.text())
    | st.builds(lambda s: f'="{s}"', st.text())
)
def test_unwrap_inverts_neutralise(value: str) -> None:
    assert unwrap_excel(pd.Series([neutralise(value)], dtype=str)).iloc[0] == value


def test_neutralise_needs_the_quote_rule() -> None:
    # With only the brief's rule, a value that starts with ' and a trigger
    # would lose its ' on the way back; the reject writer must prefix it too.
    value = "'+1 808"
    assert unwrap_excel(pd.Series([value], dtype=str)).iloc[0] == "+1 808"
    assert neutralise(value) == "''+1 808"
    assert unwrap_excel(pd.Series(["''+1 808"], dtype=str)).iloc[0] == value


# --- headers -----------------------------------------------------------------------------


def test_duplicate_and_blank_headers(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", " Email ,Email,, EMAIL,Phone\na,b,c,d,e\n")
    table, frame = read_all(path)
    assert table.info.headers == ["Email", "Email", "", "EMAIL", "Phone"]
    assert table.info.columns == ["Email", "Email (2)", "Column 3", "EMAIL (3)", "Phone"]
    assert list(frame.loc[2]) == ["a", "b", "c", "d", "e"]
    assert table.column("email") == "Email"
    assert table.column("Email (2)") == "Email (2)"
    assert table.column("column 3") == "Column 3"


def test_generated_names_do_not_take_a_real_header() -> None:
    _, columns, _, _ = plan_columns(["Email", "Email", "Email (2)"])
    assert columns == ["Email", "Email (3)", "Email (2)"]


@given(
    st.lists(
        st.sampled_from(["Email", "email", " Email", "Email (2)", "", "Phone", "_row", "Column 3"]),
        max_size=8,
    )
)
def test_column_names_are_unique_and_keep_unique_headers(raw: list[str]) -> None:
    headers, columns, ignored, kept = plan_columns(raw)
    keys = [normalize_header(c) for c in columns]
    assert len(keys) == len(set(keys))
    assert len(headers) == len(columns) == len(kept) == len(raw) - len(ignored)
    assert ignored == [h for h in raw if h == "_row"]
    for header, column in zip(headers, columns, strict=True):
        if header and [normalize_header(h) for h in headers].count(normalize_header(header)) == 1:
            assert column == header or normalize_header(column) != normalize_header(header)


def test_column_lookup_ignores_case_spacing_and_invisible_characters(tmp_path: Path) -> None:
    table, _ = read_all(write(tmp_path, "c.csv", "First  Name,E-mail Address,Phone\nA,b,c\n"))
    assert table.column("first name") == "First  Name"
    assert table.column("  FIRST\u00a0NAME ") == "First  Name"
    assert table.column("\ufeffe-mail\u200b address") == "E-mail Address"
    assert table.column("Email") is None


def test_normalize_header() -> None:
    assert normalize_header("\ufeff  E-mail\u200b\t Address ") == "e-mail address"
    assert normalize_header("STRASSE") == normalize_header("Straße")


def test_require_lists_every_missing_column(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", "First Name,Phone\nA,1\n")
    table = open_table(path)
    table.require(["first name", "PHONE"])
    with pytest.raises(InputError) as err:
        table.require(["First Name", "Email", "Last Name"])
    message = str(err.value)
    assert str(path) in message and "'Email'" in message and "'Last Name'" in message
    assert "'First Name'" in message.split("header row has")[1]  # what the file does have
    assert "\n" not in message


def test_reject_columns_are_ignored_so_a_reject_file_feeds_back(tmp_path: Path) -> None:
    original = [["Ana", "+1 808 555 0101", '="x"', "'=1+1"], ["Bo", "@bo", "-", "02134"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    headers = ["Name", "Phone", "Note", "-Code"]
    writer.writerow([*REJECT_COLUMNS, *map(neutralise, headers)])
    for number, row in enumerate(original, start=2):
        writer.writerow(
            [
                str(number),
                "validate",
                "bad_phone",
                "phone: too short",
                "",
                "",
                *map(neutralise, row),
            ]
        )
    table, frame = read_all(
        write(tmp_path, "rejects.csv", b"\xef\xbb\xbf" + buffer.getvalue().encode())
    )
    assert table.info.ignored == list(REJECT_COLUMNS)
    assert table.info.headers == table.info.columns == headers
    assert frame.values.tolist() == original


def test_report_title_rows_before_the_header_are_skipped(tmp_path: Path) -> None:
    text = 'Leads by Source,,,\n"Generated 3/15/2024",,,\n\nFirst Name,Last Name,Email,Phone\nAna,Lee,a@x.com,1\n'
    table, frame = read_all(write(tmp_path, "report.csv", text))
    assert table.info.header_row == 4
    assert table.info.headers == ["First Name", "Last Name", "Email", "Phone"]
    assert frame.index.tolist() == [5]


def test_blank_lines_before_the_header(tmp_path: Path) -> None:
    table, frame = read_all(write(tmp_path, "b.csv", "\n\nName,City\nAna,Hilo\n"))
    assert table.info.header_row == 3
    assert frame.index.tolist() == [4]


# --- rows --------------------------------------------------------------------------------


def test_embedded_newlines_keep_row_numbers_by_record(tmp_path: Path) -> None:
    text = 'Name,Address\nAna,"1 Main St\nApt 2\nHilo"\nBo,"2 Side St"\r\nCy,"a\r\nb"\r\n'
    _, frame = read_all(write(tmp_path, "n.csv", text))
    assert frame.index.tolist() == [2, 3, 4]
    assert frame.loc[2, "Address"] == "1 Main St\nApt 2\nHilo"
    assert frame.loc[4, "Address"] == "a\r\nb"


def test_header_with_a_newline_and_mixed_line_endings(tmp_path: Path) -> None:
    table, frame = read_all(
        write(tmp_path, "m.csv", '"First\nName",City\rAna,Hilo\r\nBo,Kona\nCy,Lihue\r')
    )
    assert table.info.headers == ["First\nName", "City"]
    assert table.column("first name") == "First\nName"
    assert frame.index.tolist() == [2, 3, 4]
    assert frame["City"].tolist() == ["Hilo", "Kona", "Lihue"]


def test_blank_rows_are_skipped_but_keep_their_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", "Name,City\nAna,Hilo\n\n,\nBo,Kona\n , \n")
    table, frame = read_all(path)
    assert frame.index.tolist() == [2, 5, 6]
    assert frame["Name"].tolist() == ["Ana", "Bo", " "]  # a cell holding a space is not empty
    assert (table.info.rows, table.info.dropped_rows) == (3, 2)
    table, frame = read_all(path, skip_blank_rows=False)
    assert frame.index.tolist() == [2, 3, 4, 5, 6]
    assert list(frame.loc[3]) == ["", ""]


def test_chunks_have_at_most_chunk_rows_and_continuous_row_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "N\n" + "".join(f"{i}\n" for i in range(10)))
    table = open_table(path, ReadOptions(chunk_rows=3))
    frames = list(table.chunks())
    assert [len(f) for f in frames] == [3, 3, 3, 1]
    assert [n for f in frames for n in f.index] == list(range(2, 12))
    assert [v for f in frames for v in f["N"]] == [str(i) for i in range(10)]
    assert table.info.rows == 10
    with pytest.raises(RuntimeError):
        next(table.chunks())


def test_even_chunks_split_the_rest_of_a_file_without_a_small_tail(tmp_path: Path) -> None:
    # 20,000 rows: far more than the parser buffers at once, so the first chunk
    # tells how long rows are. Plain chunks of 7,000 leave a tail of 6,000;
    # even chunks split the 13,000 after the first chunk in two.
    path = write(
        tmp_path,
        "e.csv",
        "N,Text\n" + "".join(f"{i},row {i:06d} {'x' * 200}\n" for i in range(20_000)),
    )
    plain = [len(f) for f in open_table(path, ReadOptions(chunk_rows=7_000)).chunks()]
    assert plain == [7_000, 7_000, 6_000]
    table = open_table(path, ReadOptions(chunk_rows=7_000, even_chunks=True))
    frames = list(table.chunks())
    sizes = [len(f) for f in frames]
    assert len(sizes) == 3 and sizes[0] == 7_000 and sum(sizes) == 20_000
    assert min(sizes) >= 3_500  # no chunk of a few rows
    assert [n for f in frames for n in f.index] == list(range(2, 20_002))


def test_even_chunks_of_a_file_read_in_one_go_are_plain_chunks(tmp_path: Path) -> None:
    path = write(tmp_path, "c.csv", "N\n" + "".join(f"{i}\n" for i in range(10)))
    frames = list(open_table(path, ReadOptions(chunk_rows=3, even_chunks=True)).chunks())
    assert [len(f) for f in frames] == [3, 3, 3, 1]


def test_salesforce_report_footer_is_dropped(tmp_path: Path) -> None:
    text = (
        '"Lead Owner","First Name","Email"\n"Kim","Ana","a@x.com"\n"Kim","Bo","b@x.com"\n'
        '\n"Grand Totals (2 records)"\n\n"Confidential Information - Do Not Distribute"\n'
        '"Copyright (c) 2000-2026 salesforce.com, inc. All rights reserved."\n'
    )
    path = write(tmp_path, "sf.csv", text)
    table, frame = read_all(path, drop_rows_matching=SF_FOOTER)
    assert frame["First Name"].tolist() == ["Ana", "Bo"]
    assert (table.info.rows, table.info.dropped_rows) == (2, 5)
    # Only a full match of the first non-empty cell drops a row.
    _, frame = read_all(path, drop_rows_matching=(r"Grand Totals",))
    assert "Grand Totals (2 records)" in frame["Lead Owner"].tolist()
    _, frame = read_all(path, drop_rows_matching=(r"a@x\.com",))
    assert frame["First Name"].tolist()[:2] == ["Ana", "Bo"]


def test_bad_drop_pattern(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        open_table(write(tmp_path, "a.csv", "a\n"), ReadOptions(drop_rows_matching=("(",)))


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(?:\s*x)*", r"(a|ab)*c"])
def test_a_drop_pattern_that_can_backtrack_for_ever_is_refused(
    tmp_path: Path, pattern: str
) -> None:
    with pytest.raises(ConfigError, match=r"could take for ever to match.*possessive"):
        open_table(
            write(tmp_path, "f.csv", "Name\nAna\n"), ReadOptions(drop_rows_matching=(pattern,))
        )


def test_possessive_and_atomic_drop_patterns_are_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "f.csv", "Name,Email\nAna,a@x.com\nTotal aaaa,\n")
    for pattern in (r"Total (?:a++)+", r"Total (?>a+)+"):
        _, frame = read_all(path, drop_rows_matching=(pattern,))
        assert frame["Name"].tolist() == ["Ana"]


def test_a_long_first_cell_is_never_taken_for_a_footer(tmp_path: Path) -> None:
    # .*.* is polynomial, not refused; a footer is a short line, so a long cell is not tried
    note = "Total " + "x" * 5000
    path = write(tmp_path, "f.csv", f"Name,Email\nAna,a@x.com\n{note},\nTotal 3,\n")
    _, frame = read_all(path, drop_rows_matching=(r"Total .*.*",))
    assert frame["Name"].tolist() == ["Ana", note]


def test_bytes_read_grows_to_the_file_size(tmp_path: Path) -> None:
    path = write(
        tmp_path, "big.csv", "Name,Note\n" + "".join(f"n{i},{'x' * 200}\n" for i in range(20_000))
    )
    table = open_table(path, ReadOptions(chunk_rows=2_000))
    seen = [table.bytes_read for _ in table.chunks()]
    assert seen == sorted(seen) and seen[0] < seen[-1]
    assert table.bytes_read == table.info.size == path.stat().st_size
    assert table.info.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    table, frame = read_all(write(tmp_path, "h.csv", "Name,City\n"))
    assert table.info.columns == ["Name", "City"] and frame.empty and table.info.rows == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    rows=st.lists(
        st.lists(
            st.text(
                st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12
            ),
            min_size=3,
            max_size=3,
        ),
        max_size=12,
    ),
)
def test_any_table_written_by_a_csv_writer_reads_back(
    delimiter: str, rows: list[list[str]]
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(["Name", "Note", "Code"])
    writer.writerows([[neutralise(v) for v in row] for row in rows])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        _, frame = read_all(path, delimiter=delimiter, chunk_rows=5)
    expected = [(n, row) for n, row in enumerate(rows, start=2) if any(row)]
    assert frame.index.tolist() == [n for n, _ in expected]
    assert frame.values.tolist() == [row for _, row in expected]


# --- file kinds and file-level errors ----------------------------------------------------


def error_for(path: Path, **options: object) -> str:
    with pytest.raises(InputError) as err:
        table = open_table(path, ReadOptions(**options))  # type: ignore[arg-type]
        list(table.chunks())
    message = str(err.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in error_for(tmp_path / "nope.csv")


def test_directory(tmp_path: Path) -> None:
    assert "is a directory" in error_for(tmp_path)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.csv", "a\n")

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(read_files, "open", refuse, raising=False)
    assert "permission denied" in error_for(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file_for_real(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.csv", "a\n")
    path.chmod(0)
    assert "permission denied" in error_for(path)


def test_empty_file(tmp_path: Path) -> None:
    assert "is empty" in error_for(write(tmp_path, "e.csv", b""))


def test_no_header_row(tmp_path: Path) -> None:
    assert "no header row" in error_for(write(tmp_path, "blank.csv", "\n \n,,\n"))


def test_binary_junk_is_not_a_spreadsheet(tmp_path: Path) -> None:
    assert "not a spreadsheet" in error_for(
        write(tmp_path, "photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01")
    )


def test_legacy_xls(tmp_path: Path) -> None:
    message = error_for(
        write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    )
    assert ".xls" in message and "save it as .xlsx or .csv" in message


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("leads.csv", "a,b\n1,2\n")
    assert "zip archive" in error_for(path)


def test_html_saved_as_xls(tmp_path: Path) -> None:
    assert "HTML" in error_for(
        write(tmp_path, "leads.xls", "<html><body><table><tr><td>a</td></tr></table>")
    )


def ragged_of(path: Path, **options: object) -> tuple[pd.DataFrame, dict[int, str]]:
    """Every row read through ``chunks``, and the ragged ones (row -> message)."""
    table = open_table(path, ReadOptions(**options))  # type: ignore[arg-type]
    frames = list(table.chunks())
    found = {row: p.message for f in frames for row, p in read_ragged.found(f).items()}
    assert all(p.code == "ragged_row" for f in frames for p in read_ragged.found(f).values())
    return pd.concat(frames), found


def test_a_ragged_row_is_read_and_judged_not_refused(tmp_path: Path) -> None:
    # row 3 holds a line break: row 4 is the file's 5th line
    path = write(tmp_path, "r.csv", 'Name,City\nAna,Hilo\n"Bo\nBo",Kona\nCy,Hilo,extra\nDi,Lihue\n')
    frame, found = ragged_of(path)
    assert frame.index.tolist() == [2, 3, 4, 5]
    assert list(found) == [4]
    assert "the row has 3 fields but the header row has 2: 'Cy,Hilo,extra'" in found[4]
    assert "not quoted" in found[4]
    # nothing is lost: the fields past the last column are joined in its cell
    assert frame.loc[4].tolist() == ["Cy", "Hilo,extra"]


def test_a_row_cut_short_is_ragged_not_padded_silently(tmp_path: Path) -> None:
    path = write(tmp_path, "cut.csv", "Email,Name,ID\na@x.com,Ana,1\nb@x.com,Bo")
    frame, found = ragged_of(path)
    assert list(found) == [3] and "has 2 fields but the header row has 3: 'b@x.com,Bo'" in found[3]
    assert "cut short" in found[3]
    assert frame.loc[3].tolist() == ["b@x.com", "Bo", ""]


def test_a_ragged_row_in_a_later_chunk_is_judged_there(tmp_path: Path) -> None:
    lines = ["Name,City"] + [f"n{i},c{i}" for i in range(20)] + ["late,row,extra,fields", "n,c"]
    frame, found = ragged_of(write(tmp_path, "r.csv", "\n".join(lines) + "\n"), chunk_rows=5)
    assert frame.index.tolist() == list(range(2, 24))
    assert list(found) == [22] and "has 4 fields but the header row has 2" in found[22]


def test_rows_that_lose_nothing_are_not_ragged(tmp_path: Path) -> None:
    # A header ending in delimiters (empty header cells) and rows that stop
    # before those, rows ending in delimiters (empty extra fields), blank lines
    # and lines of delimiters only: no named cell is missing, no value is extra.
    text = "Name,Email,,\nAna,a@x.com\nBo,b@x.com,,,,\n\n,\nCy,c@x.com,,\n"
    frame, found = ragged_of(write(tmp_path, "t.csv", text), skip_blank_rows=False)
    assert found == {}
    assert frame.loc[[2, 3, 6]].to_numpy().tolist() == [
        ["Ana", "a@x.com", "", ""], ["Bo", "b@x.com", "", ""], ["Cy", "c@x.com", "", ""],
    ]  # fmt: skip
    # a row that stops before a named column is cut short, whatever follows it
    frame, found = ragged_of(write(tmp_path, "u.csv", "Name,Email,,\nAna\n"))
    assert list(found) == [2]


def test_ragged_rows_are_judged_where_the_parser_reads_the_rest(tmp_path: Path) -> None:
    # a quote inside an unquoted cell: not standard CSV, so the parser reads the
    # file and the csv module counts the fields beside it
    text = 'Name,Note\nAna,say "hi"\nBo\nCy,"x,y",z\nDi,"ok"\n'
    for table_path in (
        write(tmp_path, "q.csv", text),
        write(tmp_path, "q16.csv", "\ufeff" + text, "utf-16-le"),
    ):
        frame, found = ragged_of(table_path)
        assert frame.index.tolist() == [2, 3, 4, 5]
        assert list(found) == [3, 4], table_path
        assert frame.loc[4].tolist() == ["Cy", "x,y,z"]
        assert frame.loc[2].tolist() == ["Ana", 'say "hi"']


def test_unterminated_quote(tmp_path: Path) -> None:
    message = error_for(write(tmp_path, "q.csv", 'Name,Note\nAna,ok\nBo,"never closed\nCy,x\n'))
    assert "never closed, starting in row 3" in message


def test_unterminated_quote_in_a_later_chunk(tmp_path: Path) -> None:
    lines = ["Name,Note"] + [f"n{i},x" for i in range(12)] + ['Bo,"never closed', "Cy,x"]
    message = error_for(write(tmp_path, "q.csv", "\n".join(lines) + "\n"), chunk_rows=4)
    assert "starting in row 14" in message


@pytest.mark.parametrize("quoted", [False, True])
def test_a_cell_over_256_kb_in_the_first_data_row_reads(tmp_path: Path, quoted: bool) -> None:
    # A long pasted e-mail thread in a notes column: bigger than the sniffing sample and
    # than the csv module's field limit, it made the header look missing ("a quote never closed?").
    note = "word " * 60_000
    cell = f'"{note}"' if quoted else note
    path = write(tmp_path, "long.csv", f"Email,Name,Notes\na@x.com,Ana,{cell}\nb@x.com,Bo,short\n")
    table, frame = read_all(path)
    assert table.info.headers == ["Email", "Name", "Notes"]
    assert frame["Notes"].tolist() == [note, "short"]


def test_a_quote_never_closed_in_a_long_first_row_is_still_named(tmp_path: Path) -> None:
    path = write(tmp_path, "q.csv", 'Email,Notes\na@x.com,"' + "x" * 300_000 + "\nb@x.com,y\n")
    assert "never closed, starting in row 2" in error_for(path)


def test_content_wins_over_the_extension(tmp_path: Path) -> None:
    table, frame = read_all(write(tmp_path, "really_csv.xlsx", "Name\nAna\n"))
    assert table.info.format == "csv" and frame["Name"].tolist() == ["Ana"]
    workbook = openpyxl.Workbook()
    workbook.active.append(["Name"])
    workbook.active.append(["Bo"])
    workbook.save(tmp_path / "really_xlsx.csv")
    table, frame = read_all(tmp_path / "really_xlsx.csv")
    assert table.info.format == "xlsx" and frame["Name"].tolist() == ["Bo"]


# --- XLSX --------------------------------------------------------------------------------


@pytest.fixture(params=["calamine", "openpyxl"])
def xlsx_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each workbook test runs with both readers: calamine, and openpyxl as for big workbooks."""
    import importer.read.xlsx

    limit = 10**12 if request.param == "calamine" else -1
    monkeypatch.setattr(importer.read.xlsx, "STREAM_ABOVE_BYTES", limit)
    return str(request.param)


@pytest.fixture
def workbook_path(tmp_path: Path) -> Path:
    workbook = openpyxl.Workbook()
    leads = workbook.active
    leads.title = "Leads"
    leads.append(
        ["ID", "Zip", "Amount", "Ratio", "Created", "Called", "Active", "Phone", "Note", None, None]
    )
    leads.append(
        [
            2134,
            "00123",
            2134.0,
            0.25,
            dt.date(2024, 3, 15),
            dt.datetime(2024, 3, 15, 9, 30),
            True,
            14255550177,
            '="00501"',
        ]
    )
    leads.append([None] * 9)  # a blank row: skipped, but row 3 is still row 3
    leads.append(
        [
            7,
            "02134",
            -1.5,
            1e-7,
            dt.datetime(2024, 1, 2, 0, 0),
            dt.time(8, 15),
            False,
            "'+39 0471",
            "Zoë",
        ]
    )
    leads["I2"].data_type = "s"  # text that looks like a formula, not a formula
    other = workbook.create_sheet("Contacts")
    other.append(["Report: contacts"])
    other.append([])
    other.append(["Name", "Email"])
    other.append(["Ana", "a@x.com"])
    path = tmp_path / "export.xlsx"
    workbook.save(path)
    return path


def test_xlsx_cells_become_text(workbook_path: Path, xlsx_reader: str) -> None:
    table, frame = read_all(workbook_path)
    info = table.info
    assert (info.format, info.sheet, info.encoding, info.delimiter) == ("xlsx", "Leads", None, None)
    assert info.headers == [
        "ID",
        "Zip",
        "Amount",
        "Ratio",
        "Created",
        "Called",
        "Active",
        "Phone",
        "Note",
    ]
    assert frame.index.tolist() == [2, 4]
    assert list(frame.loc[2]) == [
        "2134",
        "00123",
        "2134",
        "0.25",
        "2024-03-15",
        "2024-03-15T09:30:00",
        "TRUE",
        "14255550177",
        "00501",
    ]
    assert list(frame.loc[4]) == [
        "7",
        "02134",
        "-1.5",
        "1e-07",
        "2024-01-02",
        "08:15:00",
        "FALSE",
        "+39 0471",
        "Zoë",
    ]
    assert all(type(v) is str for v in frame.to_numpy().ravel())
    assert (info.rows, info.dropped_rows) == (2, 1)
    assert table.bytes_read == info.size


def test_xlsx_second_sheet_with_a_title_row(workbook_path: Path, xlsx_reader: str) -> None:
    table, frame = read_all(workbook_path, sheet="contacts")
    assert (table.info.sheet, table.info.header_row, table.info.headers) == (
        "Contacts",
        3,
        ["Name", "Email"],
    )
    assert list(frame.loc[4]) == ["Ana", "a@x.com"]


def test_xlsx_unknown_sheet_lists_the_sheets(workbook_path: Path, xlsx_reader: str) -> None:
    message = error_for(workbook_path, sheet="Deals")
    assert "no sheet named 'Deals'" in message and "'Leads', 'Contacts'" in message


def test_xlsx_chunks_and_peek(tmp_path: Path, xlsx_reader: str) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["N", "Square"])
    for i in range(7):
        workbook.active.append([i, i * i])
    path = tmp_path / "n.xlsx"
    workbook.save(path)
    assert peek_headers(path) == ["N", "Square"]
    frames = list(open_table(path, ReadOptions(chunk_rows=3)).chunks())
    assert [len(f) for f in frames] == [3, 3, 1]
    assert [n for f in frames for n in f.index] == list(range(2, 9))


def test_xlsx_value_without_a_header_is_a_ragged_row(tmp_path: Path, xlsx_reader: str) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Name"])
    for i in range(60):
        sheet.append([f"n{i}"])
    sheet.append(["late", None, "stray"])
    sheet.append(["after"])
    path = tmp_path / "stray.xlsx"
    workbook.save(path)
    frame, found = ragged_of(path, chunk_rows=25)
    assert frame.index.tolist() == list(range(2, 64))
    assert list(found) == [62]
    assert "a value in column C, which has no header" in found[62] and "'late,,stray'" in found[62]
    assert frame.loc[62].tolist() == ["late,,stray"]


def test_xlsx_table_away_from_the_corner_keeps_its_row_numbers_and_columns(
    tmp_path: Path, xlsx_reader: str
) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["C4"], sheet["D4"] = "Name", "Email"  # rows 1-3 and columns A-B are empty
    sheet["C5"], sheet["D5"] = "Ana", "a@x.com"
    sheet["D7"] = "b@x.com"
    path = tmp_path / "corner.xlsx"
    workbook.save(path)
    table, frame = read_all(path)
    assert table.info.header_row == 4
    assert table.info.headers[-2:] == ["Name", "Email"] and len(table.info.headers) == 4
    assert frame.index.tolist() == [5, 7]
    assert frame.iloc[:, -2:].values.tolist() == [["Ana", "a@x.com"], ["", "b@x.com"]]


def test_xlsx_chart_sheets_are_not_tables(tmp_path: Path, xlsx_reader: str) -> None:
    workbook = openpyxl.Workbook()
    workbook.create_chartsheet("Chart", 0)  # the first sheet is a chart
    workbook["Sheet"].append(["Name"])
    workbook["Sheet"].append(["Ana"])
    path = tmp_path / "chart.xlsx"
    workbook.save(path)
    if xlsx_reader == "openpyxl":  # its read-only mode cannot open such a workbook at all
        assert "cannot be read as an .xlsx workbook" in error_for(path)
        return
    table, frame = read_all(path)
    assert table.info.sheet == "Sheet" and frame["Name"].tolist() == ["Ana"]
    assert "'Chart' is a chart, not a table" in error_for(path, sheet="chart")


def test_xlsx_table_closes_more_than_once(workbook_path: Path, xlsx_reader: str) -> None:
    table = open_table(workbook_path, ReadOptions())
    assert sum(len(f) for f in table.chunks()) == 2
    table.close()
    table.close()  # as a with-block does after the rows were all read


def test_damaged_xlsx(tmp_path: Path, xlsx_reader: str) -> None:
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<not-really")
    assert "cannot be read as an .xlsx workbook" in error_for(path)


# --- peeking -----------------------------------------------------------------------------


def test_peek_headers_reads_only_the_header(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "\ufeffFirst Name;Email;_row\nAna;a@x.com;2\nBo;b;c;d;e\n")
    assert peek_headers(path) == ["First Name", "Email"]  # the ragged row 3 is not read
    assert peek_headers(path, ReadOptions(delimiter=",")) == ["First Name;Email;_row"]


# --- scale -------------------------------------------------------------------------------


# The child's own peak memory in kB. Not ru_maxrss: on Linux a child started by
# subprocess (vfork, then exec) inherits the peak of the process that started it,
# so a pytest worker that once grew past the bound failed these tests whatever
# the child used. VmHWM is the high-water mark of the child's own address space.
OWN_PEAK_KB = textwrap.dedent(
    """
    def own_peak_kb():
        import resource
        try:
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        except (OSError, StopIteration):  # no /proc (macOS): the closest there is
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    """
)

PEAK_RSS = OWN_PEAK_KB + textwrap.dedent(
    """
    import sys
    from importer.read.options import ReadOptions
    from importer.read.table import open_table
    with open_table(sys.argv[1], ReadOptions(chunk_rows=10_000)) as table:
        rows = sum(len(frame) for frame in table.chunks())
    print(rows, own_peak_kb())
    """
)


@pytest.mark.slow
def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    def peak(rows: int) -> int:
        path = tmp_path / f"{rows}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([f"Column {i}" for i in range(20)])
            writer.writerows([f"r{n}c{i}" for i in range(20)] for n in range(rows))
        result = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, str(path)], capture_output=True, text=True, check=True
        )
        count, kilobytes = map(int, result.stdout.split())
        assert count == rows
        return kilobytes

    small, large = peak(20_000), peak(200_000)
    assert large < small + 40_000, (small, large)  # 10x the rows, at most ~40 MB more


# --- XLSX limits (zip bombs) and formulas ----------------------------------------------


def bomb_xlsx(path: Path, megabytes: int) -> Path:
    """A small valid workbook whose row 2 holds one cell of ``megabytes`` MB of "a":
    packed about 1,000 times (a zip bomb's shape: tiny file, huge sheet XML)."""
    workbook = openpyxl.Workbook()
    workbook.active.append(["Email", "Notes"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    source = zipfile.ZipFile(buffer)
    head = (
        b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Email</t></is></c><c r="B1" t="inlineStr">'
        b'<is><t>Notes</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                out.writestr(info, source.read(info.filename))
                continue
            with out.open(info.filename, "w", force_zip64=True) as sheet:
                sheet.write(head)
                for _ in range(megabytes):
                    sheet.write(b"a" * (1 << 20))
                sheet.write(b"</t></is></c></row></sheetData></worksheet>")
    return path


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path, xlsx_reader: str) -> None:
    path = bomb_xlsx(tmp_path / "bomb.xlsx", 64)
    assert path.stat().st_size < 1 << 20
    message = error_for(path)
    assert "xl/worksheets/sheet1.xml unpacks to 64 MB" in message and "a zip bomb?" in message


BOMB_PEAK = OWN_PEAK_KB + textwrap.dedent(
    """
    import sys
    from importer.errors import InputError
    from importer.read.table import open_table
    try:
        open_table(sys.argv[1])
    except InputError as exc:
        print(own_peak_kb(), exc)
    """
)


def test_a_zip_bomb_costs_little_memory(tmp_path: Path) -> None:
    path = bomb_xlsx(tmp_path / "bomb.xlsx", 256)
    done = subprocess.run(
        [sys.executable, "-c", BOMB_PEAK, str(path)], capture_output=True, text=True, check=True
    )
    kilobytes, message = done.stdout.split(" ", 1)
    assert "a zip bomb?" in message
    assert int(kilobytes) < 500_000  # the bar: it took 5.9 GB before


def test_a_workbook_over_the_unpacked_limit_is_refused(tmp_path: Path, xlsx_reader: str) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["Email", "Notes"])
    for i in range(20_000):
        workbook.active.append([f"a{i}@x.com", f"note {i} " * 5])
    path = tmp_path / "big.xlsx"
    workbook.save(path)
    assert read_all(path)[0].info.rows == 20_000
    message = error_for(path, max_unpacked_mb=1)
    assert "MB, over the limit of 1 MB" in message and "RG_MAX_UNPACKED_MB" in message


def test_a_sheet_over_the_cell_limit_is_refused(tmp_path: Path, xlsx_reader: str) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["Email", "Name"])
    for i in range(100):
        workbook.active.append([f"a{i}@x.com", f"n{i}"])
    path = tmp_path / "cells.xlsx"
    workbook.save(path)
    assert read_all(path, max_cells=202)[0].info.rows == 100
    message = error_for(path, max_cells=150)
    assert "holds more than 150 cells" in message and "RG_MAX_CELLS" in message


def test_formula_cells_without_a_saved_result_are_named(tmp_path: Path, xlsx_reader: str) -> None:
    # openpyxl (like most programs but Excel) saves formulas without their results
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Name", "Total"])
    sheet.append(["a@x.com", '=CONCAT("A","na")', "=1+1"])
    sheet.append(["b@x.com", "Bo", "=2+2"])
    path = tmp_path / "formulas.xlsx"
    workbook.save(path)
    table, frame = read_all(path)
    assert frame["Total"].tolist() == ["", ""]  # nothing to read: hence the warning
    assert table.info.warnings == [
        "sheet 'Sheet': 3 formula cells have no saved result and read as empty (B2, C2, C3); "
        "open the workbook in Excel and save it again to keep their values"
    ]
    plain = tmp_path / "plain.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["Email"])
    workbook.active.append(["a@x.com"])
    workbook.save(plain)
    assert read_all(plain)[0].info.warnings == []
