"""rejects.xlsx (importer.outputs.reject_workbook): the rows of rejects.csv, the bad cells marked.

The workbook holds exactly rejects.csv's rows and columns as text (a zip
``02134`` stays text, a value starting with ``=`` is a string, never a
formula), reads back through the reader exactly as the CSV does, marks the
cell each problem is about (a whole-row problem marks the row), and opens on
a summary of the codes.
"""

from __future__ import annotations

import csv
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest

from importer import codes
from importer.mapping.files import load_mapping
from importer.models import Problem
from importer.outputs.problem_cells import ProblemCells
from importer.outputs.reject_workbook import write_reject_workbook
from importer.plan.plan_file import PlanRequest, plan_file
from importer.read.table import open_table
from tests.cli.test_cli import invoke

HEADER = [
    "First Name",
    "Last Name",
    "Email 1",
    "Phone 1",
    "Address 1 - Zip",
    "Date Added",
    "Custom",
    "ID",
]
# values a spreadsheet would turn into something else, or run: each must come back as it was
TRICKY = [
    "02134", "0808 157 0192", "=1+1", '=HYPERLINK("http://x.test","click")', "+44 20 7946 0958",
    "-5", "@SUM(A1)", '="007"', "'=x", "''=y", "a_x000B_b", "vertical\x0btab", "two\nlines",
    "  padded  ", "Zoë Ñandú", "1e5", "2024-03-15", "TRUE",
]  # fmt: skip


def _rows() -> list[list[str]]:
    rows = [["Ann", "Lee", "ann@example.com", "", "", "", "", "100"]]
    for i, value in enumerate(TRICKY):  # rejected for their email, each with a tricky value
        rows.append([f"P{i}", "Lee", f"p{i}@@example.com", "", "02134", "", value, str(200 + i)])
    rows.append(["", "", "", "", "", "", "nobody", "300"])  # missing_contact: the whole row
    rows.append(["Bo", "Ray", "bo@@example.com", "", "", "32/13/2024", "", "301"])  # two codes
    rows.append(
        ["Cy", "Lee", "cy@example.com", "", "", "", "", "100"]
    )  # duplicate_key: ID of row 2
    return rows


def write_export(path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADER, *_rows()])
    return path


def plan(tmp_path: Path, source: Path, name: str = "out", **kw: object) -> dict[str, Path | None]:
    result = plan_file(
        PlanRequest(input=source, mapping=load_mapping("followupboss"), out=tmp_path / name, **kw)  # type: ignore[arg-type]
    )
    return {"csv": result.rejects_file, "xlsx": result.rejects_workbook}


@pytest.fixture
def planned(tmp_path: Path) -> dict[str, Path | None]:
    return plan(tmp_path, write_export(tmp_path / "export.csv"))


def read_back(path: Path) -> tuple[list[str], list[str], list[tuple[int, list[str]]]]:
    """What ``plan`` or ``run`` would read from ``path``: headers, ignored columns, rows."""
    with open_table(path) as table:
        rows = [
            (int(n), list(map(str, r)))
            for f in table.chunks()
            for n, r in zip(f.index, f.to_numpy().tolist(), strict=True)
        ]
        return table.info.headers, table.info.ignored, rows


def test_the_workbook_reads_back_exactly_as_rejects_csv(
    planned: dict[str, Path], tmp_path: Path
) -> None:
    from_csv, from_xlsx = read_back(planned["csv"]), read_back(planned["xlsx"])
    assert from_xlsx == from_csv
    headers, ignored, rows = from_xlsx
    assert headers == HEADER and ignored == ["_row", "_stage", "_code", "_message"]
    # every tricky value as the export itself read (="007" is Excel's text wrapper: 007)
    _, _, exported = read_back(tmp_path / "export.csv")
    tricky = [r[6] for _, r in exported[1 : 1 + len(TRICKY)]]
    assert [r[6] for _, r in rows[: len(TRICKY)]] == tricky
    assert tricky[:3] == TRICKY[:3] and "vertical\x0btab" in tricky and "a_x000B_b" in tricky
    assert {r[4] for _, r in rows[: len(TRICKY)]} == {"02134"}


