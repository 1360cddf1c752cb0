"""A plan.csv given as input is refused: it is what a run would do, not an export."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.errors import InputError
from importer.outputs.csv_files import PLAN_COLUMNS
from importer.read.table import open_table, peek_headers


def test_a_plan_csv_header_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.csv"
    path.write_text("\ufeff" + ",".join(PLAN_COLUMNS) + "\r\n2,k,,create" + "," * 22 + "\r\n")
    for read in (open_table, peek_headers):
        with pytest.raises(InputError, match=r"plan\.csv that rg-import plan wrote"):
            read(path)


def test_an_export_with_some_of_those_names_is_read(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("key,row,email\r\nk1,1,a@example.com\r\n")
    assert peek_headers(path) == ["key", "row", "email"]
