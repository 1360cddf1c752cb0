"""``Formatted``: a chunk's plan.csv and rejects.csv lines, made where it was checked."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Formatted:
    """The plan.csv and rejects.csv lines of a chunk, made where it was checked.

    The plan lines travel as one string (one object to pass between
    processes instead of one per row), with where each line ends and where
    its tail (the lead fields onwards, see ``PLAN_TAIL``) starts: a line
    redone once the duplicates across the file are known changes only its
    head, and the mapped values it showed need not travel at all.
    """

    plan: str  # one line per row, in order, joined
    plan_ends: np.ndarray  # offset in ``plan`` where each row's line ends
    tail_starts: np.ndarray  # offset in ``plan`` where each row's tail starts
    rejects: dict[int, str]  # row -> line, for the rows rejected then
    problems: dict[int, int]  # row -> how many problems it had then
    warned: dict[int, int]  # row -> how many warnings it had then

    @classmethod
    def of(
        cls,
        heads: list[str],
        tails: list[str],
        rejects: dict[int, str],
        problems: dict[int, int],
        warned: dict[int, int],
    ) -> Formatted:
        """From each row's head (``csv_lines`` of the head columns) and tail."""
        return cls(*_joined(heads, tails), rejects, problems, warned)

    def parts(self) -> tuple[list[str], list[str]]:
        """Each line's head (as given to ``of``) and tail."""
        ends = self.plan_ends.tolist()
        starts = [0, *ends[:-1]] if ends else []
        splits = self.tail_starts.tolist()
        text = self.plan
        heads = [text[a : b - 1] + "\r\n" for a, b in zip(starts, splits, strict=True)]
        tails = [text[a:b] for a, b in zip(splits, ends, strict=True)]
        return heads, tails

    def replace_heads(self, heads: dict[int, str], blank: dict[int, str]) -> None:
        """Put ``heads`` (position -> head) in place of the rows' heads, and the
        tails in ``blank`` (position -> tail) in place of theirs."""
        if not heads and not blank:
            return
        current, tails = self.parts()
        for position, head in heads.items():
            current[position] = head
        for position, tail in blank.items():
            tails[position] = tail
        self.plan, self.plan_ends, self.tail_starts = _joined(current, tails)


def _joined(heads: list[str], tails: list[str]) -> tuple[str, np.ndarray, np.ndarray]:
    """The lines (each head's line break made the separator before its tail)
    joined, where each one ends, and where each tail starts."""
    lines = [h[:-2] + "," + t for h, t in zip(heads, tails, strict=True)]
    n = len(lines)
    ends = np.cumsum(np.fromiter(map(len, lines), dtype=np.int64, count=n))
    tail_lengths = np.fromiter(map(len, tails), dtype=np.int64, count=n)
    return "".join(lines), ends, ends - tail_lengths
