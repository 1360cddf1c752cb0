"""Whole numbers from spreadsheet text: prices, bedroom and bathroom counts.

Accepted: digits with an optional sign, thousands commas in groups of three
("450,000"), a currency symbol ($ € £ ¥) before or after, a decimal part
(".00"), and accounting negatives "(450)". Refused: other text, E-notation,
misplaced commas ("4,50"). Each distinct cell is read once.

* ``to_integer`` needs the decimal part to be zero: "2.0" → "2", "2.5" is invalid.
* ``floor_integer`` drops the fraction: "2.5" → "2" (full baths).
* ``half_part`` is "1" when there is any fraction and "0" when not: "2.5" →
  "1", "2.75" → "1", "2" → "0" (half baths; MLS data writes 2½ baths as 2.5,
  and some "2.1" for two full and one half, which also gives "1").
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from importer.normalize.column_text import distinct, flags, like, take
from importer.normalize.text import Cleaned, clean_values

_NUMBER = re.compile(
    r"(?P<sign>[+-]?)(?P<whole>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<fraction>\d*))?", re.ASCII
)
_CURRENCY = "$€£¥"


def parse_decimal(text: str) -> tuple[bool, int, bool] | None:
    """(negative, whole part, has a non-zero fraction) of a cleaned cell, or None."""
    negative = False
    if text.startswith("(") and text.endswith(")"):
        text, negative = text[1:-1], True
    text = text.strip().strip(_CURRENCY).strip()
    if text[:1] in "+-" and text[1:2] in _CURRENCY:
        text = text[0] + text[2:].lstrip()  # "-$5"
    found = _NUMBER.fullmatch(text)
    if not found or not (found.group("whole") or found.group("fraction")):
        return None
    if found.group("sign") == "-":
        if negative:
            return None  # "(-5)"
        negative = True
    whole = int(found.group("whole").replace(",", "") or "0")
    fraction = found.group("fraction") or ""
    return negative, whole, fraction.strip("0") != ""


def _apply(s: pd.Series, rule: Callable[[bool, int, bool], int | None]) -> Cleaned:
    def one(value: str) -> str | None:
        if not value:
            return ""
        parsed = parse_decimal(value)
        result = rule(*parsed) if parsed else None
        return None if result is None else str(result)

    codes, uniques = distinct(s)
    results = [one(v) for v in clean_values(uniques)]
    return Cleaned(
        like(s, take([r or "" for r in results], codes)),
        flags(s, np.array([r is None for r in results], dtype=bool)[codes]),
    )


def _exact(negative: bool, whole: int, fractional: bool) -> int | None:
    if fractional:
        return None
    return -whole if negative else whole


def _floor(negative: bool, whole: int, fractional: bool) -> int:
    return -(whole + fractional) if negative else whole


def _half(negative: bool, whole: int, fractional: bool) -> int:
    return int(fractional)


def to_integer(s: pd.Series) -> Cleaned:
    """Whole numbers as plain digits ("$450,000.00" → "450000"); a cell with a
    non-zero fraction or no number gives "" and invalid. Idempotent."""
    return _apply(s, _exact)


def floor_integer(s: pd.Series) -> Cleaned:
    """The whole part, rounded down ("2.5" → "2", "-2.5" → "-3"). Idempotent."""
    return _apply(s, _floor)


def half_part(s: pd.Series) -> Cleaned:
    """ "1" if the number has a fraction, else "0" (a half-bath count from a
    bath count). Not a normaliser of its own output: half_part("1") is "0"."""
    return _apply(s, _half)
