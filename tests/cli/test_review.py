"""Reasons at a glance in the terminal (issue 12 items 1 and 6).

``plan`` prints the reject and warning codes under its counts; ``rg-import
review`` prints the same table from a run directory, a rejects.csv or a
rejects.xlsx, lists one code's rows, and opens report.html.
"""

from __future__ import annotations

import csv
import re
import shutil
import webbrowser
from pathlib import Path

import openpyxl
import pytest

from bench.inputs import people_file
from importer.outputs.reasons import ordered
from tests.cli.test_cli import PEOPLE, assert_one_error_line, invoke
from tests.outputs.test_reasons import pivot

# a line of a reasons table: code, rows, example row, message
TABLE_LINE = re.compile(r"  (\S+) +(\d+)  row (\d+): (.*)")


def table(text: str, title: str) -> list[tuple[str, int, int, str]]:
    """The lines of the reasons table under ``title`` in a printed text."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    found = []
    for line in lines[start + 1 :]:
        match = TABLE_LINE.fullmatch(line)
        if match is None:
            break
        found.append((match[1], int(match[2]), int(match[3]), match[4]))
    return found


REJECTED, WARNED = "Rejected rows by code", "Warnings by code"


def rejects_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_the_plan_summary_of_the_bench_file_names_every_reject_code_with_its_pivot_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12, done when: on the 100k-row bench file with its dirty rows, the printed
    summary names every reject code with its count, equal to a pivot of rejects.csv."""
    export = people_file(tmp_path / "data", 100_000)  # the bench's file: 3% dirty rows
    out = tmp_path / "plan"
    code, printed, _ = invoke(capsys, "plan", str(export), "--out", str(out), "--no-xlsx")
    assert code == 3
    counts, lowest = pivot(out / "rejects.csv")
    shown = table(printed, REJECTED)
    assert len(counts) >= 3  # the dirty rows are rejected for several reasons
    assert [(c, n) for c, n, _, _ in shown] == ordered(counts)  # every code, most first
    assert {c: row for c, _, row, _ in shown} == lowest
    rejected = re.search(r"\n  reject +(\d+)\n", printed)
    assert rejected and int(rejected[1]) == len(rejects_rows(out / "rejects.csv"))
    # the review of the run directory prints the same table
    code, reviewed, _ = invoke(capsys, "review", str(out))
    assert code == 0 and table(reviewed, REJECTED) == shown
    assert table(reviewed, WARNED) == table(printed, WARNED) != []


@pytest.fixture
def planned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    """A plan of the sample people file (9 rejects): its run directory and summary."""
    out = tmp_path / "run"
    code, printed, _ = invoke(capsys, "plan", str(PEOPLE), "--out", str(out))
    assert code == 3
    return out, printed


