"""Files written for people (importer.outputs): private modes, BOM, formula guard, lazy rejects."""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.errors import ConfigError, OutputError
from importer.models import Problem, RowIssue, Stage
from importer.outputs.csv_files import (
    FORMULA_START,
    PLAN_COLUMNS,
    REJECT_DIAGNOSTICS,
    SEND_DIAGNOSTICS,
    CsvOut,
    RejectWriter,
    csv_lines,
    neutralise,
)
from importer.outputs.private_files import (
    make_private_dir,
    make_run_dir,
    new_run_id,
    open_private,
    write_json,
)
from importer.read.headers import unwrap_excel
from importer.read.table import open_table

BOM = b"\xef\xbb\xbf"
FILE_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


# --------------------------------------------------------------------------- the formula guard

formula_like = st.builds(
    lambda quotes, start, rest: "'" * quotes + start + rest,
    st.integers(min_value=0, max_value=3),
    st.sampled_from([*FORMULA_START, "", "a", '="', "'"]),
    st.text(max_size=12),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=20), formula_like), min_size=1, max_size=8))
def test_neutralise_then_unwrap_gives_back_the_value(values: list[str]) -> None:
    guarded = [neutralise(v) for v in values]
    for original, cell in zip(values, guarded, strict=True):
        # nothing a spreadsheet would run as a formula is left unguarded
        assert not cell.startswith(FORMULA_START)
        if original.lstrip("'").startswith(FORMULA_START):
            assert cell == "'" + original
    back = unwrap_excel(pd.Series(guarded, dtype=object))
    assert back.tolist() == values


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1 (415) 555-0134", "'+1 (415) 555-0134"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("'=already", "''=already"),
        ("plain", "plain"),
        ("'quoted", "'quoted"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise_prefixes_exactly_the_formula_cells(value: str, written: str) -> None:
    assert neutralise(value) == written


def test_unwrap_also_undoes_excels_keep_as_text_formula() -> None:
    cells = pd.Series(['="02134"', '="say ""hi"""', "02134"], dtype=object)
    assert unwrap_excel(cells).tolist() == ["02134", 'say "hi"', "02134"]


# --------------------------------------------------------------------------- CSV files


def test_csv_files_start_with_a_utf8_bom_and_use_crlf(tmp_path: Path) -> None:
    out = CsvOut(tmp_path / "plan.csv", PLAN_COLUMNS)
    out.write(["2", "k", "", "create", "", ""])
    out.close()
    raw = (tmp_path / "plan.csv").read_bytes()
    assert raw.startswith(BOM)
    # the first six columns keep their place; the newer ones follow them
    assert raw[len(BOM) :].decode("utf-8").startswith("row,key,lead_id,action,codes,message,")
    assert read_rows(tmp_path / "plan.csv") == [
        list(PLAN_COLUMNS),
        ["2", "k", "", "create", "", ""],
    ]


def test_a_csv_without_rows_is_never_created(tmp_path: Path) -> None:
    rejects = RejectWriter(tmp_path / "rejects.csv", ["Email", "Name"])
    rejects.write_lines(csv_lines([], []))
    rejects.close()
    assert not rejects.written and rejects.rows == 0
    assert not (tmp_path / "rejects.csv").exists()


def test_the_reject_file_is_created_on_the_first_reject(tmp_path: Path) -> None:
    rejects = RejectWriter(tmp_path / "rejects.csv", ["Email", "Name"])
    assert not (tmp_path / "rejects.csv").exists()
    issue = RowIssue(7, Stage.VALIDATE, [Problem("invalid_email", "Email 'x' is not valid")])
    rejects.reject(["x", "=Ana"], issue)
    rejects.close()
    assert rejects.written
    assert read_rows(tmp_path / "rejects.csv") == [
        ["Email", "Name", *REJECT_DIAGNOSTICS],
        ["x", "'=Ana", "7", "validate", "invalid_email", "Email 'x' is not valid"],
    ]


def test_send_rejects_carry_the_http_status_and_attempts(tmp_path: Path) -> None:
    rejects = RejectWriter(tmp_path / "rejects.csv", ["Email"], send_columns=True)
    issue = RowIssue(3, Stage.SEND, [Problem("http_422", "refused")], http_status=422, attempts=1)
    rejects.reject(["a@example.com"], issue)
    rejects.reject(["b@example.com"], RowIssue(4, Stage.SEND, [Problem("unreachable", "down")]))
    rejects.close()
    header, first, second = read_rows(tmp_path / "rejects.csv")
    assert header == ["Email", *REJECT_DIAGNOSTICS, *SEND_DIAGNOSTICS]
    assert first[-2:] == ["422", "1"] and second[-2:] == ["", ""]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.text(max_size=8), formula_like), st.text(max_size=8)),
        min_size=1,
        max_size=10,
    )
)
def test_writing_by_columns_is_the_same_as_writing_by_rows(rows: list[tuple[str, str]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        by_rows = CsvOut(Path(tmp) / "a.csv", ["A", "=B"])
        for row in rows:
            by_rows.write(row)
        by_rows.close()
        by_columns = CsvOut(Path(tmp) / "b.csv", ["A", "=B"])
        by_columns.write_lines(csv_lines([r[0] for r in rows], [r[1] for r in rows]))
        by_columns.close()
        assert (Path(tmp) / "a.csv").read_bytes() == (Path(tmp) / "b.csv").read_bytes()
        assert by_columns.rows == len(rows)


cell_text = st.one_of(
    st.text(
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"),
        max_size=15,
    ),
    formula_like.filter(lambda v: "\r" not in v and "\x00" not in v),
).map(str.strip)


@FILE_SETTINGS
@given(st.lists(st.tuples(cell_text, cell_text), min_size=1, max_size=6))
def test_a_reject_file_reads_back_to_the_cells_that_were_written(
    tmp_path: Path, rows: list[tuple[str, str]]
) -> None:
    # every row needs one filled cell, or the reader skips it as blank
    rows = [(a or "x", b) for a, b in rows]
    path = tmp_path / "rejects.csv"
    path.unlink(missing_ok=True)  # hypothesis runs every example in one tmp_path
    rejects = RejectWriter(path, ["Name", "Notes"])
    for n, row in enumerate(rows, start=2):
        rejects.reject(list(row), RowIssue(n, Stage.VALIDATE, [Problem("c", "m")]))
    rejects.close()
    with open_table(path) as table:
        assert table.info.headers == ["Name", "Notes"]  # the diagnostics are dropped
        back = pd.concat(list(table.chunks()))
    assert [tuple(r) for r in back.itertuples(index=False)] == rows


# --------------------------------------------------------------------------- private files


def test_files_are_created_0600(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    write_json(path, {"name": "Zoë", "n": 1, "when": datetime(2024, 3, 15, tzinfo=UTC)})
    assert mode(path) == 0o600
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {"name": "Zoë", "n": 1, "when": "2024-03-15 00:00:00+00:00"}
    with open_private(tmp_path / "new.txt") as f:
        f.write("x")
    assert mode(tmp_path / "new.txt") == 0o600


def test_a_file_already_there_is_never_opened(tmp_path: Path) -> None:
    old = tmp_path / "report.json"
    old.write_text("old")
    with pytest.raises(OutputError, match="appeared while rg-import was writing"):
        write_json(old, {"n": 1})
    assert old.read_text() == "old"


def test_a_planted_link_is_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run_dir = make_private_dir(tmp_path / "run")
    (run_dir / "rejects.csv").symlink_to(victim)
    rejects = RejectWriter(run_dir / "rejects.csv", ["Email"])
    issue = RowIssue(2, Stage.VALIDATE, [Problem("invalid_email", "bad")])
    with pytest.raises(OutputError):
        rejects.reject(["lead@example.com"], issue)
    (run_dir / "dangling.csv").symlink_to(tmp_path / "made-through-the-link.csv")
    with pytest.raises(OutputError):
        open_private(run_dir / "dangling.csv")
    assert victim.read_text() == "precious"
    assert not (tmp_path / "made-through-the-link.csv").exists()


def test_a_made_directory_is_0700_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    made = make_private_dir(tmp_path / "a" / "b")
    assert made == tmp_path / "a" / "b" and mode(made) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2775)
    make_private_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o2775
    link = tmp_path / "link"
    link.symlink_to(shared)  # a linked --out: its target is not changed either
    assert make_private_dir(link) == link
    assert stat.S_IMODE(shared.stat().st_mode) == 0o2775


def test_a_run_directory_with_outputs_is_refused_without_overwrite(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path / "run")
    (run_dir / "rejects.csv").write_text("old rejects")
    (run_dir / "notes.txt").write_text("the user's own file")
    with pytest.raises(
        ConfigError, match=r"already holds the outputs of a run \(rejects.csv\).*--overwrite"
    ):
        make_run_dir(run_dir)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (run_dir / "report.json").symlink_to(victim)
    assert make_run_dir(run_dir, overwrite=True) == run_dir
    assert sorted(p.name for p in run_dir.iterdir()) == ["notes.txt"]
    assert victim.read_text() == "precious"
    assert make_run_dir(run_dir) == run_dir  # nothing of a run is left in it


def test_an_output_directory_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="not a directory; pick another with --out"):
        make_private_dir(blocker)


def test_an_impossible_output_directory_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match="pick another with --out"):
        make_private_dir(blocker / "run")


