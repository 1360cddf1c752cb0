"""Whole-column string helpers behind the value normalisers (internal).

The normalisers get whole pandas Series (a chunk is 50,000 cells) of Python
strings. A per-cell Python operation costs around 0.1 µs and a regex call
around 0.7 µs on the target machine, so a cell can afford only a handful of
them. The helpers here let the normalisers work on a column at once instead:
C-level string methods on one joined string (``str.translate``,
``str.find``, ``str.split``), and numpy on its code points (``Packed``).
Per-cell Python is left to the few values that need it, each distinct value
once (``map_unique``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd

SEP = "\x00"  # joins cells; cleaned text never contains control characters
_PADDING = 64

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def texts(s: pd.Series) -> list[str]:
    """The cells of ``s`` as a list of str: missing cells become "", other
    non-str cells (numbers read without ``dtype=str``) their ``str()``."""
    values = s.tolist()
    if isinstance(s.dtype, pd.StringDtype) and not s.hasnans:
        return values
    return [v if type(v) is str else _as_text(v) for v in values]


def distinct(s: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(codes, uniques): the distinct cells of ``s`` as str (see ``texts``) and,
    per cell, the index of its value in them. For columns that repeat a lot."""
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    return codes, [v if type(v) is str else _as_text(v) for v in uniques.tolist()]


def take(per_unique: Sequence[T], codes: np.ndarray) -> list[T]:
    """Expand results computed per distinct value back to one per cell."""
    table = np.empty(len(per_unique), dtype=object)
    table[:] = per_unique
    return table[codes].tolist()


def _as_text(value: object) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value if isinstance(value, str) else str(value)


def like(s: pd.Series, values: Sequence[object]) -> pd.Series:
    """A text Series on the index of ``s``: str dtype when ``s`` has it, else object."""
    dtype = s.dtype if isinstance(s.dtype, pd.StringDtype) else object
    return pd.Series(values, index=s.index, dtype=dtype, name=s.name)


def flags(s: pd.Series, mask: np.ndarray | Sequence[bool]) -> pd.Series:
    """A bool Series on the index of ``s``."""
    return pd.Series(np.asarray(mask, dtype=bool), index=s.index, name=s.name)


def objects(s: pd.Series, values: Sequence[object]) -> pd.Series:
    """An object Series (e.g. of lists) on the index of ``s``."""
    return pd.Series(list(values), index=s.index, dtype=object, name=s.name)


def map_unique(values: Iterable[K], fn: Callable[[K], T]) -> list[T]:
    """``[fn(v) for v in values]``, calling ``fn`` once per distinct value."""
    values = list(values)
    cache = {v: fn(v) for v in dict.fromkeys(values)}
    return [cache[v] for v in values]


def find_all(text: str, needle: str) -> list[int]:
    """Start offsets of every occurrence of ``needle`` in ``text`` (overlapping)."""
    found = []
    at = text.find(needle)
    while at >= 0:
        found.append(at)
        at = text.find(needle, at + 1)
    return found


def cells_at(text: str, positions: Iterable[int]) -> list[int]:
    """For a ``SEP``-joined text that starts with ``SEP``, the cell index of
    each position (sorted ascending); a position on a separator belongs to
    the cell that follows it."""
    cells = []
    cell, scanned = -1, 0
    for pos in positions:
        cell += text.count(SEP, scanned, pos + 1)
        scanned = pos + 1
        cells.append(cell)
    return cells


@dataclass(frozen=True)
class Packed:
    """A column joined with ``SEP`` into one string, with its code points.

    Cell ``i`` is ``text[starts[i]:starts[i] + lens[i]]`` and occupies the same
    positions in ``cp`` (one uint32 per character), so numpy can look at every
    character of every cell at once.
    """

    text: str
    cp: np.ndarray  # followed by _PADDING zeros
    starts: np.ndarray
    lens: np.ndarray
    size: int  # len(text)

    def count(self, mask: np.ndarray) -> np.ndarray:
        """Per cell, how many of its characters ``mask`` (a bool array over ``cp``) marks."""
        running = np.zeros(len(mask) + 1, dtype=np.int64)
        np.cumsum(mask, out=running[1:])
        return running[self.starts + self.lens] - running[self.starts]

    def cell_at(self, positions: Sequence[int] | np.ndarray) -> np.ndarray:
        """The cell index of each text position (a separator belongs to the cell before it)."""
        return np.searchsorted(self.starts, np.asarray(positions, dtype=np.int64), side="right") - 1

    def block(self, rows: np.ndarray, width: int, skip: np.ndarray | int = 0) -> np.ndarray:
        """(len(rows), width) code points: ``width`` characters of each cell in
        ``rows``, from ``skip`` characters after its start (zeros past the end
        of the column; ``skip + width`` at most 64 past it)."""
        if width == 0 or not len(rows):
            return np.zeros((len(rows), width), dtype=np.uint32)
        windows = np.lib.stride_tricks.sliding_window_view(self.cp, width)
        return windows[self.starts[rows] + skip]

    def char(self, offset: int) -> np.ndarray:
        """Per cell, the code point at ``offset`` (< 64) from its start (0 past the end)."""
        return np.where(offset < self.lens, self.cp[self.starts + offset], 0)


def pack(values: Sequence[str]) -> Packed:
    """Pack cells (which must not contain ``SEP``) for whole-column work."""
    return pack_text(SEP.join(values), len(values))


def pack_text(text: str, cells: int) -> Packed:
    """``Packed`` for ``cells`` cells already joined with ``SEP``."""
    size = len(text)
    # Zero padding lets ``block`` and ``char`` read past the last cell.
    cp = np.frombuffer(
        (text + SEP * _PADDING).encode("utf-32-le", "surrogatepass"), dtype=np.uint32
    )
    starts = np.zeros(cells, dtype=np.int64)
    ends = np.full(cells, size, dtype=np.int64)
    if cells > 1:
        separators = np.flatnonzero(cp[:size] == 0)
        if len(separators) != cells - 1:
            raise ValueError("a cell contains the separator character")
        starts[1:] = separators + 1
        ends[:-1] = separators
    return Packed(text, cp, starts, ends - starts, size)


def digits_value(matrix: np.ndarray) -> np.ndarray:
    """Rows of ASCII-digit code points read as decimal integers."""
    width = matrix.shape[1]
    if width == 0:
        return np.zeros(matrix.shape[0], dtype=np.int64)
    weights = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (matrix.astype(np.int64) - 48) @ weights


def strings_of(matrix: np.ndarray) -> list[str]:
    """Rows of a 2-D uint32 code-point array as Python strings."""
    if matrix.shape[0] == 0:
        return []
    width = matrix.shape[1]
    return np.ascontiguousarray(matrix, dtype=np.uint32).view(f"<U{width}").ravel().tolist()
