"""Text cleaning that every value normaliser starts with, and the small normalisers.

``clean_text`` is the single-line rule: invisible characters (zero-width
spaces, BOMs, bidi marks, control characters) removed, whitespace of any kind
(tabs, line breaks, non-breaking spaces) collapsed to one space and trimmed,
the Excel "keep as text" wrappers ``="00123"`` and ``'+39 …`` undone, and
placeholder cells ("N/A", "null", "-", "#N/A", …) emptied. It is idempotent
and cheap on clean columns: the whole column is checked at once with C-level
string searches, and only the cells that need it are cleaned one by one.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from importer.errors import ConfigError
from importer.normalize.column_text import (
    SEP,
    cells_at,
    distinct,
    find_all,
    flags,
    like,
    map_unique,
    objects,
    take,
    texts,
)


@dataclass(frozen=True)
class Cleaned:
    """What a normaliser returns, aligned on the input's index.

    ``values``: the normalised text; "" where the cell was empty or invalid.
    ``invalid``: True where a non-empty cell could not be normalised.
    ``notes``: side text worth keeping (a phone extension as "ext. 55"), ""
    when there is none; None for normalisers that never have any.
    """

    values: pd.Series
    invalid: pd.Series
    notes: pd.Series | None = None


# Casefolded cell values that mean "no value". Not "0" or "test": those can
# be real values (a zero bedroom count, a person called Test) and are left to
# the per-field settings of a mapping.
PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "n/a", "n.a.", "n.a", "na", "none", "(none)", "null", "(null)", "<null>",
        "nil", "nan", "nat", "-", "--", "---", ".", "?", "??", "unknown",
        "(unknown)", "noname", "no name", "(no name)", "(blank)", "(empty)",
        # Excel error values exported as text
        "#n/a", "#value!", "#ref!", "#name?", "#div/0!", "#null!", "#num!",
    }
)  # fmt: skip

# Removed anywhere: C0/C1 control characters other than whitespace, soft
# hyphen, zero-width space, bidi marks and embeddings, word joiners, BOM.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u00ad\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
# Zero-width (non-)joiners shape some scripts, so they are only trimmed.
_EDGES = " \u200c\u200d"
# Formula-injection escaping: a quote before = + - @ (e.g. '+39 0471 …).
_QUOTED_FORMULA = re.compile(r"'+(?=[=+\-@])")
_LINE_BREAK = re.compile(r"\r\n?|[\n\v\f\x1c-\x1e\x85\u2028\u2029]")


def _clean_one(value: str) -> str:
    text = " ".join(_INVISIBLE.sub("", value).split()).strip(_EDGES)
    while text[:2] == '="' or text[:1] == "'":
        unwrapped = _unwrap_excel(text)
        if unwrapped == text:
            break
        text = " ".join(unwrapped.split()).strip(_EDGES)
    return text


def _unwrap_excel(text: str) -> str:
    if len(text) >= 3 and text.startswith('="') and text.endswith('"'):
        return text[2:-1].replace('""', '"')
    quoted = _QUOTED_FORMULA.match(text)
    return text[quoted.end() :] if quoted else text


def _casefolded(placeholders: Iterable[str]) -> frozenset[str]:
    if placeholders is PLACEHOLDERS:
        return PLACEHOLDERS
    return frozenset(p.casefold() for p in placeholders)


@functools.lru_cache(maxsize=8)
def _spellings(folded: frozenset[str]) -> dict[str, str]:
    """Every upper/lower-case spelling of the placeholders, each mapped to "".

    One dict lookup per cell (``get(v, v)``) then blanks placeholders in any
    case, without a ``casefold`` call per cell. The placeholders are short, so
    the table stays small (a few thousand spellings).
    """
    table: dict[str, str] = {}
    for word in folded:
        options = [(c.lower(), c.upper()) if c.lower() != c.upper() else (c,) for c in word]
        if math.prod(len(o) for o in options) > 4096:
            continue  # a long custom placeholder: compared the slow way below
        for spelling in itertools.product(*options):
            table["".join(spelling)] = ""
    return table


def blank_placeholders(values: list[str], placeholders: Iterable[str] = PLACEHOLDERS) -> list[str]:
    """``values`` with every placeholder (compared casefolded) replaced by ""."""
    folded = _casefolded(placeholders)
    table = _spellings(folded)
    get = table.get
    out = [get(v, v) for v in values]
    if not _table_decides(folded):
        # rare: placeholders too long for the table, or non-ASCII case rules
        longest = max(map(len, folded), default=-1)
        out = [("" if len(v) <= longest and v.casefold() in folded else v) for v in out]
    return out


# What _clean_one changes, found in a SEP-joined column by C-speed regex
# scans (each pattern starts with one literal character, which sre skips to).
_AFTER_SEP = re.compile(SEP + "(?:[ ']|=\")")  # a leading space or Excel wrapper
_SPACE_PAIR = re.compile(" [ " + SEP + "]")  # a doubled or trailing space
# Whitespace other than " " (as str.split sees it) and the invisible characters.
_ODD_CHAR = re.compile(
    "[\t-\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u2064"
    "\u2066-\u2069\u3000\ufeff\x01-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\xad]"
)


def _needing_clean(values: list[str], text: str | None) -> list[int]:
    """Indices of the cells that ``_clean_one`` would change (and a few it would not).

    ``text`` is ``_joined(values)``: the cells between SEPs, or None when a
    cell holds SEP itself (then every cell is tried).
    """
    if text is None:  # SEP inside a cell would break the cell boundaries below
        return [i for i, v in enumerate(values) if _clean_one(v) != v]
    printable = "".join(values).isprintable()  # text itself never is: SEP is a control character
    patterns = [_AFTER_SEP, _SPACE_PAIR] + ([] if printable else [_ODD_CHAR])
    hits = sorted({match.start() for pattern in patterns for match in pattern.finditer(text)})
    # A hit on a separator belongs to the cell after it (see cells_at).
    return sorted(set(cells_at(text, hits)) - {len(values)}) if hits else []


def _joined(values: list[str]) -> str | None:
    """SEP + the cells joined with SEP + SEP, or None when a cell holds SEP."""
    text = SEP + SEP.join(values) + SEP
    return text if text.count(SEP) == len(values) + 1 else None


def clean_values(values: list[str], placeholders: Iterable[str] = PLACEHOLDERS) -> list[str]:
    """``clean_text`` on a list of str, as a new list."""
    text = _joined(values)
    out = list(values)
    needing = _needing_clean(values, text)
    for i in needing:
        out[i] = _clean_one(values[i])
    folded = _casefolded(placeholders)
    table = _spellings(folded)
    if text is None or not _table_decides(folded):
        return blank_placeholders(out, placeholders)
    # A cell left as it was is a placeholder when its raw text is one: the
    # spellings present are found with a set (C speed), then their cells with
    # str.find, instead of a lookup per cell.
    cleaned = set(needing)
    for spelling in table.keys() & set(values):
        for i in cells_at(text, find_all(text, SEP + spelling + SEP)):
            if i not in cleaned:
                out[i] = ""
    for i in cleaned:  # their raw text is not what is compared
        if out[i] in table:
            out[i] = ""
    return out


@functools.lru_cache(maxsize=8)
def _table_decides(folded: frozenset[str]) -> bool:
    """Whether ``_spellings`` alone says which cells are placeholders (see ``blank_placeholders``)."""
    table = _spellings(folded)
    return all(p.isascii() and p in table for p in folded)


def clean_text(s: pd.Series, placeholders: Iterable[str] = PLACEHOLDERS) -> pd.Series:
    """Single-line text cleaned (see the module docstring); placeholders become "".

    ``placeholders`` replaces the default set (compare casefolded); pass
    ``PLACEHOLDERS | {"test"}`` to add to it. Idempotent.
    """
    return like(s, clean_values(texts(s), placeholders))


def _clean_lines(value: str) -> str:
    lines: list[str] = []
    blank = False
    for raw in _LINE_BREAK.split(value):
        line = " ".join(_INVISIBLE.sub("", raw).split()).strip(_EDGES)
        if not line:
            blank = True
            continue
        if blank and lines:
            lines.append("")  # keep one empty line between paragraphs
        lines.append(line)
        blank = False
    return "\n".join(lines)


def clean_multiline(s: pd.Series, placeholders: Iterable[str] = PLACEHOLDERS) -> pd.Series:
    """Text that may span lines (notes): each line cleaned like ``clean_text``,
    line breaks kept as "\\n" (CR, CRLF and Unicode separators converted), runs
    of empty lines reduced to one, empty lines at both ends dropped. A cell
    that is only a placeholder becomes "". Idempotent."""
    values = texts(s)
    multi = _cells_with_line_breaks(values)
    out = clean_values(values, placeholders)
    if multi:
        kept = blank_placeholders([_clean_lines(values[i]) for i in multi], placeholders)
        for i, text in zip(multi, kept, strict=True):
            out[i] = text
    return like(s, out)


def _cells_with_line_breaks(values: list[str]) -> list[int]:
    """Indices of the cells holding a line break, found with one scan of the column."""
    joined = SEP.join(values)
    if not _LINE_BREAK.search(joined):
        return []
    if joined.count(SEP) != len(values) - 1:  # a cell holds SEP itself: go cell by cell
        return [i for i, v in enumerate(values) if _LINE_BREAK.search(v)]
    text = SEP + joined + SEP
    return sorted(set(cells_at(text, (m.start() for m in _LINE_BREAK.finditer(text)))))


def _joined_map(values: list[str], method: str) -> list[str]:
    if not values:
        return []
    return getattr(SEP.join(values), method)().split(SEP)


def lower(s: pd.Series) -> pd.Series:
    """Cleaned text in lower case."""
    return like(s, _joined_map(clean_values(texts(s)), "lower"))


def upper(s: pd.Series) -> pd.Series:
    """Cleaned text in upper case."""
    return like(s, _joined_map(clean_values(texts(s)), "upper"))


def _title_word(word: str) -> str:
    if (word.islower() or word.isupper()) and not any(c.isdigit() for c in word):
        return word.title()
    return word


def _title_one(value: str) -> str:
    if (value.islower() or value.isupper()) and not any(c.isdigit() for c in value):
        return value.title()
    return " ".join(_title_word(word) for word in value.split(" "))


def title_case(s: pd.Series) -> pd.Series:
    """Cleaned text with each all-lower or ALL-UPPER word title-cased
    ("JOHN o'neil" → "John O'Neil"). Words already in mixed case ("McDonald",
    "DeShawn") and words with digits ("3RD") are kept as typed. Idempotent."""
    return like(s, map_unique(clean_values(texts(s)), _title_one))


def split_multi(s: pd.Series, sep: str, placeholders: Iterable[str] = PLACEHOLDERS) -> pd.Series:
    """Multi-value cells ("a ::: b", "x; y", "p|q") as a list of str per cell.

    ``sep`` is a literal separator. Items are cleaned like ``clean_text``;
    empty items, placeholders and case-insensitive repeats are dropped (the
    first spelling wins). An empty cell gives []. Raises ConfigError for an
    empty ``sep``.
    """
    if not sep:
        raise ConfigError("split: the separator is empty; give the text between values, e.g. ';'")
    folded = _casefolded(placeholders)

    def split_one(value: str) -> list[str]:
        items: dict[str, str] = {}
        for part in value.split(sep):
            item = _clean_one(part)
            if item and item.casefold() not in folded:
                items.setdefault(item.casefold(), item)
        return list(items.values())

    return objects(s, map_unique(texts(s), split_one))


def _value_key(text: str) -> str:
    return "".join(text.split()).casefold()


def value_lookup(mapping: Mapping[str, str]) -> dict[str, str]:
    """The lookup table ``map_values`` uses: keys compared without case and
    whitespace, and every target also mapping to itself (so the result can be
    mapped again). Raises ConfigError when two keys that compare equal map to
    different targets."""
    lookup: dict[str, str] = {}
    origin: dict[str, str] = {}
    for source, target in mapping.items():
        key = _value_key(source)
        if key in lookup and lookup[key] != target:
            raise ConfigError(
                f"value map: {origin[key]!r} and {source!r} differ only in case or spaces "
                f"but map to {lookup[key]!r} and {target!r}; keep one of them"
            )
        lookup[key] = target
        origin[key] = source
    for target in mapping.values():
        lookup.setdefault(_value_key(target), target)
    return lookup


def map_values(s: pd.Series, mapping: Mapping[str, str], *, default: str | None = None) -> Cleaned:
    """Cells looked up in ``mapping``, ignoring case and whitespace.

    Every target maps to itself too, so ``map_values`` is idempotent. A
    non-empty cell that is not in the map becomes ``default`` when one is given
    (not invalid), otherwise "" and invalid. Raises ConfigError for a map with
    conflicting keys (see ``value_lookup``).
    """
    lookup = value_lookup(mapping)

    def look_up(value: str) -> tuple[str, bool]:
        if not value:
            return "", False
        found = lookup.get(_value_key(value))
        if found is not None:
            return found, False
        return (default, False) if default is not None else ("", True)

    codes, uniques = distinct(s)
    results = [look_up(v) for v in clean_values(uniques)]
    return Cleaned(
        like(s, take([r[0] for r in results], codes)),
        flags(s, np.array([r[1] for r in results], dtype=bool)[codes]),
    )
