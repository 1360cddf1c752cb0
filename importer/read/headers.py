"""Header cells and the spreadsheet artefacts undone in every cell.

``plan_columns`` turns the raw header row into the names the frames use;
``normalize_header`` is the key headers are matched by everywhere (mappings,
detection, ``Table.column``); ``unwrap_excel`` undoes Excel's keep-as-text
wrapper and the formula guard our own reject writer adds.
"""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

REJECT_COLUMNS = ("_row", "_stage", "_code", "_message", "_http_status", "_attempts")
# the sheets of rejects.xlsx: fed back, the rows are read from "Rejects"
SUMMARY_SHEET = "Summary"
REJECTS_SHEET = "Rejects"

# How plan.csv's header starts. A plan is what a run would do, not an export:
# read as one, its lead fields would become new leads under another source.
PLAN_FILE_START = ("row", "key", "lead_id", "action")


def is_plan_file(headers: list[str]) -> bool:
    """Whether a header is plan.csv's (``rg-import plan`` wrote the file)."""
    return tuple(normalize_header(h) for h in headers[: len(PLAN_FILE_START)]) == PLAN_FILE_START


# The characters a spreadsheet treats as the start of a formula; our reject
# writer puts a ' before a value starting with one, and we take it off again.
FORMULA_TRIGGERS = frozenset("=+-@\t\r")


_TEXT_FORMULA = re.compile(r'="((?:[^"]|"")*)"', re.DOTALL)


_CANDIDATE_STARTS = ("'", "=")


_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060\u00ad"), None)


def normalize_header(text: str) -> str:
    """The key a header is matched by: no BOM/zero-width chars, single spaces, casefolded."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_INVISIBLE).split()).casefold()


def unwrap_cell(value: str) -> str:
    if value[:1] == "'":
        # "'=x" -> "=x", and "''=x" -> "'=x": the writer guards a value that
        # already looks guarded, so exactly one quote comes off.
        first = value.lstrip("'")[:1]
        return value[1:] if first and first in FORMULA_TRIGGERS else value
    match = _TEXT_FORMULA.fullmatch(value)
    if match:
        return match.group(1).replace('""', '"')
    return value


def unwrap_excel(values: pd.Series) -> pd.Series:
    """Undo spreadsheet artefacts in a column of text cells.

    ``="00123"`` (Excel's keep-as-text trick) becomes ``00123``; a ``'`` in
    front of ``= + - @`` tab or CR (the formula-injection guard) is removed, one
    per cell (``''=x`` becomes ``'=x``). This inverts a writer that prefixes
    ``'`` to every value whose first character other than ``'`` is one of those.
    Returns ``values`` itself when nothing changes, else a new Series with the
    same index, name and dtype.
    """
    cells = values.to_numpy(dtype=object)
    # A single pass over the column as one string finds out whether any cell
    # could need work; it is several times faster than testing every cell.
    try:
        joined = "\x00" + "\x00".join(cells)
    except TypeError:  # a non-text cell: no shortcut, test every cell
        joined = "\x00'"
    if "\x00'" not in joined and "\x00=" not in joined:
        return values
    hits = [i for i, v in enumerate(cells) if isinstance(v, str) and v[:1] in _CANDIDATE_STARTS]
    out = cells.copy()
    changed = False
    for i in hits:
        new = unwrap_cell(cells[i])
        if new != cells[i]:
            out[i] = new
            changed = True
    if not changed:
        return values
    return pd.Series(out, index=values.index, name=values.name, dtype=values.dtype)


def plan_columns(
    raw_headers: list[str], *, keep_reject_columns: bool = False
) -> tuple[list[str], list[str], list[str], list[int]]:
    """Split raw header cells into (headers, unique column names, ignored, kept positions).

    A reject file's diagnostic columns (``REJECT_COLUMNS``) are ignored, unless
    ``keep_reject_columns`` (``rg-import review`` reads them).

    Header cells lose a BOM and surrounding whitespace, and Excel artefacts as
    in ``unwrap_excel``.
    Duplicates (compared as ``normalize_header`` does) become "Email (2)",
    "Email (3)"; an empty header becomes "Column N" (N its 1-based position).
    """
    headers: list[str] = []
    columns: list[str] = []
    ignored: list[str] = []
    kept: list[int] = []
    taken: set[str] = set()
    # Our reject writer guards header cells like any other, so unwrap them too.
    cleaned = [unwrap_cell(cell.replace("\ufeff", "").strip()) for cell in raw_headers]
    dropped = () if keep_reject_columns else REJECT_COLUMNS
    wanted = {normalize_header(c) for c in cleaned if c and c not in dropped}
    for position, cell in enumerate(cleaned):
        if cell in dropped:
            ignored.append(cell)
            continue
        base = cell or f"Column {position + 1}"
        name, n = base, 2
        # A generated name must not take a name that a later header really has.
        while normalize_header(name) in taken or (
            name != base and normalize_header(name) in wanted
        ):
            name, n = f"{base} ({n})", n + 1
        taken.add(normalize_header(name))
        headers.append(cell)
        columns.append(name)
        kept.append(position)
    return headers, columns, ignored, kept
