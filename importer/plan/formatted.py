"""``Formatted``: a chunk's plan.csv and rejects.csv lines, made where it was checked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from importer.outputs.reasons import Reasons


@dataclass
class Formatted:
    """The plan.csv and rejects.csv lines of a chunk, made where it was checked,
    and its rejected rows tallied per code there (the parent only adds them up).

    The plan lines travel as one string (one object to pass between
    processes instead of one per row), with where each line ends.
    """

    plan: str  # one line per row, in order, joined
    plan_ends: np.ndarray  # offset in ``plan`` where each row's line ends
    rejects: dict[int, str]  # row -> line, for the rows rejected then
    problems: dict[int, int]  # row -> how many problems it had then
    warned: dict[int, int]  # row -> how many warnings it had then
    reasons: Reasons  # the rows rejected then, per code

    @classmethod
    def of(
        cls,
        cells: Sequence[Sequence[str]],
        rejects: dict[int, str],
        problems: dict[int, int],
        warned: dict[int, int],
        reasons: Reasons,
    ) -> Formatted:
        """From the cells of the plan.csv columns (``csv_cells``)."""
        n = len(cells[0]) if cells else 0
        if not n:
            return cls("", np.zeros(0, dtype=np.int64), rejects, problems, warned, reasons)
        # one join per line over all its cells, then one over the lines: the
        # fewest Python steps per row (the lines are most of plan.csv's cost)
        lines = list(map(",".join, zip(*cells, strict=True)))
        ends = np.cumsum(np.fromiter(map(len, lines), dtype=np.int64, count=n) + 2)
        return cls("\r\n".join(lines) + "\r\n", ends, rejects, problems, warned, reasons)

    def line(self, position: int) -> str:
        """The plan line of the row at ``position``."""
        start = int(self.plan_ends[position - 1]) if position else 0
        return self.plan[start : int(self.plan_ends[position])]

    def replace_plan_lines(self, lines: dict[int, str]) -> None:
        """Put ``lines`` (position -> line) in place of the rows' lines.

        Only the text between them is copied, not split line by line: a
        chunk has a few such rows among tens of thousands."""
        if not lines:
            return
        ends = self.plan_ends
        pieces: list[str] = []
        grown = np.zeros(len(ends), dtype=np.int64)
        at = 0
        for position in sorted(lines):
            start = int(ends[position - 1]) if position else 0
            pieces += [self.plan[at:start], lines[position]]
            at = int(ends[position])
            grown[position] = len(lines[position]) - (at - start)
        pieces.append(self.plan[at:])
        self.plan, self.plan_ends = "".join(pieces), ends + np.cumsum(grown)
