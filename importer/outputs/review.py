"""``rg-import review``: a run's rejected rows read back, tallied per code.

The rows come from a reject file (rejects.csv, or the "Rejects" sheet of
rejects.xlsx, whose columns are the same) read by the reading stage with its
diagnostic columns kept. A run directory gives its rejects file, and its
report.json the warnings, the examples as the run wrote them and the mapping,
whose key columns identify each row. Counts follow ``importer.outputs.reasons``:
once per row and code, as report.json's ``rejects.by_code``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.errors import ImporterError, InputError
from importer.outputs.reasons import Reasons

REPORT, REPORT_HTML = "report.json", "report.html"
REJECT_FILES = ("rejects.csv", "rejects.xlsx")  # in a run directory, the first found is read
REJECTS_SHEET = "Rejects"  # the sheet of rejects.xlsx with the rows
WHAT = "give a run directory, a rejects.csv or a rejects.xlsx"


@dataclass(frozen=True)
class RejectedRow:
    """One row of a reject file: its row in the input, codes, message and key cells."""

    row: int
    codes: tuple[str, ...]
    message: str
    keys: tuple[str, ...]  # the cells of ``Review.key_columns``


@dataclass
class Review:
    """What ``rg-import review`` shows: the rejected rows and their reasons."""

    rejects_file: Path | None  # None: a run directory that rejected nothing
    run_dir: Path | None  # the directory holding report.json, if any
    rows: list[RejectedRow] = field(default_factory=list)
    rejects: Reasons = field(default_factory=Reasons)
    warnings: Reasons | None = None  # from report.json, when there is one
    key_columns: list[str] = field(default_factory=list)

    @property
    def report_html(self) -> Path | None:
        """The run's report.html, if it has one."""
        if self.run_dir is None or not (self.run_dir / REPORT_HTML).is_file():
            return None
        return self.run_dir / REPORT_HTML

    def rows_of(self, code: str) -> list[RejectedRow]:
        return [r for r in self.rows if code in r.codes]


def load_review(path: Path, *, sheet: str | None = None) -> Review:
    """The review of ``path``: a run directory, a rejects.csv or a rejects.xlsx.

    Raises InputError (exit 2) for anything else, and for a file that is not
    a reject file (no ``_code`` column). ``sheet``: the workbook's sheet of rows.
    """
    rejects_file, run_dir = _locate(path)
    report = _read_report(run_dir / REPORT) if run_dir is not None else None
    review = Review(rejects_file, run_dir)
    if report is not None:
        review.warnings = _reasons_of(report.get("warnings"))
    if rejects_file is not None:
        key_columns = _key_columns(report)
        _read_rejects(review, rejects_file, key_columns, sheet)
        _examples_as_written(review.rejects, report)
    return review


def _locate(path: Path) -> tuple[Path | None, Path | None]:
    """(the reject file, the run directory) that ``path`` names."""
    if path.is_dir():
        found = [path / name for name in REJECT_FILES if (path / name).is_file()]
        if not found and not (path / REPORT).is_file():
            raise InputError(
                f"is not a run directory (no {REPORT}, no rejects file); {WHAT}", path=str(path)
            )
        return (found[0] if found else None), path
    if not path.exists():
        raise InputError(f"does not exist; {WHAT}", path=str(path))
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise InputError(
            f"is neither a directory, a .csv nor an .xlsx file; {WHAT}", path=str(path)
        )
    # a reject file in its run directory: the report beside it names the key columns
    beside = path.parent
    return path, (beside if (beside / REPORT).is_file() else None)


def _read_report(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"cannot be read as a run report ({exc}); {WHAT}", path=str(path)
        ) from None
    return report if isinstance(report, dict) else None


def _reasons_of(shown: Any) -> Reasons | None:
    """``by_code`` and ``example_by_code`` of a report.json object, as ``Reasons``."""
    if not isinstance(shown, dict) or not isinstance(shown.get("by_code"), dict):
        return None
    reasons = Reasons()
    reasons.by_code.update({str(k): int(v) for k, v in shown["by_code"].items()})
    for code, example in (shown.get("example_by_code") or {}).items():
        if isinstance(example, dict):
            reasons.examples[str(code)] = (example.get("row") or 0, str(example.get("message", "")))
    return reasons


def _examples_as_written(rejects: Reasons, report: dict[str, Any] | None) -> None:
    """The run's own example of each code: its message names that code's problem
    alone, where a reject file's message joins all of the row's problems."""
    written = _reasons_of((report or {}).get("rejects"))
    if written is None:
        return
    for code, example in written.examples.items():
        if code in rejects.by_code:
            rejects.examples[code] = example


def _key_columns(report: dict[str, Any] | None) -> list[str]:
    """The key columns of the run's mapping (none when it is not known or not found)."""
    from importer.mapping.files import load_mapping

    mapping = (report or {}).get("mapping")
    if not isinstance(mapping, dict):
        return []
    # the file the run used, else the mapping of that name found now
    for name in (mapping.get("path"), mapping.get("name")):
        if not name:
            continue
        try:
            loaded = load_mapping(str(name))
        except (ImporterError, OSError):
            continue
        return [*loaded.key, *loaded.key_any]
    return []


def _read_rejects(review: Review, path: Path, key_columns: list[str], sheet: str | None) -> None:
    """Read the rows of a reject file into ``review`` and tally them per code."""
    from importer.models import Problem
    from importer.read.options import ReadOptions
    from importer.read.table import open_table

    workbook = path.suffix.lower() == ".xlsx"
    options = ReadOptions(
        keep_reject_columns=True, sheet=(sheet or REJECTS_SHEET) if workbook else None
    )
    with open_table(path, options) as table:
        code_column, message_column = table.column("_code"), table.column("_message")
        if code_column is None or message_column is None:
            raise InputError(
                f"has no _code and _message columns: it is not a reject file; {WHAT}",
                path=str(path),
            )
        row_column = table.column("_row")
        keys = [c for c in (table.column(k) for k in key_columns) if c is not None]
        review.key_columns = keys
        for frame in table.chunks():
            numbers = frame[row_column].tolist() if row_column else [""] * len(frame)
            for index, number, codes, message, cells in zip(
                frame.index.tolist(), numbers, frame[code_column].tolist(),
                frame[message_column].tolist(), frame[keys].itertuples(index=False, name=None),
                strict=True,
            ):  # fmt: skip
                row = int(number) if number.strip().isdigit() else int(index)
                found = tuple(dict.fromkeys(c.strip() for c in codes.split(";") if c.strip()))
                review.rows.append(RejectedRow(row, found, message, tuple(cells)))
                review.rejects.add_row(row, [Problem(c, message) for c in found])
