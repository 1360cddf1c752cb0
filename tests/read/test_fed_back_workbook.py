"""A rejects.xlsx fed back: its rows are read from sheet Rejects, not from its summary.

The reader takes a workbook's first sheet, except a workbook laid out like
rejects.xlsx (sheets Summary and Rejects), whose rows are on sheet Rejects;
``--sheet`` still picks any sheet. The diagnostic columns are left out as in a
fed-back rejects.csv.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl

from importer.read.options import ReadOptions
from importer.read.table import open_table

DIAGNOSTICS = ["_row", "_stage", "_code", "_message"]


def workbook(path: Path, sheets: list[str]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name in sheets:
        sheet = book.create_sheet(name)
        if name == "Rejects":
            sheet.append(["Email 1", "ID", *DIAGNOSTICS])
            sheet.append(["a@@example.com", "7", "2", "validate", "invalid_email", "bad"])
        else:
            sheet.append(["Code", "Rows"])
            sheet.append([f"{name} code", 1])
    book.save(path)
    return path


def read(
    path: Path, sheet: str | None = None
) -> tuple[str | None, list[str], list[str], list[list[str]]]:
    with open_table(path, ReadOptions(sheet=sheet)) as table:
        rows = [list(map(str, r)) for f in table.chunks() for r in f.to_numpy().tolist()]
        return table.info.sheet, table.info.headers, table.info.ignored, rows


def test_the_rows_of_a_rejects_workbook_are_read_from_sheet_rejects(tmp_path: Path) -> None:
    for order in (["Summary", "Rejects"], ["Rejects", "Summary"]):
        path = workbook(tmp_path / f"{order[0]}.xlsx", order)
        assert read(path) == ("Rejects", ["Email 1", "ID"], DIAGNOSTICS, [["a@@example.com", "7"]])
    # named, any sheet is read
    assert read(path, "Summary")[0] == "Summary"


def test_another_workbook_is_read_from_its_first_sheet(tmp_path: Path) -> None:
    assert read(workbook(tmp_path / "a.xlsx", ["Summary", "Leads"]))[0] == "Summary"
    assert read(workbook(tmp_path / "b.xlsx", ["Leads", "Rejects"]))[0] == "Leads"
