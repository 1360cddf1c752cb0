"""Dates and times: explicit formats in, ISO 8601 with an offset out.

Rules of ``parse_datetime``, in the order they are tried on each cell:

1. A cell that carries its own offset, ISO 8601 style ("2024-03-15T13:30:00Z",
   "2024-03-15 13:30:00.000+0000", "…-05:00", "… UTC"), is that instant.
2. The mapping's strptime formats, in order; a cell that matches a format's
   layout but is not a real date there (month 13) goes on to the next format.
   A format with ``%z`` gives an instant, any other a local wall time.
3. Naive ISO 8601 ("2024-03-15", "2024-03-15 13:30[:00]"): never ambiguous.
4. With ``excel_serial``, a spreadsheet day number (45123, 45123.5) between
   1990-01-01 and 2099-12-31.

Wall times are placed in ``timezone``: a time that falls in a DST gap moves
forward to the end of the gap, an ambiguous one takes the earlier instant. A
date without a time is local midnight. Years outside 1800-2999 are refused.
All-zero placeholders ("0/0/00", "0000-00-00") count as empty.

The output is the instant in ``timezone``, ISO 8601 with seconds and a colon
offset ("2024-03-15T09:30:00-04:00"), microseconds only when not zero; an
instant whose offset there has seconds (local mean time before ~1900) is
written in UTC. Parsing the output again gives it back unchanged.

How: pandas' own strptime runs Python code per cell (~3 µs a cell), so the
formats are compiled to regexes that are matched once per distinct *shape*
of cell (its digits replaced by 9: "9/99/9999 99:99"), and the numbers are
read for all the cells of one shape at once with numpy (``_read_shape``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from importer.errors import ConfigError
from importer.normalize._instant_text import format_instants, zone
from importer.normalize.column_text import SEP, Packed, digits_value, flags, like, pack, texts
from importer.normalize.text import Cleaned, clean_values

FIRST_YEAR, LAST_YEAR = 1800, 2999
EXCEL_FIRST, EXCEL_LAST = 32874, 73050  # 1990-01-01 and 2099-12-31
_EXCEL_EPOCH_SHIFT = 25569  # Excel day number of 1970-01-01 (1900 date system)

_NUMBER_GROUPS = ("Y", "y", "m", "d", "H", "I", "M", "S", "f")
_DIRECTIVES: dict[str, str] = {
    "Y": r"(?P<Y>[0-9]{4})",
    "y": r"(?P<y>[0-9]{2})",
    "m": r"(?P<m>[0-9]{1,2})",
    "d": r"(?P<d>[0-9]{1,2})",
    "H": r"(?P<H>[0-9]{1,2})",
    "I": r"(?P<I>[0-9]{1,2})",
    "M": r"(?P<M>[0-9]{1,2})",
    "S": r"(?P<S>[0-9]{1,2})",
    "f": r"(?P<f>[0-9]{1,6})",
    "p": r"(?P<p>[ap]\.?m\.?)",
    "b": r"(?P<b>[^\W\d_]{3,}\.?)",
    "B": r"(?P<b>[^\W\d_]{3,}\.?)",
    "a": r"(?:[^\W\d_]{2,}\.?)",
    "A": r"(?:[^\W\d_]{2,}\.?)",
    "z": r"(?P<z>z|[+-][0-9]{2}(?::?[0-9]{2})?)",
    "%": "%",
}
_OFFSET = r"\s?(?P<z>z|utc|gmt|[+-][0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2})?)?)"
_ISO_DATE = r"(?P<Y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})"
_ISO_TIME = r"(?P<H>[0-9]{2}):(?P<M>[0-9]{2})(?::(?P<S>[0-9]{2})(?:[.,](?P<f>[0-9]{1,9}))?)?"
_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}  # fmt: skip
_ZERO_DATE = re.compile(r"[0\W_]+")
_LONGEST_CELL = 80


@dataclass(frozen=True)
class DatePattern:
    """A compiled layout: a regex over cell shapes, with named groups."""

    source: str
    regex: re.Pattern[str]


def compile_format(fmt: str) -> DatePattern:
    """A strptime format as a ``DatePattern``.

    Supported: %Y %y %m %d %H %I %M %S %f %p %b %B %a %A %z %%; spaces match
    one space. The format must name a year, a month and a day. Numeric fields
    without a separator between them must be zero-padded ("%Y%m%d"). Raises
    ConfigError for anything else.
    """
    parts: list[str] = []
    seen: set[str] = set()
    chars = iter(" ".join(fmt.split()))
    for char in chars:
        if char != "%":
            parts.append(" " if char == " " else re.escape(char))
            continue
        directive = next(chars, "")
        if directive not in _DIRECTIVES:
            raise ConfigError(
                f"date format {fmt!r}: %{directive} is not supported; "
                "use %Y %y %m %d %H %I %M %S %f %p %b %B %a %A %z"
            )
        group = directive.replace("B", "b")
        if group in seen and group not in "aA%":
            raise ConfigError(f"date format {fmt!r}: %{directive} appears twice")
        seen.add(group)
        parts.append(_DIRECTIVES[directive])
    if not ({"Y", "y"} & seen and {"m", "b"} & seen and "d" in seen):
        raise ConfigError(
            f"date format {fmt!r} needs a year (%Y or %y), a month (%m or %b) and a day (%d)"
        )
    return DatePattern(fmt, re.compile("".join(parts), re.IGNORECASE))


ISO_WITH_OFFSET = DatePattern(
    "ISO 8601 with offset", re.compile(f"{_ISO_DATE}[T ]{_ISO_TIME}{_OFFSET}", re.I)
)
ISO_NAIVE = DatePattern("ISO 8601", re.compile(f"{_ISO_DATE}(?:[T ]{_ISO_TIME})?", re.I))
# What valid_iso_datetime_mask accepts: "T", seconds optional, "Z" or ±HH:MM.
ISO_STRICT = DatePattern(
    "ISO 8601 date-time",
    re.compile(f"{_ISO_DATE}T{_ISO_TIME}(?P<z>Z|[+-][0-9]{{2}}:[0-9]{{2}})"),
)
EXCEL_SERIAL = DatePattern(
    "Excel day number", re.compile(r"(?P<serial>[0-9]{5})(?:\.(?P<frac>[0-9]{1,12}))?")
)

DEFAULT_MONTH_FIRST = (
    "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M",
    "%m/%d/%Y", "%m/%d/%y %I:%M %p", "%m/%d/%y %H:%M", "%m/%d/%y", "%m-%d-%Y", "%b %d, %Y",
    "%b %d %Y", "%d %b %Y",
)  # fmt: skip
DEFAULT_DAY_FIRST = (
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d/%m/%y %H:%M", "%d/%m/%y",
    "%d-%m-%Y %H:%M", "%d-%m-%Y", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%d %b %Y", "%b %d, %Y",
)  # fmt: skip

_DIGITS_TO_9 = str.maketrans("0123456789", "9999999999")


@dataclass
class _Result:
    """Per cell: 0 not parsed, 1 local wall time, 2 UTC instant; and microseconds."""

    kind: np.ndarray
    micros: np.ndarray


def _days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    # Proleptic Gregorian day number since 1970-01-01 (H. Hinnant's algorithm).
    year = year - (month <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    lengths = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return lengths[np.clip(month, 1, 12) - 1] + ((month == 2) & leap)


def _number(block: np.ndarray, span: tuple[int, int]) -> np.ndarray:
    return digits_value(block[:, span[0] : span[1]])


def _offset_seconds(block: np.ndarray, match: re.Match[str]) -> np.ndarray:
    """Per cell, the offset east of UTC in seconds; 86400 or more when impossible."""
    text = match.group("z").lower()
    if text in ("z", "utc", "gmt"):
        return np.zeros(len(block), dtype=np.int64)
    start = match.start("z")
    digits = [start + i for i, c in enumerate(text) if c == "9"]  # digits are 9 in a shape
    fields = [_number(block, (digits[i], digits[i + 1] + 1)) for i in range(0, len(digits), 2)]
    hours = fields[0]
    minutes = fields[1] if len(fields) > 1 else 0
    seconds = fields[2] if len(fields) > 2 else 0
    total = np.where(
        (hours < 24) & (minutes < 60) & (seconds < 60), hours * 3600 + minutes * 60 + seconds, 86400
    )
    return -total if text[0] == "-" else total


def _read_shape(
    packed: Packed, rows: np.ndarray, match: re.Match[str]
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(valid, microseconds, is_instant) for cells ``rows`` that share the
    shape ``match`` was made on: their digits sit at the same positions."""
    got = {
        g: match.span(g)
        for g in _NUMBER_GROUPS
        if g in match.re.groupindex and match.span(g)[0] >= 0
    }
    zero = np.zeros(len(rows), dtype=np.int64)
    block = packed.block(rows, len(match.string))
    number = {g: _number(block, span) for g, span in got.items()}
    if "Y" in number:
        year = number["Y"]
    else:
        two = number["y"]
        year = np.where(two < 69, 2000 + two, 1900 + two)  # the strptime pivot
    month = number.get("m")
    if month is None:
        month = zero + _MONTHS.get(match.group("b").lower().rstrip("."), 0)
    day = number["d"]
    hour = number.get("H", zero)
    if "I" in number:
        hour12 = number["I"]
        pm = (
            "p" in match.re.groupindex
            and match.group("p") is not None
            and match.group("p")[0] in "pP"
        )
        hour = np.where((hour12 >= 1) & (hour12 <= 12), hour12 % 12 + (12 if pm else 0), 99)
    minute, second = number.get("M", zero), number.get("S", zero)
    micro = zero
    if "f" in number:
        width = got["f"][1] - got["f"][0]
        micro = number["f"] * 10 ** (6 - width) if width <= 6 else number["f"] // 10 ** (width - 6)
    valid = (
        (year >= FIRST_YEAR) & (year <= LAST_YEAR) & (month >= 1) & (month <= 12)
        & (day >= 1) & (day <= _days_in_month(year, month))
        & (hour <= 23) & (minute <= 59) & (second <= 59)
    )  # fmt: skip
    seconds = ((_days_from_civil(year, month, day) * 24 + hour) * 60 + minute) * 60 + second
    micros = seconds * 1_000_000 + micro
    has_offset = "z" in match.re.groupindex and match.group("z") is not None
    if has_offset:
        offset = _offset_seconds(block, match)
        valid &= np.abs(offset) < 86400
        micros = micros - offset * 1_000_000
    return valid, micros, has_offset


