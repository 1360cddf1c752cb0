"""A deterministic check that a ``drop_rows_matching`` pattern cannot backtrack for ever.

Python's ``re`` backtracks: ``(a+)+$`` against thirty ``a`` and a ``b`` takes
longer than anyone waits. Running each match with a time budget would need a
thread or process per cell; instead a pattern is refused when it has a
quantifier of variable length inside another repeated one (the shape of every
exponential case: ``(a+)+``, ``(\\w*\\s?)*``, ``(x|x?)+``), or alternatives
that can start alike inside a repeated group (``(a|ab)*``). Possessive
quantifiers (``a++``) and atomic groups (``(?>...)``) never backtrack, so they
are allowed anywhere. Polynomial cases (``.*.*.*``) are bounded by the reader,
which matches only cells of at most ``MAX_FOOTER_CELL`` characters.
"""

from __future__ import annotations

from re import _constants, _parser  # type: ignore[attr-defined]
from typing import Any

# A footer line ("Grand Totals (1,234 records)") is short; a longer cell is never one.
MAX_FOOTER_CELL = 200

SAFER = "write it without repeating a group that holds a quantifier, or make the inner one possessive (a++) or atomic ((?>...))"

_REPEATS = (_constants.MAX_REPEAT, _constants.MIN_REPEAT)


def nested_quantifier(pattern: str) -> str | None:
    """The part of ``pattern`` that can backtrack exponentially, or None when there is none.

    ``pattern`` must compile (check that first).
    """
    return _walk(_parser.parse(pattern), repeated=False)


def _walk(items: Any, *, repeated: bool) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            low, high, inner = av
            varies = low != high
            if repeated and varies:
                return "a repeated group holds a quantifier (like (a+)+)"
            if found := _walk(inner, repeated=repeated or high > 1):
                return found
        elif op is _constants.SUBPATTERN:
            if found := _walk(av[3], repeated=repeated):
                return found
        elif op is _constants.BRANCH:
            for branch in av[1]:
                if found := _walk(branch, repeated=repeated):
                    return found
            if repeated and not _distinct_starts(av[1]):
                return "a repeated group has alternatives that can start alike (like (a|ab)+)"
        elif op in (_constants.ASSERT, _constants.ASSERT_NOT) and (
            found := _walk(av[1], repeated=repeated)
        ):
            return found
        # POSSESSIVE_REPEAT and ATOMIC_GROUP never backtrack: nothing inside them counts
    return None


def _distinct_starts(branches: list[Any]) -> bool:
    """True when every alternative starts with its own literal character (so one is tried)."""
    starts = []
    for branch in branches:
        if not branch or branch[0][0] is not _constants.LITERAL:
            return False
        starts.append(branch[0][1])
    return len(set(starts)) == len(starts)
