"""Instants written as ISO 8601 local time with an offset, for a whole column.

``format_instants`` builds the text as rows of code points from lookup
tables (the days of the column's range, the 86,400 seconds of a day, its
few distinct offsets) instead of formatting cell by cell (pandas' ``strftime``
costs ~24 µs a cell).
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from importer.errors import ConfigError
from importer.normalize.column_text import strings_of

_US_PER_DAY = 86_400_000_000


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; raises ConfigError if it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"time zone {name!r} is unknown; use an IANA name such as America/New_York"
        ) from exc


def _offset_label(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    return f"{sign}{hours:02d}:{rest // 60:02d}"


def _code_points(texts: np.ndarray, width: int) -> np.ndarray:
    """A 1-D array of str of one length as a (n, width) uint32 array."""
    return (
        np.ascontiguousarray(texts.astype(f"<U{width}")).view(np.uint32).reshape(len(texts), width)
    )


@cache
def _clock_table() -> np.ndarray:
    """ "THH:MM:SS" for every second of a day, as (86400, 9) code points.

    Put together from a table of two-digit numbers by indexing: formatting
    86,400 strings would cost more than a small chunk's whole mapping.
    """
    pairs = _code_points(np.array([f"{n:02d}" for n in range(60)]), 2)
    clock = np.arange(86400)
    hours, minutes, seconds = clock // 3600, clock // 60 % 60, clock % 60
    t, colon = np.full((86400, 1), ord("T"), np.uint32), np.full((86400, 1), ord(":"), np.uint32)
    return np.ascontiguousarray(
        np.concatenate([t, pairs[hours], colon, pairs[minutes], colon, pairs[seconds]], axis=1)
    )


def format_instants(micros: np.ndarray, tz: ZoneInfo) -> list[str]:
    """UTC microseconds as ISO 8601 local time in ``tz`` with a colon offset.

    Built as rows of code points from lookup tables (days of the range,
    seconds of the day, distinct offsets) rather than cell by cell.
    """
    if not len(micros):
        return []
    local = pd.DatetimeIndex(micros.astype("datetime64[us]")).tz_localize("UTC").tz_convert(tz)
    wall = local.tz_localize(None).as_unit("us").asi8
    offsets = (wall - micros) // 1_000_000
    odd = offsets % 60 != 0  # local mean time: write these in UTC instead
    if odd.any():
        wall, offsets = np.where(odd, micros, wall), np.where(odd, 0, offsets)
    days, in_day = np.divmod(wall, _US_PER_DAY)
    seconds, fraction = np.divmod(in_day, 1_000_000)
    first_day, last_day = int(days.min()), int(days.max())
    if last_day - first_day < len(days):
        calendar = np.datetime_as_string(np.arange(first_day, last_day + 1).astype("datetime64[D]"))
        day_at = days - first_day
    else:  # a few days spread over centuries: only the distinct ones
        distinct_days, day_at = np.unique(days, return_inverse=True)
        calendar = np.datetime_as_string(distinct_days.astype("datetime64[D]"))
    offset_at, offset_keys = pd.factorize(offsets)
    offset_text = np.array([_offset_label(int(o)) for o in offset_keys])
    rows = np.concatenate(
        [
            _code_points(calendar, 10)[day_at],
            _clock_table()[seconds],
            _code_points(offset_text, 6)[offset_at],
        ],
        axis=1,
    )
    out = strings_of(rows)
    for i in np.flatnonzero(fraction).tolist():
        out[i] = f"{out[i][:19]}.{fraction[i]:06d}{out[i][19:]}"
    return out
