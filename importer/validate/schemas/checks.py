"""Vectorised checks shared by the models, each returning a boolean Series."""

from __future__ import annotations

import re

import pandas as pd

from importer.normalize import transforms
from importer.normalize.column_text import flags, pack, texts

UUID_PATTERN = re.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{32})$"
)


def non_empty(s: pd.Series) -> pd.Series:
    """Holds something other than whitespace (a missing cell is empty)."""
    # what ``s.str.strip() != ""`` says, without building a stripped copy of every cell
    return flags(s, [bool(v) and not v.isspace() for v in texts(s)])


def valid_email(s: pd.Series) -> pd.Series:
    """Empty, or an address the API accepts."""
    return transforms.valid_email_mask(s)


def valid_datetime(s: pd.Series) -> pd.Series:
    """Empty, or ISO 8601 date-time with an offset."""
    return transforms.valid_iso_datetime_mask(s)


def valid_uuid(s: pd.Series) -> pd.Series:
    return (s == "") | s.str.fullmatch(UUID_PATTERN.pattern).fillna(False).astype(bool)


def digits_at_least(s: pd.Series, n: int) -> pd.Series:
    """Empty, or with at least n ASCII digits (a phone number)."""
    values = s.tolist()
    if not values:
        return pd.Series([], index=s.index, dtype=bool)
    packed = pack(values)
    digits = packed.count((packed.cp >= ord("0")) & (packed.cp <= ord("9")))
    return pd.Series((digits >= n) | (packed.lens == 0), index=s.index)


def whole_number(s: pd.Series) -> pd.Series:
    """Empty, or a whole number written in digits (JSON integers are sent)."""
    return (s == "") | s.str.fullmatch(r"\d{1,12}").fillna(False).astype(bool)