def _read_excel(
    packed: Packed, rows: np.ndarray, match: re.Match[str]
) -> tuple[np.ndarray, np.ndarray, bool]:
    block = packed.block(rows, len(match.string))
    days = _number(block, match.span("serial")).astype(np.float64)
    if match.group("frac") is not None:
        span = match.span("frac")
        days += _number(block, span) / 10.0 ** (span[1] - span[0])
    valid = (days >= EXCEL_FIRST) & (days < EXCEL_LAST + 1)
    seconds = np.rint((days - _EXCEL_EPOCH_SHIFT) * 86400).astype(np.int64)
    return valid, seconds * 1_000_000, False


def parse_cells(
    values: list[str], patterns: Sequence[DatePattern], *, excel_serial: bool = False
) -> _Result:
    """Try ``patterns`` (then Excel day numbers) on cleaned single-line cells."""
    n = len(values)
    result = _Result(np.zeros(n, dtype=np.int8), np.zeros(n, dtype=np.int64))
    if n == 0:
        return result
    packed = pack(values)
    codes, shapes = pd.factorize(
        np.array(packed.text.translate(_DIGITS_TO_9).split(SEP), dtype=object)
    )
    # Every layout has digits and none is long: skip free text without trying each pattern on it.
    candidates = [
        k for k, shape in enumerate(shapes.tolist()) if "9" in shape and len(shape) <= _LONGEST_CELL
    ]
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(shapes)))))
    members = {k: order[bounds[k] : bounds[k + 1]] for k in candidates}
    steps: list[tuple[DatePattern, bool]] = [(p, False) for p in patterns]
    if excel_serial:
        steps.append((EXCEL_SERIAL, True))
    for pattern, is_excel in steps:
        read = _read_excel if is_excel else _read_shape
        for k, rows in members.items():
            match = pattern.regex.fullmatch(shapes[k])
            if match is None:
                continue
            rows = rows[result.kind[rows] == 0]
            if not len(rows):
                continue
            valid, micros, is_instant = read(packed, rows, match)
            done = rows[valid]
            result.kind[done] = 2 if is_instant else 1
            result.micros[done] = micros[valid]
    return result


