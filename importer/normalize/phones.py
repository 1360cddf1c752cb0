"""Phone numbers: parsed with phonenumbers, formatted the way Real Geeks shows them.

Each number is read in a region: the row's own (from its country column, see
``importer.normalize.regions.country_region``), else the default region (the mapping's
``phone_region``, else ``--phone-region``, else US). A number written with
"+" or "00" (or the region's own exit code, "011" in the US) carries its
country whatever the region. A number is accepted only when phonenumbers
calls it *valid* for its country (a number that is merely the right length,
"9539440441" read in the US, area code 953, is not): nothing is ever
rewritten into a number the cell did not mean. One more rule: a toll-free
number written without its country code is accepted only in the row's own
region, since several countries share such prefixes ("18003001947" is a
valid US 1-800 number and an Indian 1800 one).

Numbers of the site's home region (``home``, the ``--phone-region``) are
written in national format, "(808) 123-1234" for the US; all others in
international format, "+47 911 11 111", and so are toll-free numbers, which
keeps the output unambiguous when read again. An extension ("x55", "ext.
55", "#55", "extension 55") is kept out of the number and returned as the
note "ext. 55". Spreadsheet damage is refused, never guessed back:
"1.4E+10" is invalid.

phonenumbers costs ~50 µs a call, so the usual North American shapes
("415-555-0101", "(415) 555-0101", "1 415 555 0101", "+1.415.555.0101" …) are
recognised and formatted for the whole column at once with numpy
(``nanp_fast``), and checked with a pattern built from phonenumbers' own
metadata (``_nanp_patterns``); the library sees the rest, each distinct
value once. Tests check that both paths give the same answers.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import phonenumbers
from phonenumbers import CountryCodeSource, NumberParseException, PhoneMetadata, PhoneNumberFormat
from phonenumbers import PhoneNumberType as Type

from importer.errors import ConfigError
from importer.normalize.column_text import (
    SEP,
    flags,
    like,
    map_unique,
    pack_text,
    strings_of,
    texts,
)
from importer.normalize.text import Cleaned, clean_values

# Characters phonenumbers ignores between digits, and that the fast path may drop.
_SPACING = " -.()"
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")
_FLOAT_TAIL = re.compile(r"(\+?\d{7,15})\.0+")  # "4155550101.0" from a float column
_EXTENSION = re.compile(
    r"(?P<base>.*\d)[\s,;/]*(?:extension|ext|xtn|ex|x|#)[\s.:#]*(?P<ext>\d{1,7})", re.IGNORECASE
)
_DOUBLE_ZERO = re.compile(r"[\s.()-]*00[\s.()-]*(?=[1-9])")  # "0047 ...", "(00) 47 ..."
_MIN_DIGITS = 7
# Where the country code came from: the number itself, or the region it was read in.
_WRITTEN_COUNTRY = (
    CountryCodeSource.FROM_NUMBER_WITH_PLUS_SIGN,
    CountryCodeSource.FROM_NUMBER_WITH_IDD,
)

_OPEN, _CLOSE, _SPACE, _DASH = (ord(c) for c in "() -")
_ZERO, _ONE, _TWO, _NINE, _PLUS = (ord(c) for c in "0129+")


@functools.cache
def _nanp_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(valid, toll-free): what phonenumbers calls a valid North American
    number and a toll-free one, for ten-digit national numbers, built from its
    own metadata: one alternative per +1 region, the region's general pattern
    and any of its number types (the test of ``is_valid_number``)."""
    valid, toll_free = [], []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None or meta.general_desc is None:
            continue
        descs = [
            meta.premium_rate, meta.toll_free, meta.shared_cost, meta.voip, meta.personal_number,
            meta.pager, meta.uan, meta.voicemail, meta.fixed_line, meta.mobile,
        ]  # fmt: skip
        kinds = [
            d.national_number_pattern
            for d in descs
            if d is not None
            and d.national_number_pattern
            and (not d.possible_length or 10 in d.possible_length)
        ]
        general = meta.general_desc.national_number_pattern
        if kinds:
            valid.append(f"(?=(?:{general})$)(?:{'|'.join(f'(?:{k})' for k in kinds)})")
        if meta.toll_free is not None and meta.toll_free.national_number_pattern:
            toll_free.append(meta.toll_free.national_number_pattern)
    return (
        re.compile("|".join(f"(?:{v})" for v in valid)),
        re.compile("|".join(f"(?:{t})" for t in toll_free) or "(?!)"),
    )


def _plain_nanp(ten_digits: str) -> bool:
    """Whether a ten-digit national number is a valid North American number
    that is not toll-free (``library_phone`` gives those the national format)."""
    valid, toll_free = _nanp_patterns()
    return bool(valid.fullmatch(ten_digits)) and not toll_free.fullmatch(ten_digits)


