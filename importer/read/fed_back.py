"""Rows of a rejects.csv fed back: what their ``_code`` and ``_message`` columns said.

A reject file keeps the original columns and adds diagnostics (``_row``,
``_code``, ``_message``, ...), which the reader leaves out of the rows. One
verdict must survive the trip, though: a row rejected as ``duplicate_key``
repeats the key of an earlier row that was kept. Fed back unchanged, it would
be planned as an update of the kept row's lead and overwrite it (and the next
run of the original file would flip it back). So the reader notes, per row,
the key it repeated and the row kept; the planner rejects it again while its
key is still that one (an edited key makes it a new row).

The notes travel with the frame the reader yields (in ``DataFrame.attrs``, set
only when there are any), like the verdicts of ``importer.read.ragged``.
"""

from __future__ import annotations

import ast
import re

import pandas as pd

from importer.codes import DUPLICATE_KEY

_ATTR = "fed_back_duplicates"
# the message ``importer.plan.duplicates`` writes for a duplicate: same key 'K' as row N; ...
_SAME_KEY = re.compile(r"""same key ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*") as row (\d+)""")


def duplicates_in(
    codes: list[str], messages: list[str], rows: list[int]
) -> dict[int, tuple[str, int]]:
    """Rows whose ``_code`` includes duplicate_key: row -> (key repeated, row kept)."""
    found: dict[int, tuple[str, int]] = {}
    for row, code, message in zip(rows, codes, messages, strict=True):
        if DUPLICATE_KEY not in code.split(";"):
            continue
        match = _SAME_KEY.search(message)
        if match is None:
            continue  # the message was edited away: nothing to go by
        try:
            key = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            continue
        found[row] = (str(key), int(match.group(2)))
    return found


def attach(frame: pd.DataFrame, found: dict[int, tuple[str, int]]) -> pd.DataFrame:
    if found:
        frame.attrs[_ATTR] = found
    else:
        frame.attrs.pop(_ATTR, None)
    return frame


def found(frame: pd.DataFrame) -> dict[int, tuple[str, int]]:
    """The fed-back duplicates among ``frame``'s rows: row -> (key repeated, row kept)."""
    notes: dict[int, tuple[str, int]] | None = frame.attrs.get(_ATTR)
    if not notes:
        return {}
    index = frame.index
    return {row: note for row, note in notes.items() if row in index}
