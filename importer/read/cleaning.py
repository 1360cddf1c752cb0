"""What the reading stage does to every raw frame before anyone sees its rows.

Columns get their names (a reject file's diagnostic columns left out), Excel
artefacts are undone, blank rows and footers are dropped, and the verdicts
that travel with rows (``importer.read.ragged``, ``importer.read.fed_back``)
stay with the rows kept. ``importer.read.table`` cleans the chunks it reads
and the blocks of records it parses with the same ``Cleaner``.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from importer.codes import DUPLICATE_KEY
from importer.read import fed_back as read_fed_back
from importer.read import ragged as read_ragged
from importer.read.headers import unwrap_cell, unwrap_excel
from importer.read.regex_guard import MAX_FOOTER_CELL


class Cleaner:
    """Cleans the raw frames of one file (positional columns, as its source reads them)."""

    def __init__(
        self,
        raw_headers: list[str],
        columns: list[str],
        kept: list[int],
        patterns: list[re.Pattern[str]],
        *,
        skip_blank_rows: bool,
        maybe_artefacts: bool,
    ):
        self._columns = columns
        self._kept = kept
        self._keep_all = len(kept) == len(raw_headers)
        # a reject file's _code and _message columns, read for its duplicates (see read_fed_back)
        cleaned = [unwrap_cell(c.replace("\ufeff", "").strip()) for c in raw_headers]
        self._diagnostics = {c: i for i, c in enumerate(cleaned) if c in ("_code", "_message")}
        self._footer = (
            re.compile("|".join(f"(?:{p.pattern})" for p in patterns)) if patterns else None
        )
        self._skip_blank_rows = skip_blank_rows
        self._maybe_artefacts = maybe_artefacts

    def clean(self, raw: pd.DataFrame, suspects: np.ndarray | None = None) -> pd.DataFrame:
        """Named columns, Excel artefacts undone, blank rows and footers dropped
        (the caller counts them).

        ``suspects``: positions of the only rows that may hold artefacts (None: any row).
        The verdicts on ragged rows (``importer.read.ragged``) stay with the frame.
        """
        ragged = read_ragged.found(raw)
        fed_back = self._fed_back_duplicates(raw)
        frame = raw if self._keep_all else raw.iloc[:, self._kept]
        frame.columns = pd.Index(self._columns, dtype=object)
        if suspects is not None:
            _unwrap_rows(frame, suspects)
        elif self._maybe_artefacts:
            _unwrap_all(frame)
        drop = self._dropped(frame)
        if drop.any():
            frame = frame.loc[~drop]
        if ragged:
            read_ragged.attach(frame, ragged)
        if fed_back:
            read_fed_back.attach(frame, fed_back)
        return frame

    def _dropped(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the blank rows (unless they are kept) and the footers."""
        drop = np.zeros(len(frame), dtype=bool)
        if self._skip_blank_rows:
            drop |= _blank_rows(frame)
        if self._footer is not None:
            matches = self._footer.fullmatch
            first = _first_filled(frame)
            # a footer is a short line: a long cell is never tried (bounds .*.*-like patterns)
            drop |= np.fromiter(
                (len(v) <= MAX_FOOTER_CELL and matches(v) is not None for v in first),
                dtype=bool,
                count=len(first),
            )
        return drop

    def _fed_back_duplicates(self, raw: pd.DataFrame) -> dict[int, tuple[str, int]]:
        """A reject file's rows rejected as duplicates (see ``importer.read.fed_back``)."""
        if len(self._diagnostics) < 2 or not len(raw):
            return {}
        codes = raw.iloc[:, self._diagnostics["_code"]].to_numpy(dtype=object)
        hits = [i for i, code in enumerate(codes) if DUPLICATE_KEY in code]
        if not hits:
            return {}
        messages = raw.iloc[:, self._diagnostics["_message"]].to_numpy(dtype=object)
        rows = raw.index.tolist()
        return read_fed_back.duplicates_in(
            [codes[i] for i in hits], [messages[i] for i in hits], [rows[i] for i in hits]
        )


def _unwrap_rows(frame: pd.DataFrame, suspects: np.ndarray) -> None:
    """Undo Excel artefacts in the rows at positions ``suspects`` only (in place).

    The fast way, for records whose raw bytes showed which few rows may hold them.
    """
    if not len(suspects):
        return
    some = frame.iloc[suspects]
    for position in range(frame.shape[1]):
        column = some.iloc[:, position]
        unwrapped = unwrap_excel(column)
        if unwrapped is not column:
            values = frame.iloc[:, position].to_numpy(dtype=object, copy=True)
            values[suspects] = unwrapped.to_numpy(dtype=object)
            frame.isetitem(position, pd.array(values, dtype=frame.dtypes.iloc[position]))


def _unwrap_all(frame: pd.DataFrame) -> None:
    """Undo Excel artefacts in every row (in place)."""
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        unwrapped = unwrap_excel(column)
        if unwrapped is not column:
            frame.isetitem(position, unwrapped.array)


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of rows whose cells are all ""; checks only rows still in doubt."""
    rows = np.arange(len(frame))
    for position in range(frame.shape[1]):
        if not len(rows):
            break
        cells = frame.iloc[:, position].to_numpy(dtype=object)[rows]
        rows = rows[cells == ""]
    mask = np.zeros(len(frame), dtype=bool)
    mask[rows] = True
    return mask


def _first_filled(frame: pd.DataFrame) -> np.ndarray:
    """The first non-empty cell of every row ("" for a blank row)."""
    first = np.full(len(frame), "", dtype=object)
    rows = np.arange(len(frame))
    for position in range(frame.shape[1]):
        if not len(rows):
            break
        cells = frame.iloc[:, position].to_numpy(dtype=object)[rows]
        filled = cells != ""
        first[rows[filled]] = cells[filled]
        rows = rows[~filled]
    return first