def test_run_ids_sort_by_time_and_differ() -> None:
    early = new_run_id(datetime(2026, 11, 27, 21, 7, 4, tzinfo=UTC))
    late = new_run_id(datetime(2026, 11, 27, 21, 7, 5, tzinfo=UTC))
    assert re.fullmatch(r"20261127T210704Z-[0-9a-f]{4}", early)
    assert early < late
    assert len({new_run_id() for _ in range(50)}) > 1


CELLS = st.text(max_size=8) | st.sampled_from(["a,b", '"q"', "x\r\ny", "=1+1", "'", "\x00,", ""])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(CELLS, CELLS, CELLS), max_size=30))
def test_csv_lines_are_the_rows_a_csv_reader_reads_back(rows: list[tuple[str, str, str]]) -> None:
    columns = [list(c) for c in zip(*rows, strict=True)] if rows else [[], [], []]
    lines = csv_lines(*columns, safe=(0,))
    assert len(lines) == len(rows) and all(line.endswith("\r\n") for line in lines)
    parsed = list(csv.reader(io.StringIO("".join(lines), newline="")))
    # column 0 is declared safe: written as it is; the others are neutralised
    assert parsed == [[a, neutralise(b), neutralise(c)] for a, b, c in rows]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10**9), CELLS), max_size=30))
def test_csv_lines_write_plain_token_columns_as_they_are(rows: list[tuple[int, str]]) -> None:
    numbers = [str(n) for n, _ in rows]
    lines = csv_lines(numbers, [c for _, c in rows], plain=(0,))
    parsed = list(csv.reader(io.StringIO("".join(lines), newline="")))
    assert parsed == [[str(n), neutralise(c)] for n, c in rows]