def nanp_fast(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """(rows, formatted): the national format of the values that are plain
    North American numbers. Plain means: only digits and the spacing
    characters `` -.()``, and either 10 digits starting 2-9, or "1" and 10
    such digits, or "+1" and 10 such digits, that phonenumbers calls valid and
    not toll-free. ``library_phone`` gives the same result for all of them
    when read in a +1 region for a +1 home (tests check this); the rest need it."""
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
    # Validity by phonenumbers' patterns, once per distinct number.
    numbers = strings_of(digits) if len(rows) else []
    keep = np.fromiter(map_unique(numbers, _plain_nanp), dtype=bool, count=len(numbers))
    rows, digits = rows[keep], digits[keep]
    shaped = np.empty((len(rows), 14), dtype=np.uint32)
    shaped[:, 0], shaped[:, 4], shaped[:, 5], shaped[:, 9] = _OPEN, _CLOSE, _SPACE, _DASH
    shaped[:, 1:4], shaped[:, 6:9], shaped[:, 10:14] = (
        digits[:, 0:3],
        digits[:, 3:6],
        digits[:, 6:10],
    )
    return rows, strings_of(shaped)


def library_phone(
    text: str, region: str, home: str = "US", *, own_region: bool = False
) -> tuple[str, str] | None:
    """(formatted number, extension or "") by phonenumbers, or None if not valid.

    ``region`` is the region a number without a country code is read in
    ("ZZ": none, only numbers with their country code are read); ``home``
    the site's, whose numbers get the national format. ``own_region`` says
    the region came from the row itself (its country column): only then is a
    toll-free number without a country code accepted.
    """
    international = _DOUBLE_ZERO.match(text)
    if international:  # "00" is the exit code of most of the world: "+"
        text = "+" + text[international.end() :]
    try:
        number = phonenumbers.parse(text, region, keep_raw_input=True)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    toll_free = phonenumbers.number_type(number) == Type.TOLL_FREE
    written_country = number.country_code_source in _WRITTEN_COUNTRY
    if toll_free and not written_country and not own_region:
        return None
    extension = number.extension or ""
    number.extension = None  # formatted separately, as a note
    national = number.country_code == phonenumbers.country_code_for_region(home) and not toll_free
    number = phonenumbers.PhoneNumber(
        country_code=number.country_code,
        national_number=number.national_number,
        italian_leading_zero=number.italian_leading_zero,
        number_of_leading_zeros=number.number_of_leading_zeros,
    )  # without the raw input, which format_number would otherwise echo
    style = PhoneNumberFormat.NATIONAL if national else PhoneNumberFormat.INTERNATIONAL
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
    if not code.isalpha() or phonenumbers.country_code_for_region(code) == 0:
        raise ConfigError(
            f"phone region {region!r} is not a known region code; use e.g. US, CA, GB"
        )
    return code


def normalize_phone(
    s: pd.Series, region: str = "US", *, home: str = "US", regions: Sequence[str] | None = None
) -> Cleaned:
    """Phone numbers validated and formatted (see the module docstring).

    ``region`` is the ISO country whose national numbers need no "+" prefix;
    ``regions``, when given, holds each row's own region (from its country
    column; "" where the row names none, "ZZ" where it names no country
    phonenumbers knows), which wins over ``region``. ``home`` is the site's
    region: its numbers get the national format. ``notes`` holds "ext. 55"
    where a cell had an extension. Raises ConfigError for an unknown
    ``region`` or ``home``. Idempotent on ``values`` read in the same regions.
    """
    region, home = check_region(region), check_region(home)
    values = clean_values(texts(s))
    out = np.full(len(values), "", dtype=object)
    invalid = np.zeros(len(values), dtype=bool)
    notes = np.full(len(values), "", dtype=object)
    if regions is None:
        groups = {(region, False): np.arange(len(values))}
    else:
        own = np.asarray(regions, dtype=object)
        groups = {
            (str(code) or region, bool(code)): np.flatnonzero(own == code)
            for code in dict.fromkeys(own.tolist())
        }
    for (read_in, own_region), rows in groups.items():
        chunk = [values[i] for i in rows.tolist()] if regions is not None else values
        formatted, bad, extensions = _normalize_in(chunk, read_in, home, own_region)
        out[rows], invalid[rows], notes[rows] = formatted, bad, extensions
    return Cleaned(like(s, out.tolist()), flags(s, invalid), like(s, notes.tolist()))


def _normalize_in(
    values: list[str], region: str, home: str, own_region: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(formatted, invalid, notes) of cleaned cells all read in ``region``."""
    # The fast path gives what the library gives for a +1 region and a +1 home.
    nanp = phonenumbers.country_code_for_region(region) == 1
    nanp &= phonenumbers.country_code_for_region(home) == 1
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
    by_library = map_unique(
        need_library,
        lambda b: library_phone(b, region, home, own_region=own_region) if b else None,
    )
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
    return out, invalid, notes
