"""rejects.xlsx filled in a forked process (importer.outputs.background_workbook).

Filled part by part while rejects.csv is written, the workbook is the one
written from the closed file; a process that fails or is abandoned leaves no
workbook, and ``rg-import plan`` then writes it itself.
"""

from __future__ import annotations

import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from importer import codes
from importer.mapping.files import load_mapping
from importer.models import Problem
from importer.outputs import background_workbook
from importer.outputs.background_workbook import BackgroundWorkbook
from importer.outputs.csv_files import REJECT_DIAGNOSTICS, RejectWriter, csv_lines
from importer.outputs.problem_cells import ProblemCells
from importer.outputs.reject_workbook import write_reject_workbook
from tests.outputs.test_reject_workbook import HEADER, TRICKY, plan, read_back, write_export

ROWS = 1_200  # past the 500 rows the columns are sized from


def _rejects() -> tuple[list[str], dict[int, list[Problem]]]:
    """rejects.csv lines of ``ROWS`` rows (tricky values among them), and their problems."""
    rows, problems = [], {}
    for n in range(2, ROWS + 2):
        tricky = TRICKY[n % len(TRICKY)]
        cells = [f"P{n}", "Lee", f"p{n}@@x.test", "", "02134", tricky, tricky, str(n)]
        rows.append([*cells, str(n), "validate", codes.INVALID_EMAIL, "bad email"])
        problems[n] = [Problem(codes.INVALID_EMAIL, f"email 'p{n}@@x.test' ...", "email")]
        if n % 7 == 0:  # and a problem about the whole row
            problems[n].append(Problem(codes.MISSING_CONTACT, "no contact details"))
    return csv_lines(*zip(*rows, strict=True), safe=range(len(HEADER))), problems


def _parts(xlsx: Path) -> dict[str, bytes]:
    """A workbook's parts, but for its creation time."""
    with zipfile.ZipFile(xlsx) as package:
        return {n: package.read(n) for n in package.namelist() if n != "docProps/core.xml"}


def test_a_workbook_filled_in_parts_is_the_one_written_from_the_closed_file(
    tmp_path: Path,
) -> None:
    lines, problems = _rejects()
    cells = ProblemCells(HEADER, load_mapping("followupboss"))
    rejects = RejectWriter(tmp_path / "rejects.csv", HEADER, workbook_rows=ROWS)
    book = BackgroundWorkbook(tmp_path / "background.xlsx", rejects.header, cells)
    for start, end in ((0, 7), (7, 7), (7, 607), (607, ROWS)):  # an empty part too
        rejects.write_lines(lines[start:end])
        book.add(lines[start:end], {n: problems[n] for n in range(start + 2, end + 2)})
    rejects.close()
    assert book.finish()
    written = write_reject_workbook(rejects.path, tmp_path / "closed.xlsx", problems, cells)
    assert _parts(book.xlsx_path) == _parts(written)
    assert (book.xlsx_path.stat().st_mode & 0o777) == 0o600


def _spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder openpyxl streams its sheets to (``tempfile``'s), this test's own:
    the system's is shared with whatever else runs meanwhile."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # (the forked process inherits it)
    return spool


def test_a_failing_process_leaves_no_workbook_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cells = ProblemCells(HEADER, load_mapping("followupboss"))
    book = BackgroundWorkbook(tmp_path / "rejects.xlsx", [*HEADER, *REJECT_DIAGNOSTICS], cells)
    spool = _spool(tmp_path, monkeypatch)  # where openpyxl streams its sheets
    book.add(["a,b,c\r\n"], {})  # a row shorter than its header: filling it fails
    assert not book.finish()
    assert not book.xlsx_path.exists()
    assert not any(spool.iterdir())  # no lead data left


def test_an_abandoned_workbook_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, problems = _rejects()
    cells = ProblemCells(HEADER, load_mapping("followupboss"))
    book = BackgroundWorkbook(tmp_path / "rejects.xlsx", [*HEADER, *REJECT_DIAGNOSTICS], cells)
    spool = _spool(tmp_path, monkeypatch)
    book.add(lines, problems)
    deadline = time.monotonic() + 30
    while not any(spool.iterdir()):  # until rows are streamed to a temporary file
        assert time.monotonic() < deadline
        time.sleep(0.01)
    book.abandon()
    # the process was not killed: it removed the rows it had streamed
    assert not any(spool.iterdir())
    assert not book.finish()  # nothing to finish once abandoned
    assert not book.xlsx_path.exists()
    book.add(lines, problems)  # nor to add to
    assert not book.xlsx_path.exists()


def test_plan_writes_the_workbook_itself_when_the_process_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise OSError("no space left on device")

    # (a forked process runs what its parent holds: the broken filling)
    monkeypatch.setattr(background_workbook, "_fill", broken)
    found = plan(tmp_path, write_export(tmp_path / "export.csv"))
    assert found["xlsx"] is not None
    assert read_back(found["xlsx"]) == read_back(found["csv"])
