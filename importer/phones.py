"""Phone numbers: parsed with phonenumbers, formatted the way Real Geeks shows them.

A number is valid when phonenumbers parses it (with the default region) and
calls it possible, it has at least 7 digits, and, for North American (+1)
numbers, its national number starts with 2-9 (NANP area and exchange codes
never start with 0 or 1; phonenumbers would otherwise accept "0450112233").
North American numbers are written in national format, "(808) 123-1234";
others in international format, "+44 20 7946 0958". An extension ("x55",
"ext. 55", "#55", "extension 55") is kept out of the number and returned as
the note "ext. 55". Spreadsheet damage is refused, never guessed back:
"1.4E+10" is invalid.

phonenumbers costs ~50 µs a call, so the usual North American shapes
("415-555-0101", "(415) 555-0101", "1 415 555 0101", "+1.415.555.0101" …) are
recognised and formatted for the whole column at once with numpy
(``nanp_fast``); the library sees the rest, each distinct value once.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from importer.cleaning import Cleaned, clean_values
from importer.columns import SEP, flags, like, map_unique, pack_text, strings_of, texts
from importer.errors import ConfigError

# Characters phonenumbers ignores between digits, and that the fast path may drop.
_SPACING = " -.()"
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")
_FLOAT_TAIL = re.compile(r"(\+?\d{7,15})\.0+")  # "4155550101.0" from a float column
_EXTENSION = re.compile(
    r"(?P<base>.*\d)[\s,;/]*(?:extension|ext|xtn|ex|x|#)[\s.:#]*(?P<ext>\d{1,7})", re.IGNORECASE
)
_NANP_NATIONAL = re.compile(r"[2-9]\d{6}(?:\d{3})?")
_MIN_DIGITS = 7

_OPEN, _CLOSE, _SPACE, _DASH = (ord(c) for c in "() -")
_ZERO, _ONE, _TWO, _NINE, _PLUS = (ord(c) for c in "0129+")


def nanp_fast(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """(rows, formatted): the national format of the values that are plain
    North American numbers. Plain means: only digits and the spacing
    characters `` -.()``, and either 10 digits starting 2-9, or "1" and 10
    such digits, or "+1" and 10 such digits. phonenumbers gives the same
    result for all of them (tests check this); the rest need ``library_phone``."""
    if not values:
        return np.zeros(0, dtype=np.int64), []
    text = SEP.join(values)
    for spacing in _SPACING:
        text = text.replace(spacing, "")  # C-speed; str.translate is ~1 µs a cell
    packed = pack_text(text, len(values))
    cp, lens = packed.cp, packed.lens
    nondigits = packed.count((cp < _ZERO) | (cp > _NINE))
    first, second, third = packed.char(0), packed.char(1), packed.char(2)
    ten = (lens == 10) & (nondigits == 0) & (first >= _TWO)
    eleven = (lens == 11) & (nondigits == 0) & (first == _ONE) & (second >= _TWO)
    # "+1" and ten digits: the one non-digit is the leading "+"
    plus = (
        (lens == 12)
        & (nondigits == 1)
        & (first == _PLUS)
        & (second == _ONE)
        & (third >= _TWO)
        & (third <= _NINE)
    )
    rows = np.flatnonzero(ten | eleven | plus)
    skip = np.where(ten, 0, np.where(eleven, 1, 2))[rows]
    digits = packed.block(rows, 10, skip)
    shaped = np.empty((len(rows), 14), dtype=np.uint32)
    shaped[:, 0], shaped[:, 4], shaped[:, 5], shaped[:, 9] = _OPEN, _CLOSE, _SPACE, _DASH
    shaped[:, 1:4], shaped[:, 6:9], shaped[:, 10:14] = (
        digits[:, 0:3],
        digits[:, 3:6],
        digits[:, 6:10],
    )
    return rows, strings_of(shaped)


def library_phone(text: str, region: str) -> tuple[str, str] | None:
    """(formatted number, extension or "") by phonenumbers, or None if invalid."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    if number.country_code == 1 and not _NANP_NATIONAL.fullmatch(
        phonenumbers.national_significant_number(number)
    ):
        return None
    extension = number.extension or ""
    number.extension = None  # formatted separately, as a note
    style = (
        PhoneNumberFormat.NATIONAL if number.country_code == 1 else PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, style), extension


def split_extension(text: str) -> tuple[str, str] | None:
    """(number, extension) for a cleaned cell, or None when it cannot be a
    phone number: E-notation, or fewer than 7 digits (or letters, which
    phonenumbers reads as keypad digits) before any extension."""
    if _SCIENTIFIC.fullmatch(text):
        return None
    float_tail = _FLOAT_TAIL.fullmatch(text)
    if float_tail:
        text = float_tail.group(1)
    base, extension = text, ""
    found = _EXTENSION.fullmatch(text)
    if found and sum(map(str.isdigit, found.group("base"))) >= _MIN_DIGITS:
        base, extension = found.group("base").rstrip(" ,;/"), found.group("ext")
    # Letters count too: phonenumbers reads "1-800-FLOWERS" as digits.
    if sum(c.isdigit() or (c.isascii() and c.isalpha()) for c in base) < _MIN_DIGITS:
        return None
    return base, extension


def check_region(region: str) -> str:
    """The region code in upper case; raises ConfigError for an unknown one."""
    code = region.strip().upper()
    if phonenumbers.country_code_for_region(code) == 0:
        raise ConfigError(
            f"phone region {region!r} is not a known region code; use e.g. US, CA, GB"
        )
    return code


def normalize_phone(s: pd.Series, region: str = "US") -> Cleaned:
    """Phone numbers validated and formatted (see the module docstring).

    ``region`` is the ISO country whose national numbers need no "+" prefix.
    ``notes`` holds "ext. 55" where a cell had an extension. Raises
    ConfigError for an unknown region. Idempotent on ``values``.
    """
    region = check_region(region)
    nanp = phonenumbers.country_code_for_region(region) == 1
    values = clean_values(texts(s))
    out = np.full(len(values), "", dtype=object)
    invalid = np.zeros(len(values), dtype=bool)
    notes = np.full(len(values), "", dtype=object)
    pending = np.fromiter(map(bool, values), dtype=bool, count=len(values))
    if nanp:
        rows, formatted = nanp_fast(values)
        out[rows] = formatted
        pending[rows] = False
    rest = np.flatnonzero(pending).tolist()
    parts = map_unique((values[i] for i in rest), split_extension)
    bases = [p[0] if p else "" for p in parts]
    base_formatted: list[str | None] = [None] * len(bases)
    if nanp:
        base_rows, formatted = nanp_fast(bases)
        for k, text in zip(base_rows.tolist(), formatted, strict=True):
            base_formatted[k] = text
    need_library = [b if f is None else "" for b, f in zip(bases, base_formatted, strict=True)]
    by_library = map_unique(need_library, lambda b: library_phone(b, region) if b else None)
    for k, i in enumerate(rest):
        part, formatted_base, found = parts[k], base_formatted[k], by_library[k]
        extension = part[1] if part else ""
        if formatted_base is None and found is not None:
            formatted_base, extension = found[0], extension or found[1]
        if formatted_base is None:
            invalid[i] = True
            continue
        out[i] = formatted_base
        notes[i] = f"ext. {extension}" if extension else ""
    return Cleaned(like(s, out.tolist()), flags(s, invalid), like(s, notes.tolist()))
