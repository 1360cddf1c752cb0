"""A run spread over Dask workers writes the files of the whole file that a run in one
process writes: rejects.xlsx (its cells marked) and missing.csv (what vanished).

The same nights are run twice into one PostgreSQL ledger, in one process for one site and
on ``dask-local`` workers for another: the files must say the same things.
"""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from importer.cli.main import main
from tests.send.test_run import write_people

distributed = pytest.importorskip("distributed")
openpyxl = pytest.importorskip("openpyxl")

pytestmark = pytest.mark.slow

DROPPED = range(20, 60)  # the data rows the second night's export no longer holds


def night(
    people: Path, site: str, ledger: str, runs: Path, capsys: pytest.CaptureFixture[str],
    *spread: str,
) -> dict[str, Any]:  # fmt: skip
    """One ``rg-import run`` of ``people`` for ``site``; its report."""
    with pytest.raises(SystemExit):
        main(["run", str(people), "--mapping", "followupboss", "--site", site, "--yes", "--json",
              "--ledger", ledger, "--runs-dir", str(runs), *spread])  # fmt: skip
    return json.loads(capsys.readouterr().out)


def without_rows(source: Path, target: Path, dropped: range) -> Path:
    """``source`` without the data records numbered ``dropped`` (0: the first)."""
    with source.open(encoding="utf-8-sig", newline="") as f:
        header, *records = list(csv.reader(f))
    with target.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *(r for n, r in enumerate(records) if n not in dropped)])
    return target


def workbook(path: str) -> list[tuple[Any, ...]]:
    """The rows of rejects.xlsx's sheet of rejects, by ``_row``, each cell with its value,
    its fill and its comment (what marks the cells a problem is about)."""
    sheet = openpyxl.load_workbook(path)["Rejects"]
    header, *rows = list(sheet.iter_rows())
    names = [c.value for c in header]
    marked = [tuple(_marked(c) for c in row) for row in rows]
    return [tuple(names), *sorted(marked, key=lambda r: int(r[names.index("_row")][0]))]


def _marked(cell: Any) -> tuple[Any, Any, Any]:
    fill = cell.fill.fgColor.rgb if cell.fill and cell.fill.fill_type else None
    return cell.value, fill, cell.comment.text if cell.comment else None


def missing_keys(report: dict[str, Any]) -> list[str]:
    with Path(report["missing_file"]).open(encoding="utf-8-sig", newline="") as f:
        return sorted(row["key"] for row in csv.DictReader(f))


def test_a_dask_run_writes_rejects_xlsx_and_missing_csv_like_a_run_in_one_process(
    sandbox_env: object, postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_people(tmp_path / "people.csv", 600, seed=5, dirty_share=0.05)
    second = without_rows(first, tmp_path / "people-2.csv", DROPPED)
    here, spread = str(uuid.uuid4()), str(uuid.uuid4())
    dask = ("--executor", "dask-local", "--processes", "2")

    one = night(first, here, postgres_url, tmp_path / "runs", capsys)
    pieces = night(first, spread, postgres_url, tmp_path / "runs", capsys, *dask)
    assert len(list((Path(pieces["out_dir"]) / "pieces").iterdir())) > 1  # sent in pieces
    assert one["leads"]["rejected"] == pieces["leads"]["rejected"] > 0
    assert pieces["rejects_workbook"] == str(Path(pieces["out_dir"]) / "rejects.xlsx")
    assert workbook(pieces["rejects_workbook"]) == workbook(one["rejects_workbook"])
    assert one["missing_since_last_run"] == pieces["missing_since_last_run"] == 0
    # the pieces' own copies of their rows' problems are gone (they quote the rows' values)
    assert not list(Path(pieces["out_dir"]).glob("pieces/*/reject_problems.json"))

    one = night(second, here, postgres_url, tmp_path / "runs", capsys)
    pieces = night(second, spread, postgres_url, tmp_path / "runs", capsys, *dask)
    # every row dropped that was a lead is missing; the rejected ones never were leads
    assert 0 < one["missing_since_last_run"] <= len(DROPPED)
    assert pieces["missing_since_last_run"] == one["missing_since_last_run"]
    assert missing_keys(pieces) == missing_keys(one)
    assert (Path(pieces["missing_file"]).stat().st_mode & 0o777) == 0o600


def test_a_dask_run_with_no_xlsx_writes_no_workbook(
    sandbox_env: object, postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    people = write_people(tmp_path / "people.csv", 300, seed=6, dirty_share=0.05)
    report = night(people, str(uuid.uuid4()), postgres_url, tmp_path / "runs", capsys,
                   "--executor", "dask-local", "--processes", "2", "--no-xlsx")  # fmt: skip
    assert report["leads"]["rejected"] > 0 and report["rejects_workbook"] is None
    assert not list(Path(report["out_dir"]).rglob("*.xlsx"))
    assert not list(Path(report["out_dir"]).rglob("reject_problems.json"))
