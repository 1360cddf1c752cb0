"""The pieces of a run's input, planned one by one; and the rows of those it never planned.

A run that stops early (refused credentials, the circuit breaker, Ctrl-C) plans
no more pieces, so a refused run ends at once on any size. Its rows still end
somewhere: ``unreached`` reads what is left of the file (parsed, not planned:
blank rows and footers are no rows) and hands out their row numbers, so
results.csv and the report count every input row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd

from importer.plan.planner import Planner
from importer.plan.rows import PlannedChunk

if TYPE_CHECKING:
    from importer.read.records import RecordBlock
    from importer.read.table import Table

__all__ = ["PlannedPieces"]


class PlannedPieces:
    """Iterates the planned pieces of ``table``; ``first`` plans the first ahead of the rest."""

    def __init__(self, planner: Planner, table: Table):
        self.planner, self.table = planner, table
        self._raw = table.pieces()
        self._ahead: PlannedChunk | None = None
        # the piece being planned, and the input's row count when it was read
        self._current: RecordBlock | pd.DataFrame | None = None
        self._rows_at = 0

    def first(self) -> bool:
        """Plan the first piece now (a file that fails in its first rows stops here); False if none."""
        self._ahead = self._plan_next()
        return self._ahead is not None

    def __iter__(self) -> Iterator[PlannedChunk]:
        return self

    def __next__(self) -> PlannedChunk:
        ahead, self._ahead = self._ahead, None
        planned = ahead if ahead is not None else self._plan_next()
        if planned is None:
            raise StopIteration
        return planned

    def _plan_next(self) -> PlannedChunk | None:
        piece = next(self._raw, None)
        if piece is None:
            return None
        self._current, self._rows_at = piece, self.table.info.rows
        planned = self.planner.plan_piece(self.table, piece)
        self._current = None
        return planned

    def unreached(self) -> Iterator[list[int]]:
        """The row numbers of every piece not handed out, piece by piece: the run stopped.

        A piece whose planning was cut short (Ctrl-C) is among them.
        """
        if self._ahead is not None:
            yield list(self._ahead.rows)
            self._ahead = None
        if self._current is not None:
            piece, self._current = self._current, None
            yield self._rows_of(piece, self._rows_at)
        for piece in self._raw:
            yield self._rows_of(piece, self.table.info.rows)

    def _rows_of(self, piece: RecordBlock | pd.DataFrame, rows_at: int) -> list[int]:
        """The rows of ``piece``; its blank rows and footers are counted as dropped, once."""
        if isinstance(piece, pd.DataFrame):
            return [int(r) for r in piece.index.tolist()]  # rows counted as they were read
        rows = [int(r) for r in self.table.parse(piece, count=False).index.tolist()]
        # a block counts all its records as rows when read, and parsing counts the
        # dropped ones; planning may have parsed (and counted) some of them already
        counted = rows_at - self.table.info.rows
        self.table.count_dropped(len(piece) - len(rows) - counted)
        return rows