def test_every_cell_is_text_and_none_is_a_formula(planned: dict[str, Path]) -> None:
    with zipfile.ZipFile(planned["xlsx"]) as package:
        sheets = [n for n in package.namelist() if n.startswith("xl/worksheets/sheet")]
        xml = "".join(package.read(n).decode() for n in sheets)
    assert "<f>" not in xml and "<f " not in xml
    sheet = openpyxl.load_workbook(planned["xlsx"])["Rejects"]
    kinds = {c.data_type for row in sheet.iter_rows() for c in row if c.value is not None}
    assert kinds == {"s"}
    custom = HEADER.index("Custom") + 1
    # (="007" aside: the reader takes it for Excel's text wrapper and reads 007)
    wanted = {i: v for i, v in enumerate(TRICKY) if v[0] in "=+-@" and v != '="007"'}
    formula_like = [sheet.cell(row=2 + i, column=custom) for i in wanted]
    assert [c.value for c in formula_like] == list(wanted.values())
    # marked the way Excel marks a typed '=x: edited, the cell stays text
    assert all(c.quotePrefix for c in formula_like)


def test_the_workbook_has_the_rows_and_columns_of_rejects_csv(planned: dict[str, Path]) -> None:
    with open(planned["csv"], encoding="utf-8-sig", newline="") as f:
        csv_rows = list(csv.reader(f))
    sheet = openpyxl.load_workbook(planned["xlsx"])["Rejects"]
    values = [
        ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
    ]
    assert values[0] == csv_rows[0] == [*HEADER, "_row", "_stage", "_code", "_message"]
    assert len(values) == len(csv_rows)
    diagnostics = slice(len(HEADER), None)
    assert [v[diagnostics] for v in values] == [r[diagnostics] for r in csv_rows]


def _comment(cell: openpyxl.cell.Cell) -> str | None:
    return cell.comment.text if cell.comment else None


def test_each_problem_cell_is_filled_and_says_what_is_wrong(planned: dict[str, Path]) -> None:
    sheet = openpyxl.load_workbook(planned["xlsx"])["Rejects"]
    columns = {c.value: c.column for c in sheet[1]}
    by_id = {row[columns["ID"] - 1].value: row[0].row for row in sheet.iter_rows(min_row=2)}

    def cell(key: str, column: str) -> openpyxl.cell.Cell:
        return sheet.cell(row=by_id[key], column=columns[column])

    email = cell("200", "Email 1")
    assert email.fill.fgColor.rgb.endswith("FFC7CE")
    assert (
        _comment(email) == "invalid_email: Email 1 'p0@@example.com' is not a valid email address"
    )
    assert _comment(cell("200", "First Name")) is None and cell("200", "_code").comment is None
    # a row with two problems marks both cells
    assert _comment(cell("301", "Date Added")).startswith("invalid_date: Date Added '32/13/2024'")
    assert _comment(cell("301", "Email 1")).startswith("invalid_email: ")
    # whole-row problems: the row is filled, the _code cell says why
    for key, code in (("300", codes.MISSING_CONTACT), ("100", codes.DUPLICATE_KEY)):
        row = by_id[key]
        assert sheet.row_dimensions[row].fill.fgColor.rgb.endswith("FDE9D9")
        assert _comment(cell(key, "_code")).startswith(f"{code}: ")
    assert sheet.row_dimensions[by_id["200"]].fill is None or not sheet.row_dimensions[
        by_id["200"]
    ].fill.fgColor.rgb.endswith("FDE9D9")
    assert sheet.freeze_panes == "A2"
    assert sheet.column_dimensions["A"].width >= len("First Name")
    assert sheet.column_dimensions[openpyxl.utils.get_column_letter(columns["_message"])].width > 40


def test_the_summary_comes_first_with_the_codes_most_frequent_first(
    planned: dict[str, Path],
) -> None:
    book = openpyxl.load_workbook(planned["xlsx"])
    assert book.sheetnames == ["Summary", "Rejects"]
    rows = list(book["Summary"].iter_rows(values_only=True))
    assert rows[0] == ("Code", "Rows", "Meaning", "Example row", "Example message")
    table = [r for r in rows[1:] if r[0] and r[0].islower()]
    # per row and per code: row 22 (Bo) counts under invalid_email and invalid_date
    assert [(r[0], r[1]) for r in table] == [
        (codes.INVALID_EMAIL, len(TRICKY) + 1), (codes.DUPLICATE_KEY, 1), (codes.INVALID_DATE, 1),
        (codes.MISSING_CONTACT, 1),
    ]  # fmt: skip
    first = table[0]
    assert first[2] == codes.describe(codes.INVALID_EMAIL).meaning
    assert (first[3], first[4]) == ("3", "Email 1 'p0@@example.com' is not a valid email address")
    assert book["Summary"]["D2"].hyperlink.location == "'Rejects'!A2"
    assert ("Rejected rows", len(TRICKY) + 3) in [r[:2] for r in rows]


