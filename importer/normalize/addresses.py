"""US states and ZIP codes.

``normalize_state`` turns names and abbreviations into postal codes
("Massachusetts", "mass.", "ma" → "MA"; Canadian provinces too, "Ontario" →
"ON"). ``normalize_zip`` checks US ZIP codes, and restores leading zeros that
a spreadsheet dropped only when the row's state shows where they belong.
Both work on each distinct cell once: these columns repeat a lot.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from itertools import compress, repeat
from typing import TypeVar

import numpy as np
import pandas as pd

from importer.normalize import regions
from importer.normalize.column_text import distinct, flags, like, take
from importer.normalize.text import Cleaned, clean_values

T = TypeVar("T")

# US ZIP shapes after cleaning: 5 digits, ZIP+4 with or without a separator,
# and 3-4 digits (optionally +4) that lost their leading zeros.
_ZIP = re.compile(r"(?P<zip>\d{5})(?:[-\u2013\u2014 ]?(?P<plus4>\d{4}))?", re.ASCII)
_SHORT_ZIP = re.compile(r"(?P<zip>\d{3,4})(?:[-\u2013\u2014 ](?P<plus4>\d{4}))?", re.ASCII)
_SHORT_BARE = re.compile(r"(?P<zip>\d{3,4})(?P<plus4>\d{4})", re.ASCII)


def normalize_state(s: pd.Series) -> Cleaned:
    """States, DC, territories, military (AA/AE/AP) and Canadian provinces as
    two-letter postal codes. A non-empty cell that is none of these gives ""
    and invalid. Idempotent."""
    codes, uniques = distinct(s)
    found = [(regions.state_code(v) or "") if v else None for v in clean_values(uniques)]
    return Cleaned(
        like(s, take([f or "" for f in found], codes)),
        flags(s, np.array([f == "" for f in found], dtype=bool)[codes]),
    )


def _zip_shape(value: str) -> tuple[str, str, bool]:
    """(zip, plus4, lost_zeros) for a US ZIP cell, or ("", "", False) if it is not one."""
    for pattern, short in ((_ZIP, False), (_SHORT_ZIP, True), (_SHORT_BARE, True)):
        found = pattern.fullmatch(value)
        if found:
            return found.group("zip"), found.group("plus4") or "", short
    return "", "", False


def _us_zip(value: str, state: str | None) -> str | None:
    """The normalised ZIP, or None when invalid; ``state`` is a postal code or None."""
    zip_code, plus4, short = _zip_shape(value)
    if not zip_code:
        return None
    if short:
        zip_code = zip_code.zfill(5)
        if not regions.zip_fits_state(zip_code, state):
            return None
    return f"{zip_code}-{plus4}" if plus4 else zip_code


def _distinct_rule(
    column: pd.Series, s: pd.Series, rule: Callable[[str], T]
) -> tuple[np.ndarray, list[T]]:
    """(codes, ``rule`` of each distinct cleaned cell) for a column that goes with ``s``."""
    if len(column) != len(s):
        raise ValueError(f"normalize_zip: {len(column)} state/country cells for {len(s)} ZIP cells")
    codes, uniques = distinct(column)
    return codes, [rule(v) for v in clean_values(uniques)]


def _plain_zips(values: list[str]) -> list[str | None]:
    """``_us_zip(v, None)`` of each value; "" stays ""."""
    out: list[str | None] = [
        v if len(v) == 5 and v.isdigit() and v.isascii() else (None if v else "") for v in values
    ]
    for i in compress(range(len(values)), map(operator.is_, out, repeat(None))):
        out[i] = _us_zip(values[i], None)
    return out


def normalize_zip(
    s: pd.Series, state: pd.Series | None = None, country: pd.Series | None = None
) -> Cleaned:
    """ZIP codes: "02134" or ZIP+4 "02134-1234" ("021341234" and "02134 1234"
    are reformatted).

    A 3- or 4-digit ZIP (Excel dropped its zeros) is padded only when the
    row's ``state`` is one whose ZIPs start with those zeros ("2134" with MA →
    "02134"; with TX it is invalid). Rows whose ``country`` is given and is not
    the US, or whose state is a Canadian province, hold another country's
    postal codes and pass through cleaned. ``state`` and ``country`` go with
    ``s`` cell by cell (same length; raises ValueError otherwise).
    Idempotent (given the same state and country).
    """
    codes, uniques = distinct(s)
    cleaned = clean_values(uniques)
    plain = _plain_zips(cleaned)  # None: invalid, or a short ZIP that needs the state
    out = take([p or "" for p in plain], codes)
    invalid = np.array([p is None for p in plain], dtype=bool)[codes]
    abroad = np.zeros(len(s), dtype=bool)
    if country is not None:
        country_codes, foreign = _distinct_rule(country, s, lambda v: not regions.is_us_country(v))
        abroad |= np.array(foreign, dtype=bool)[country_codes]
    if state is not None:
        state_codes, found = _distinct_rule(state, s, regions.state_code)
        abroad |= np.array([f in regions.CA_CODES for f in found], dtype=bool)[state_codes]
        zero_state = np.array([f in regions.ZERO_ZIP_PREFIXES for f in found], dtype=bool)[
            state_codes
        ]
        for i in np.flatnonzero(invalid & zero_state & ~abroad).tolist():
            padded = _us_zip(cleaned[codes[i]], found[state_codes[i]])
            if padded is not None:
                out[i], invalid[i] = padded, False
    for i in np.flatnonzero(abroad).tolist():
        out[i], invalid[i] = cleaned[codes[i]], False
    return Cleaned(like(s, out), flags(s, invalid))