def _localize(result: _Result, tz: ZoneInfo) -> None:
    wall = result.kind == 1
    if wall.any():
        local = pd.DatetimeIndex(result.micros[wall].astype("datetime64[us]")).tz_localize(
            tz, ambiguous=np.ones(int(wall.sum()), dtype=bool), nonexistent="shift_forward"
        )
        result.micros[wall] = local.as_unit("us").asi8
        result.kind[wall] = 2


def _output(s: pd.Series, values: list[str], result: _Result, tz: ZoneInfo) -> Cleaned:
    done = np.flatnonzero(result.kind > 0)
    out = np.full(len(values), "", dtype=object)
    out[done] = format_instants(result.micros[done], tz)
    invalid = (result.kind == 0) & np.fromiter(map(bool, values), dtype=bool, count=len(values))
    for i in np.flatnonzero(invalid).tolist():
        invalid[i] = not _ZERO_DATE.fullmatch(values[i])
    return Cleaned(like(s, out.tolist()), flags(s, invalid))


def parse_datetime(
    s: pd.Series,
    formats: Sequence[str],
    timezone: str = "UTC",
    *,
    excel_serial: bool = True,
    dayfirst: bool = False,
) -> Cleaned:
    """Dates and times as ISO 8601 instants in ``timezone`` (rules in the module docstring).

    ``formats`` are strptime formats tried in order; when empty, a built-in
    list is used, month-first or (``dayfirst``) day-first. ``timezone`` is an
    IANA name; it places wall times and is the zone the output is written in.
    Raises ConfigError for an unknown zone or an unsupported format.
    Idempotent for the same ``timezone``.
    """
    tz = zone(timezone)
    chosen = formats or (DEFAULT_DAY_FIRST if dayfirst else DEFAULT_MONTH_FIRST)
    patterns = [ISO_WITH_OFFSET, *(compile_format(f) for f in chosen), ISO_NAIVE]
    values = clean_values(texts(s))
    result = parse_cells(values, patterns, excel_serial=excel_serial)
    _localize(result, tz)
    return _output(s, values, result, tz)


def valid_iso_datetime_mask(s: pd.Series) -> pd.Series:
    """True where a cell is "" or an ISO 8601 date-time with "T" and an offset
    ("Z" or ±HH:MM), for a real calendar date, written exactly so (no spaces)."""
    values = texts(s)
    if SEP in "".join(values):
        values = [v.replace(SEP, "\ufffd") for v in values]
    result = parse_cells(values, [ISO_STRICT])
    return flags(s, (result.kind > 0) | np.array([not v for v in values], dtype=bool))
