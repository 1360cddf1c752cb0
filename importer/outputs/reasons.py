"""Reasons at a glance: rows per problem code, with one example row of each.

A reject or warning code is counted once per row (a row with two codes counts
under each, a row with the same code twice counts once), so the counts equal a
pivot of rejects.csv's ``_code`` column. The example of a code is its lowest
row: rows may be tallied out of order (a run's sends end in any order, a plan's
chunks are tallied where they were checked) and the example must not depend on it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any, Protocol


class Coded(Protocol):
    """A ``Problem`` or a ``RowWarning``: a code and a message."""

    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...


@dataclass
class Reasons:
    """Rows per code, with the lowest row of each code and its message."""

    rows: int = 0  # rows tallied
    by_code: Counter[str] = field(default_factory=Counter)
    examples: dict[str, tuple[int, str]] = field(default_factory=dict)  # code -> (row, message)

    def add_row(self, row: int, found: Sequence[Coded], already: int = 0) -> None:
        """Tally one row with its problems; ``already``: how many of ``found``
        were tallied for this row before (problems are only ever appended)."""
        if not already:
            self.rows += 1
        earlier = {p.code for p in found[:already]}
        for problem in found[already:]:
            code = problem.code
            if code in earlier:
                continue
            earlier.add(code)
            self.by_code[code] += 1
            example = self.examples.get(code)
            if example is None or row < example[0]:
                self.examples[code] = (row, problem.message)

    def merge(self, other: Reasons) -> None:
        """Add the rows tallied in ``other`` (other rows than this one's)."""
        self.rows += other.rows
        self.by_code.update(other.by_code)
        for code, example in other.examples.items():
            mine = self.examples.get(code)
            if mine is None or example[0] < mine[0]:
                self.examples[code] = example

    def ordered(self) -> list[tuple[str, int]]:
        """(code, rows), most frequent first, ties by code name."""
        return ordered(self.by_code)

    def as_json(self) -> dict[str, Any]:
        """``by_code`` (ordered) and ``example_by_code``, as report.json holds them."""
        codes = self.ordered()
        return {
            "by_code": dict(codes),
            "example_by_code": {
                code: {"row": self.examples[code][0] or None, "message": self.examples[code][1]}
                for code, _ in codes
                if code in self.examples
            },
        }


def ordered(counts: Counter[str] | dict[str, int]) -> list[tuple[str, int]]:
    """(code, rows), most frequent first, ties by code name."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def tally_warnings(reasons: Reasons, found: Sequence[Any]) -> None:
    """Tally ``RowWarning`` objects per row and code, in C-level passes: a file
    can warn on every row, and a loop per warning would cost a plan ~1 µs each."""
    if not found:
        return
    pairs = [(w.code, w.row or 0) for w in found]  # (no row: 0, before every row)
    # (code, row) -> the message of its first warning (the last one written wins)
    first = dict(zip(reversed(pairs), map(_MESSAGE, reversed(found)), strict=True))
    reasons.rows += len(set(map(_ROW, first)))
    reasons.by_code.update(map(_CODE, first))
    # code -> its lowest row (sorted descending: the lowest is written last)
    lowest = dict(sorted(first, reverse=True))
    for code, row in lowest.items():
        example = reasons.examples.get(code)
        if example is None or row < example[0]:
            reasons.examples[code] = (row, first[code, row])


_CODE, _ROW, _MESSAGE = itemgetter(0), itemgetter(1), attrgetter("message")
