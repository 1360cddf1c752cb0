"""reject_problems.json: what a piece of a spread run found wrong in its rejected rows.

rejects.xlsx marks the cells each problem is about, which rejects.csv does not
say. A run in one process keeps its rejected rows' problems in memory for its
workbook; a piece of a run spread over Dask tasks (``importer.scale``) writes
them here instead, in its run directory, and the run that joins the pieces'
rejects.csv reads them back for the one workbook of the whole file (then
removes the file: its messages quote the rows' values, personal data).
"""

from __future__ import annotations

import json
from pathlib import Path

from importer.models import Problem
from importer.outputs import private_files

NAME = "reject_problems.json"


def write_problems(path: Path, problems: dict[int, list[Problem]]) -> None:
    """Write the problems of each rejected row (0600, a new file)."""
    rows = {
        str(row): [[p.code, p.message, p.column] for p in found] for row, found in problems.items()
    }
    with private_files.open_private(path) as f:
        json.dump(rows, f, ensure_ascii=False)


def read_problems(path: Path) -> dict[int, list[Problem]]:
    """The problems ``write_problems`` wrote, by row."""
    with path.open(encoding="utf-8") as f:
        rows = json.load(f)
    return {int(row): [Problem(*p) for p in found] for row, found in rows.items()}
