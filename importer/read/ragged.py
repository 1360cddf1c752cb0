"""Rows with more or fewer fields than the header: read, kept, and rejected as ``ragged_row``.

The CSV parser pads a row that has fewer fields than the header (a download
cut mid-line) with empty cells, and stops at one that has more (a delimiter
inside a cell nobody quoted). Either way the row would be wrong: its cells sit
under the wrong headers, its key may be a different one. So the reader counts
every row's fields, keeps a ragged row with the cells it has (the fields past
the last column joined into the last cell, so rejects.csv loses nothing), and
the planner rejects it at the read stage with its text quoted.

Not ragged: a blank line; a row that lacks only fields under empty header
cells (a header ending in delimiters); a row whose extra fields are all empty
(a row ending in delimiters).

The verdicts travel with the frame the reader yields (in ``DataFrame.attrs``,
set only when there are any), from the reader to ``importer.plan.planner``.
"""

from __future__ import annotations

import pandas as pd

from importer import codes
from importer.models import Problem

_ATTR = "ragged_rows"
_SHOWN = 60  # characters of the row quoted in the message
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def named_width(headers: list[str]) -> int:
    """How many fields a row needs: up to the last header cell that is not empty."""
    named = [i for i, h in enumerate(headers) if h.replace("\ufeff", "").strip()]
    return named[-1] + 1 if named else 0


def joined_cells(fields: list[str], width: int, delimiter: str) -> list[str]:
    """A row's fields as ``width`` cells: missing ones empty, extra ones joined into the last."""
    if len(fields) <= width:
        return [*fields, *[""] * (width - len(fields))]
    return [*fields[: width - 1], delimiter.join(fields[width - 1 :])]


def problem(fields: int, width: int, text: str, delimiter: str, *, past: str = "") -> Problem:
    """The ``ragged_row`` problem of a row of ``fields`` fields under a header of ``width``.

    ``past``: what a workbook row has past the last column (a workbook has no delimiter).
    """
    shown = text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"
    if past:
        return Problem(
            codes.RAGGED_ROW,
            f"the row has {past} (the header row has {width} columns): {shown!r}; give that "
            "column a header or delete the stray cells (they are joined in the last cell here)",
        )
    said = f"the row has {fields} field{'s' if fields != 1 else ''} but the header row has {width}: {shown!r}"
    if fields < width:
        return Problem(
            codes.RAGGED_ROW,
            f"{said}; it looks cut short (a partial download?): complete the row, "
            "or export the file again",
        )
    name = _DELIMITER_NAMES.get(delimiter, repr(delimiter))
    return Problem(
        codes.RAGGED_ROW,
        f"{said}; a cell holding a {name} is probably not quoted: put quotes around that "
        "cell (the fields past the last column are joined in its cell here)",
    )


def attach(frame: pd.DataFrame, problems: dict[int, Problem]) -> pd.DataFrame:
    """Give ``frame`` the verdicts on its ragged rows (row number -> problem)."""
    if problems:
        frame.attrs[_ATTR] = problems
    else:
        frame.attrs.pop(_ATTR, None)
    return frame


def found(frame: pd.DataFrame) -> dict[int, Problem]:
    """The ragged rows among ``frame``'s rows (row number -> problem)."""
    problems: dict[int, Problem] | None = frame.attrs.get(_ATTR)
    if not problems:
        return {}
    index = frame.index
    return {row: p for row, p in problems.items() if row in index}