def test_review_of_a_run_directory_or_its_rejects_csv_prints_the_plans_table(
    planned: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, printed = planned
    for path in (out, out / "rejects.csv"):
        code, reviewed, err = invoke(capsys, "review", str(path))
        assert (code, err) == (0, "")
        assert reviewed.startswith(f"9 rows rejected in {out / 'rejects.csv'}\n")
        assert table(reviewed, REJECTED) == table(printed, REJECTED) != []
        assert table(reviewed, WARNED) == table(printed, WARNED) != []


def test_review_of_a_lone_rejects_csv_counts_its_rows(
    planned: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = planned
    lone = tmp_path / "elsewhere" / "rejects.csv"
    lone.parent.mkdir()
    shutil.copy(out / "rejects.csv", lone)
    counts, lowest = pivot(lone)
    code, reviewed, _ = invoke(capsys, "review", str(lone))
    shown = table(reviewed, REJECTED)
    assert code == 0 and [(c, n) for c, n, _, _ in shown] == ordered(counts)
    assert {c: row for c, _, row, _ in shown} == lowest
    assert WARNED not in reviewed  # warnings are in report.json only


def test_review_code_lists_its_rows_with_their_key_and_message(
    planned: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = planned
    rows = rejects_rows(out / "rejects.csv")
    code = max(pivot(out / "rejects.csv")[0].items(), key=lambda item: item[1])[0]
    wanted = [r for r in rows if code in r["_code"].split(";")]
    status, listed, _ = invoke(capsys, "review", str(out), "--code", code)
    lines = listed.splitlines()
    assert status == 0 and lines[0] == f"{code}: {len(wanted)} rows rejected"
    assert lines[1].split() == ["row", "ID", "message"]  # the mapping's key column
    for line, row in zip(lines[2:], wanted, strict=True):
        assert line.split(maxsplit=2) == [row["_row"], row["ID"], " ".join(row["_message"].split())]


def test_review_code_of_a_warning_or_an_absent_code_says_so(
    planned: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    out, printed = planned
    rejected = {c for c, _, _, _ in table(printed, REJECTED)}
    warning = next(c for c, _, _, _ in table(printed, WARNED) if c not in rejected)
    code, said, _ = invoke(capsys, "review", str(out), "--code", warning)
    assert code == 0 and said.startswith(f"{warning} is a warning on ")
    code, said, _ = invoke(capsys, "review", str(out), "--code", "http_429")
    assert (
        code == 0 and said.strip() == f"No row of {out / 'rejects.csv'} was rejected for http_429."
    )


def test_review_reads_the_rejects_sheet_of_a_workbook(
    planned: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """rejects.xlsx: a "Summary" sheet first, then "Rejects" with rejects.csv's columns."""
    out, _ = planned
    with (out / "rejects.csv").open(encoding="utf-8-sig", newline="") as f:
        lines = list(csv.reader(f))
    counts, lowest = pivot(out / "rejects.csv")
    workbook = openpyxl.Workbook()
    summary = workbook.active
    summary.title = "Summary"
    summary.append(["code", "rows"])
    for code, n in ordered(counts):
        summary.append([code, n])
    sheet = workbook.create_sheet("Rejects")
    for line in lines:
        sheet.append(line)
    path = tmp_path / "book" / "rejects.xlsx"
    path.parent.mkdir()
    workbook.save(path)
    code, reviewed, _ = invoke(capsys, "review", str(path))
    shown = table(reviewed, REJECTED)
    assert code == 0 and reviewed.startswith(f"9 rows rejected in {path}\n")
    assert [(c, n) for c, n, _, _ in shown] == ordered(counts)
    assert {c: row for c, _, row, _ in shown} == lowest
    top = ordered(counts)[0][0]
    code, listed, _ = invoke(capsys, "review", str(path), "--code", top)
    assert code == 0 and listed.startswith(f"{top}: {counts[top]} row")


def test_review_of_a_run_directory_without_rejects(
    planned: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, printed = planned
    clean = tmp_path / "clean"
    clean.mkdir()
    shutil.copy(out / "report.json", clean / "report.json")
    code, reviewed, _ = invoke(capsys, "review", str(clean))
    assert code == 0 and reviewed.startswith(f"No rejected rows in {clean}.\n")
    assert table(reviewed, WARNED) == table(printed, WARNED)


def test_review_open_opens_report_html_or_says_there_is_none(
    planned: tuple[Path, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = planned
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    code, said, _ = invoke(capsys, "review", str(out / "rejects.csv"), "--open")
    assert code == 0 and opened == [(out / "report.html").resolve().as_uri()]
    assert said.splitlines()[-1] == f"Opened {out / 'report.html'}"
    (out / "report.html").unlink()
    code, said, _ = invoke(capsys, "review", str(out), "--open")
    assert code == 0 and opened == [(out / "report.html").resolve().as_uri()]  # no second
    assert (
        said.splitlines()[-1]
        == f"No report.html in {out}: nothing to open (a run directory holds one)."
    )


def test_review_refuses_what_is_not_a_run_directory_or_reject_file(
    planned: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _ = planned
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "notes.txt").write_text("hello", "utf-8")
    for path, words in [
        (tmp_path / "missing", ("does not exist",)),
        (empty, ("is not a run directory",)),
        (tmp_path / "notes.txt", ("neither a directory",)),
        (out / "plan.csv", ("not a reject file",)),
    ]:
        code, said, err = invoke(capsys, "review", str(path))
        assert_one_error_line(code, said, err, str(path), *words, "rejects.csv")
    code, said, err = invoke(capsys, "review", str(out), "--code", "invalid_emial")
    assert_one_error_line(code, said, err, "unknown code 'invalid_emial'", "invalid_email")