def test_the_workbook_is_private_and_only_written_when_there_are_rejects(
    planned: dict[str, Path], tmp_path: Path
) -> None:
    assert stat.S_IMODE(planned["xlsx"].stat().st_mode) == 0o600
    assert planned["xlsx"] == planned["csv"].with_suffix(".xlsx")
    clean = tmp_path / "clean.csv"
    clean.write_text(",".join(HEADER) + "\nAnn,Lee,ann@example.com,,,,,1\n", encoding="utf-8")
    assert plan(tmp_path, clean, "clean") == {"csv": None, "xlsx": None}
    assert not (tmp_path / "clean" / "rejects.xlsx").exists()


def test_no_xlsx_leaves_the_workbook_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_export(tmp_path / "export.csv")
    code, out, _ = invoke(
        capsys, "plan", str(source), "-m", "followupboss", "--out", str(tmp_path / "a"), "--no-xlsx"
    )
    assert code == 3 and (tmp_path / "a" / "rejects.csv").exists()
    assert not (tmp_path / "a" / "rejects.xlsx").exists() and "rejects.xlsx" not in out
    code, out, _ = invoke(
        capsys, "plan", str(source), "-m", "followupboss", "--out", str(tmp_path / "b")
    )
    assert code == 3 and (tmp_path / "b" / "rejects.xlsx").exists()
    assert f"{tmp_path / 'b' / 'rejects.xlsx'}  (the same rows, each bad cell marked)" in out


def test_too_many_rejects_for_a_workbook_leave_it_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importer.plan.plan_file as plan_module

    monkeypatch.setattr(plan_module, "REJECT_WORKBOOK_MAX_ROWS", 3)
    found = plan(tmp_path, write_export(tmp_path / "export.csv"))
    assert found["csv"] is not None and found["xlsx"] is None


def test_a_half_written_workbook_is_removed(
    planned: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # openpyxl streams its sheets to the temp folder: a folder of this test's own, so the
    # workbooks other test processes write meanwhile are not taken for this one's leftovers
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    target = tmp_path / "again.xlsx"
    cells = ProblemCells(HEADER, load_mapping("followupboss"))
    broken = tmp_path / "broken.csv"
    broken.write_text(
        ",".join([*HEADER, "_row", "_stage", "_code", "_message"]) + "\n", encoding="utf-8"
    )
    with open(broken, "a", encoding="utf-8") as f:
        f.write("a,b,c\n")  # a row shorter than its header: writing it fails part-way
    with pytest.raises(IndexError):
        write_reject_workbook(broken, target, {}, cells)
    assert not target.exists()
    assert list(spool.iterdir()) == []  # no lead data left in openpyxl's sheet streams


# --------------------------------------------------------------------------- which cell


def test_a_field_named_by_a_check_is_found_in_the_column_it_was_read_from() -> None:
    headers = ["First Name", "Email 1", "Email 2", "Phone 1", "Phone 2", "Date Added", "ID"]
    cells = ProblemCells(headers, load_mapping("followupboss"))
    row = ["Ann", "", "x@y", "", "555", "2024", "1"]
    # the schema checks name the Real Geeks field; the row's value came from its second column
    assert cells.position(Problem(codes.INVALID_EMAIL, "email 'x@y' ...", "email"), row) == 2
    assert cells.position(Problem(codes.INVALID_PHONE, "phone '555' ...", "phone"), row) == 4
    assert cells.position(Problem(codes.INVALID_DATE, "created '2024' ...", "created"), row) == 5
    # the mapping names the header itself; whole-row problems name none
    assert cells.position(Problem(codes.INVALID_EMAIL, "Email 2 ...", "Email 2"), row) == 2
    assert cells.position(Problem(codes.MISSING_CONTACT, "no contact details"), row) is None
    assert cells.position(Problem(codes.DUPLICATE_KEY, "same key", None), row) is None
    assert cells.position(Problem(codes.INVALID_VALUE, "x", "not a column"), row) is None


def test_the_workbook_library_is_loaded_only_for_rejects(tmp_path: Path) -> None:
    clean = tmp_path / "clean.csv"
    clean.write_text(",".join(HEADER) + "\nAnn,Lee,ann@example.com,,,,,1\n", encoding="utf-8")
    code = (
        "import sys\nfrom pathlib import Path\n"
        "from importer.cli.main import main\n"
        "from importer.mapping.files import load_mapping\n"
        "from importer.plan.plan_file import PlanRequest, plan_file\n"
        "import importer.send.run\n"
        f"plan_file(PlanRequest(input=Path({str(clean)!r}), mapping=load_mapping('followupboss'),"
        f" out=Path({str(tmp_path / 'o')!r})))\n"
        "print('openpyxl' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
