"""Value normalisers (importer.normalize.transforms): dirty cases, idempotency, fast paths.

Three kinds of test:
* tables of real dirty values (from CRM exports) with the value each must give;
* hypothesis properties: every normaliser is idempotent and never makes its
  own output invalid;
* hypothesis properties for the fast paths: whatever a whole-column fast
  path accepts, the library (phonenumbers, email-validator, strptime) gives
  the same result for, so speed never changes an answer.
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.errors import ConfigError
from importer.normalize import regions
from importer.normalize.addresses import normalize_state, normalize_zip
from importer.normalize.dates import compile_format, parse_datetime, valid_iso_datetime_mask
from importer.normalize.emails import (
    FAST_EMAIL,
    is_fast_email,
    library_email,
    normalize_email,
    surely_invalid,
    valid_email_mask,
)
from importer.normalize.names import fast_split, split_name, split_one
from importer.normalize.numbers import floor_integer, half_part, to_integer
from importer.normalize.phones import library_phone, nanp_fast, normalize_phone
from importer.normalize.text import (
    PLACEHOLDERS,
    Cleaned,
    _clean_one,
    clean_multiline,
    clean_text,
    clean_values,
    lower,
    map_values,
    split_multi,
    title_case,
    upper,
)

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NY = "America/New_York"


def col(*values: str) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def cells(result: Cleaned) -> list[tuple[str, bool]]:
    return list(zip(result.values.tolist(), result.invalid.tolist(), strict=True))


def assert_idempotent(result: Cleaned, again: Cleaned) -> None:
    assert again.values.tolist() == result.values.tolist()
    assert not again.invalid.any()


# Any text a spreadsheet cell could hold, biased towards the troublemakers.
messy_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
        st.sampled_from(list(" \t\n\r\u00a0\u200b\u200c\ufeff=\"'+-@,.;:()#xX0123456789")),
    ),
    max_size=30,
)


# --- input and output shapes -------------------------------------------------


def test_missing_cells_and_object_dtype_become_empty_text() -> None:
    raw = pd.Series([" a ", None, np.nan, 42, "b"], index=[10, 11, 12, 13, 14], dtype=object)
    out = clean_text(raw)
    assert out.tolist() == ["a", "", "", "42", "b"]
    assert out.index.tolist() == [10, 11, 12, 13, 14]
    assert out.dtype == object


def test_str_dtype_is_kept_and_missing_cells_are_never_nan() -> None:
    raw = pd.Series(["x@y.com", None], dtype="str", name="Email")
    result = normalize_email(raw)
    assert isinstance(result.values.dtype, pd.StringDtype)
    assert result.values.tolist() == ["x@y.com", ""]
    assert result.values.name == "Email"
    assert result.invalid.dtype == bool


@pytest.mark.parametrize(
    "apply",
    [
        clean_text,
        lambda s: normalize_email(s).values,
        lambda s: normalize_phone(s).values,
        lambda s: normalize_zip(s).values,
        lambda s: normalize_state(s).values,
        lambda s: split_name(s)[0],
        lambda s: parse_datetime(s, ["%m/%d/%Y"]).values,
        lambda s: to_integer(s).values,
    ],
)
def test_empty_series_give_empty_results(apply) -> None:
    assert apply(col()).tolist() == []


# --- clean_text --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  Ana  Prado ", "Ana Prado"),
        ("Ana\u00a0Prado", "Ana Prado"),  # non-breaking space
        ("\u200bAna\u200b", "Ana"),  # zero-width spaces
        ("\ufeffAna", "Ana"),  # stray BOM
        ("Ana\tPrado\r\nJr", "Ana Prado Jr"),  # single-line field: breaks become spaces
        ("N/A", ""),
        ("  null ", ""),
        ("NaN", ""),
        ("No Name", ""),
        ("#N/A", ""),
        ("(blank)", ""),
        ("--", ""),
        ("0", "0"),  # a real value (zero bedrooms), not a placeholder
        ("test", "test"),
        ('="00123"', "00123"),  # Excel "keep as text"
        ('="say ""hi"""', 'say "hi"'),
        ("'+39 0471 123456", "+39 0471 123456"),  # formula-injection quote
        ("''=SUM(A1)", "=SUM(A1)"),
        ("O'Brien", "O'Brien"),
        ("'quoted'", "'quoted'"),
        ("Zoë \u200dx", "Zoë \u200dx"),  # a joiner inside text is kept
    ],
)
def test_clean_text_cases(raw: str, clean: str) -> None:
    assert clean_text(col(raw)).tolist() == [clean]


def test_clean_text_takes_custom_placeholders() -> None:
    assert clean_text(col("test", "N/A", "TBD"), placeholders={"TBD", "test"}).tolist() == [
        "",
        "N/A",
        "",
    ]
    assert clean_text(col("test"), placeholders=PLACEHOLDERS | {"test"}).tolist() == [""]


@PROPERTY
@given(st.lists(messy_text, max_size=12))
def test_clean_text_is_idempotent_and_leaves_single_spaced_printable_text(
    values: list[str],
) -> None:
    once = clean_text(col(*values)).tolist()
    assert clean_text(col(*once)).tolist() == once
    for text in once:
        assert text == text.strip() and "  " not in text
        assert not any(c in text for c in "\t\n\r\x00\u00a0\u200b\ufeff")


@PROPERTY
@given(st.lists(messy_text, max_size=12))
def test_whole_column_detection_cleans_every_cell_that_needs_it(values: list[str]) -> None:
    # The column is scanned at once; each cell must still get the per-cell rule.
    expected = ["" if _clean_one(v).casefold() in PLACEHOLDERS else _clean_one(v) for v in values]
    assert clean_values(values) == expected


placeholder_like = st.builds(
    lambda word, upper, pad, wrap: (
        (f'="{word}"' if wrap else word)
        .translate({ord(c): c.upper() for c in upper})
        .center(len(word) + pad)
    ),
    st.sampled_from(sorted(PLACEHOLDERS)),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz", max_size=5),
    st.integers(0, 3),
    st.booleans(),
)


@PROPERTY
@given(st.lists(placeholder_like | messy_text | st.just("\u212anown"), max_size=12))
def test_placeholders_in_any_case_are_found_in_the_joined_column(values: list[str]) -> None:
    # ASCII case-insensitive: "N/a", " NULL ", '="none"' are placeholders; a
    # look-alike such as the Kelvin sign in "\u212anown" is not one.
    expected = [
        ""
        if _clean_one(v).isascii() and _clean_one(v).casefold() in PLACEHOLDERS
        else _clean_one(v)
        for v in values
    ]
    assert clean_values(values) == expected


def test_clean_multiline_keeps_paragraphs_and_trims_lines() -> None:
    raw = col("  first line  \r\n\r\n\r\n  second\t\tline \n\n", "one line ", " n/a ", "a\u2028b")
    assert clean_multiline(raw).tolist() == ["first line\n\nsecond line", "one line", "", "a\nb"]


@PROPERTY
@given(st.lists(messy_text, max_size=8))
def test_clean_multiline_is_idempotent(values: list[str]) -> None:
    once = clean_multiline(col(*values)).tolist()
    assert clean_multiline(col(*once)).tolist() == once


# --- emails ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value", "invalid"),
    [
        ("JOHN@Example.com ", "john@example.com", False),
        ("MKNOBELOCK@MSKCOMPANIES.COM", "mknobelock@mskcompanies.com", False),
        ("mailto:Ana@Prado.org", "ana@prado.org", False),
        ("Ana Prado <Ana@Prado.org>", "ana@prado.org", False),
        ("<ana@prado.org>;", "ana@prado.org", False),
        ("o'brien+crm@mail.co.uk", "o'brien+crm@mail.co.uk", False),
        ("a..b@x.com", "", True),
        (".a@x.com", "", True),
        ("a.@x.com", "", True),
        ("user@test.test", "", True),  # special-use domain
        ("user@localhost", "", True),
        ("user@x", "", True),  # no dot in the domain
        ("a@b@c.com", "", True),
        ("john at example dot com", "", True),
        ("/o=ExchangeLabs/ou=Exchange/cn=Recipients", "", True),  # Outlook internal address
        ("n/a", "", False),
        ("none", "", False),
        ("", "", False),
        ("a@xn--bcher-kva.ch", "a@bücher.ch", False),  # the library's canonical IDN form
        ("x@ab--c.com", "", True),  # "ab--" labels are reserved
    ],
)
def test_normalize_email_cases(raw: str, value: str, invalid: bool) -> None:
    assert cells(normalize_email(col(raw))) == [(value, invalid)]


def test_deny_domains_blank_the_address_without_rejecting_it() -> None:
    result = normalize_email(
        col("lead123@kvleads.com", "x@mail.kvleads.com", "x@notkvleads.com", "ok@gmail.com"),
        deny_domains=["KVLEADS.com"],
    )
    assert cells(result) == [
        ("", False),
        ("", False),
        ("x@notkvleads.com", False),
        ("ok@gmail.com", False),
    ]
    assert result.notes is not None
    assert result.notes.tolist() == ["lead123@kvleads.com", "x@mail.kvleads.com", "", ""]


email_like = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.text(alphabet=string.ascii_letters + string.digits + ".-_+'!#~", min_size=1, max_size=20),
    st.text(alphabet=string.ascii_lowercase + string.digits + ".-", min_size=1, max_size=20),
    st.one_of(
        st.sampled_from(["com", "org", "co.uk", "test", "local", "arpa", "x", "c0m", "onion"]),
        st.text(string.ascii_lowercase, min_size=1, max_size=5),
    ),
)


# Strings of the fast regex's own language (without possessive quantifiers,
# which hypothesis cannot generate from), long ones included.
fast_language = st.from_regex(
    re.compile(FAST_EMAIL.pattern.replace("++", "+").replace("*+", "*"), re.ASCII), fullmatch=True
)


@PROPERTY
@given(st.one_of(email_like, email_like.map(str.lower), fast_language, messy_text))
def test_the_fast_email_check_accepts_only_what_the_library_accepts_unchanged(address: str) -> None:
    if is_fast_email(address):
        assert library_email(address) == address
    if surely_invalid(address):
        assert library_email(address) is None


@PROPERTY
@given(st.lists(st.one_of(email_like, messy_text), max_size=10))
def test_normalize_email_is_idempotent_and_its_output_passes_the_mask(values: list[str]) -> None:
    result = normalize_email(col(*values))
    assert_idempotent(result, normalize_email(result.values))
    assert valid_email_mask(result.values).all()
    assert (result.values[result.invalid] == "").all()


def test_valid_email_mask() -> None:
    mask = valid_email_mask(
        col("", "a@b.com", "A@B.COM", "a@bücher.ch", "bad", "a@x.test", " a@b.com")
    )
    assert mask.tolist() == [True, True, True, True, False, False, False]


# --- phones ------------------------------------------------------------------

EIGHT_SHAPES = [
    "808-555-1234",
    "8085551234",
    "(808) 555-1234",
    "808.555.1234",
    "18085551234",
    "+1 (808) 555-1234",
    "+1 808 555 1234",
    "1-808-555-1234",
]


def test_the_eight_us_phone_shapes_give_the_national_format() -> None:
    result = normalize_phone(col(*EIGHT_SHAPES))
    assert cells(result) == [("(808) 555-1234", False)] * 8
    assert result.notes is not None and (result.notes == "").all()


@pytest.mark.parametrize(
    ("raw", "value", "note", "invalid"),
    [
        ("731-620-9877 x6155", "(731) 620-9877", "ext. 6155", False),
        ("415.555.0101 ext. 55", "(415) 555-0101", "ext. 55", False),
        ("(415) 555-0101 extension 7", "(415) 555-0101", "ext. 7", False),
        ("415-555-0101#12", "(415) 555-0101", "ext. 12", False),
        ("+44 20 7946 0958", "+44 20 7946 0958", "", False),
        ("011 44 20 7946 0958", "+44 20 7946 0958", "", False),  # US exit code
        ("+55 83 3214-1234", "+55 83 3214-1234", "", False),
        ("1.4E+10", "", "", True),  # Excel lost the digits: never guessed back
        ("4.155550101E+09", "", "", True),
        ("4155550101.0", "(415) 555-0101", "", False),  # from a float column: exact
        ('="4155550101"', "(415) 555-0101", "", False),
        ("555-12", "", "", True),  # fewer than 7 digits
        ("12345", "", "", True),
        ("04 50 11 22 33", "", "", True),  # a French number without +33
        ("123-456-7890", "", "", True),  # NANP area codes never start with 1
        ("call me maybe", "", "", True),
        ("n/a", "", "", False),
        ("", "", "", False),
        # toll-free without its country code: 1-800 is also India's, Singapore's ...
        ("1-800-FLOWERS", "", "", True),
        ("+1-800-FLOWERS", "+1 800-356-9377", "", False),
        ("(953) 944-0441", "", "", True),  # no such area code (issue 10): not valid
        ("0044 20 7946 0958", "+44 20 7946 0958", "", False),  # 00: international
        ("415 555 0101 / 415 555 0102", "", "", True),  # two numbers in one cell
    ],
)
def test_normalize_phone_cases(raw: str, value: str, note: str, invalid: bool) -> None:
    result = normalize_phone(col(raw))
    assert result.notes is not None
    assert (result.values[0], result.notes[0], bool(result.invalid[0])) == (value, note, invalid)


def test_phone_region_decides_numbers_without_a_plus() -> None:
    result = normalize_phone(col("020 7946 0958", "+1 415 555 0101"), region="gb")
    assert result.values.tolist() == ["+44 20 7946 0958", "(415) 555-0101"]
    with pytest.raises(ConfigError, match="region"):
        normalize_phone(col("1"), region="XX")


nanp_ish = st.text(alphabet="0123456789 -.()+", max_size=18)
nanp_numbers = st.builds(
    lambda shape, area, exchange, line: shape.format(a=area, b=exchange, c=line),
    st.sampled_from(EIGHT_SHAPES).map(
        lambda s: s.replace("808", "{a}").replace("555", "{b}").replace("1234", "{c}")
    ),
    st.integers(100, 999),
    st.integers(0, 999).map("{:03d}".format),
    st.integers(0, 9999).map("{:04d}".format),
)


@PROPERTY
@given(st.lists(st.one_of(nanp_ish, nanp_numbers), min_size=1, max_size=10))
def test_the_phone_fast_path_agrees_with_phonenumbers(values: list[str]) -> None:
    rows, formatted = nanp_fast(values)
    for row, text in zip(rows.tolist(), formatted, strict=True):
        assert library_phone(values[row], "US") == (text, "")


usual_nanp_numbers = st.builds(
    lambda shape, area, exchange, line: shape.format(a=area, b=exchange, c=line),
    st.sampled_from(EIGHT_SHAPES).map(
        lambda s: s.replace("808", "{a}").replace("555", "{b}").replace("1234", "{c}")
    ),
    st.integers(200, 999),
    st.integers(0, 999).map("{:03d}".format),
    st.integers(0, 9999).map("{:04d}".format),
)


@PROPERTY
@given(st.lists(usual_nanp_numbers, min_size=1, max_size=10))
def test_the_phone_fast_path_takes_every_usual_shape_the_library_formats_nationally(
    values: list[str],
) -> None:
    # and leaves to the library exactly the numbers it refuses or writes as +1
    rows, _ = nanp_fast(values)
    national = [i for i, v in enumerate(values) if (library_phone(v, "US") or ("+",))[0][0] != "+"]
    assert rows.tolist() == national


def test_the_phone_fast_path_agrees_with_phonenumbers_on_every_area_code() -> None:
    # every area code and exchange digit, with a few line numbers: the fast
    # path's patterns are phonenumbers' own, region by region
    values = [f"{a}{e}{line}" for a in range(200, 1000) for e in ("201", "555", "987")
              for line in ("0100", "9999")]  # fmt: skip
    rows, formatted = nanp_fast(values)
    by_fast = dict(zip(rows.tolist(), formatted, strict=True))
    for i, value in enumerate(values):
        found = library_phone(value, "US")
        expected = found[0] if found and not found[0].startswith("+") else None
        assert by_fast.get(i) == expected, value


@PROPERTY
@given(
    st.lists(
        st.one_of(
            nanp_numbers, nanp_ish, messy_text, st.sampled_from(["+44 20 7946 0958 x 3", "1.4E+10"])
        ),
        max_size=10,
    )
)
def test_normalize_phone_is_idempotent(values: list[str]) -> None:
    result = normalize_phone(col(*values))
    assert_idempotent(result, normalize_phone(result.values))


# --- ZIP codes and states ----------------------------------------------------


def test_zip_codes() -> None:
    zips = col(
        "2134",
        "2134",
        "021341234",
        "02134 1234",
        "02134-1234",
        "601",
        "802",
        "9012",
        "6390",
        "abc",
        "",
        "n/a",
        "2134",
    )
    states = col("MA", "TX", "", "", "", "Puerto Rico", "VI", "AE", "NY", "MA", "", "", "")
    assert cells(normalize_zip(zips, states)) == [
        ("02134", False),
        ("", True),  # 021 is not a Texas prefix
        ("02134-1234", False),
        ("02134-1234", False),
        ("02134-1234", False),
        ("00601", False),
        ("00802", False),
        ("09012", False),  # military mail, Europe
        ("06390", False),  # Fishers Island, NY
        ("", True),
        ("", False),
        ("", False),
        ("", True),  # no state to confirm the lost zero
    ]


def test_zip_codes_of_other_countries_pass_through() -> None:
    zips = col("M5V 3L9", "SW1A 1AA", "2134", "K1A 0B1")
    result = normalize_zip(
        zips, state=col("ON", "", "MA", ""), country=col("", "United Kingdom", "U.S.A.", "Canada")
    )
    assert cells(result) == [
        ("M5V 3L9", False),
        ("SW1A 1AA", False),
        ("02134", False),
        ("K1A 0B1", False),
    ]


def test_zip_needs_state_and_country_cell_for_cell() -> None:
    with pytest.raises(ValueError, match="state/country"):
        normalize_zip(col("02134", "10001"), state=col("MA"))


def test_zero_prefix_table_matches_the_real_zip_ranges() -> None:
    assert regions.zip_fits_state("02134", "MA") and regions.zip_fits_state("05501", "MA")
    assert regions.zip_fits_state("02903", "RI") and not regions.zip_fits_state("02903", "MA")
    assert regions.zip_fits_state("03801", "NH") and regions.zip_fits_state("03901", "ME")
    assert not regions.zip_fits_state("05501", "VT") and regions.zip_fits_state("05401", "VT")
    assert not regions.zip_fits_state("10001", "NY") and not regions.zip_fits_state("02134", None)


@PROPERTY
@given(
    st.lists(
        st.tuples(
            st.one_of(st.from_regex(r"\d{3,9}", fullmatch=True), messy_text),
            st.sampled_from(["MA", "NJ", "TX", "PR", "", "ON"]),
        ),
        max_size=10,
    )
)
def test_normalize_zip_is_idempotent(rows: list[tuple[str, str]]) -> None:
    zips, states = col(*(z for z, _ in rows)), col(*(s for _, s in rows))
    result = normalize_zip(zips, states)
    assert_idempotent(result, normalize_zip(result.values, states))


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("Massachusetts", "MA"),
        ("mass.", "MA"),
        ("ma", "MA"),
        ("MA ", "MA"),
        ("N.H.", "NH"),
        ("N. Carolina", "NC"),
        ("W. Va.", "WV"),
        ("Washington, D.C.", "DC"),
        ("Washington", "WA"),
        ("Hawaiʻi", "HI"),
        ("US-CA", "CA"),
        ("Puerto Rico", "PR"),
        ("Armed Forces Europe", "AE"),
        ("Québec", "QC"),
        ("Ontario", "ON"),
        ("Calif.", "CA"),
    ],
)
def test_state_names_and_abbreviations(raw: str, code: str) -> None:
    assert cells(normalize_state(col(raw))) == [(code, False)]


def test_unknown_states_are_invalid_and_empty_ones_are_not() -> None:
    assert cells(normalize_state(col("Narnia", "", "N/A", "XX"))) == [
        ("", True),
        ("", False),
        ("", False),
        ("", True),
    ]


@PROPERTY
@given(
    st.lists(
        st.one_of(
            st.sampled_from(sorted(regions.US_STATES.values())),
            st.sampled_from(sorted(regions.US_CODES)).map(str.lower),
            messy_text,
        ),
        max_size=10,
    )
)
def test_normalize_state_is_idempotent(values: list[str]) -> None:
    result = normalize_state(col(*values))
    assert_idempotent(result, normalize_state(result.values))


# --- names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "first", "last"),
    [
        ("Prado, Ana", "Ana", "Prado"),
        ("Chen, Maya Li", "Maya Li", "Chen"),
        ("Ana Prado", "Ana", "Prado"),
        ("Ana Maria de la Cruz", "Ana Maria", "de la Cruz"),
        ("Ludwig van Beethoven", "Ludwig", "van Beethoven"),
        ("Anna van der Berg", "Anna", "van der Berg"),
        ("John Smith Jr.", "John", "Smith Jr."),
        ("Martin Luther King III", "Martin Luther", "King III"),
        ("Ana Prado, Jr.", "Ana", "Prado Jr."),
        ("Smith Jr., John", "John", "Smith Jr."),
        ("Dr. Ana Prado", "Ana", "Prado"),
        ("Mr. Smith", "", "Smith"),
        ("Cher", "Cher", ""),
        ("De la Cruz", "De", "la Cruz"),
        ("4155550101", "", ""),  # kvCORE puts the phone in the name
        ("(415) 555-0101", "", ""),
        ("  ANA   PRADO ", "ANA", "PRADO"),
        ("N/A", "", ""),
        ("", "", ""),
        ("José Núñez", "José", "Núñez"),
        ("Drew Barrymore", "Drew", "Barrymore"),  # "Dr" prefix, not a title
    ],
)
def test_split_name_cases(raw: str, first: str, last: str) -> None:
    firsts, lasts = split_name(col(raw))
    assert (firsts[0], lasts[0]) == (first, last)


name_word = st.text(alphabet=string.ascii_letters + "ÁÉéñüö'-", min_size=1, max_size=10).filter(
    lambda w: w[0].isalpha()
)
name_words = st.lists(
    st.one_of(name_word, st.sampled_from(["de", "la", "van", "Jr.", "III", "Dr.", "Mr", "Maria"])),
    min_size=1,
    max_size=5,
)


@PROPERTY
@given(st.lists(name_words.map(" ".join), min_size=1, max_size=8))
def test_split_name_round_trips_first_last(names: list[str]) -> None:
    firsts, lasts = split_name(col(*names))
    for first, last in zip(firsts, lasts, strict=True):
        if first and last:
            again_first, again_last = split_name(col(f"{first} {last}"))
            assert (again_first[0], again_last[0]) == (first, last)


@PROPERTY
@given(st.lists(st.one_of(name_words.map(" ".join), messy_text), min_size=1, max_size=12))
def test_the_name_fast_path_agrees_with_the_full_rule(values: list[str]) -> None:
    cleaned = clean_values(values)
    rows, firsts, lasts = fast_split(cleaned)
    for row, first, last in zip(rows.tolist(), firsts, lasts, strict=True):
        assert split_one(cleaned[row]) == (first, last)


# --- dates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "formats", "zone", "value"),
    [
        ("03/15/2024 09:30", ["%m/%d/%Y %H:%M"], NY, "2024-03-15T09:30:00-04:00"),
        ("3/15/2024 9:30", ["%m/%d/%Y %H:%M"], NY, "2024-03-15T09:30:00-04:00"),
        ("1/15/2024", ["%m/%d/%Y"], NY, "2024-01-15T00:00:00-05:00"),  # date only: local midnight
        (
            "15.01.2024 17:05:09",
            ["%d.%m.%Y %H:%M:%S"],
            "Europe/Berlin",
            "2024-01-15T17:05:09+01:00",
        ),
        ("3/10/2024 2:30", ["%m/%d/%Y %H:%M"], NY, "2024-03-10T03:00:00-04:00"),  # DST gap: forward
        (
            "11/3/2024 1:30",
            ["%m/%d/%Y %H:%M"],
            NY,
            "2024-11-03T01:30:00-04:00",
        ),  # ambiguous: earlier
        (
            "2024-03-15T13:30:00Z",
            ["%m/%d/%Y"],
            NY,
            "2024-03-15T09:30:00-04:00",
        ),  # keeps its instant
        ("2024-03-15T13:30:00.000+0000", [], "UTC", "2024-03-15T13:30:00+00:00"),  # Salesforce
        ("2015-10-01T06:14:01.597026Z", [], "UTC", "2015-10-01T06:14:01.597026+00:00"),
        ("2024-03-15 08:30:00 -05:00", [], NY, "2024-03-15T09:30:00-04:00"),
        ("2024-03-15 13:30 UTC", [], "Pacific/Honolulu", "2024-03-15T03:30:00-10:00"),
        (
            "2024-03-15",
            ["%m/%d/%Y"],
            "UTC",
            "2024-03-15T00:00:00+00:00",
        ),  # naive ISO always understood
        ("45123", ["%m/%d/%Y"], NY, "2023-07-16T00:00:00-04:00"),  # Excel day number
        ("45123.75", ["%m/%d/%Y"], "UTC", "2023-07-16T18:00:00+00:00"),
        ("Mar 5, 2024", ["%b %d, %Y"], "UTC", "2024-03-05T00:00:00+00:00"),
        ("march 5 2024", ["%B %d %Y"], "UTC", "2024-03-05T00:00:00+00:00"),
        ("3/15/24 9:30 PM", ["%m/%d/%y %I:%M %p"], "UTC", "2024-03-15T21:30:00+00:00"),
        ("3/15/24 12:05 am", ["%m/%d/%y %I:%M %p"], "UTC", "2024-03-15T00:05:00+00:00"),
        ("1/2/69", ["%m/%d/%y"], "UTC", "1969-01-02T00:00:00+00:00"),  # the strptime pivot
        ("1/2/68", ["%m/%d/%y"], "UTC", "2068-01-02T00:00:00+00:00"),
        ("20240315", ["%Y%m%d"], "UTC", "2024-03-15T00:00:00+00:00"),
        (
            "Fri, 15 Mar 2024 09:30:00 +0100",
            ["%a, %d %b %Y %H:%M:%S %z"],
            "UTC",
            "2024-03-15T08:30:00+00:00",
        ),
        ("0/0/00", ["%m/%d/%y"], "UTC", ""),  # Outlook's empty date
    ],
)
def test_parse_datetime_cases(raw: str, formats: list[str], zone: str, value: str) -> None:
    assert cells(parse_datetime(col(raw), formats, zone)) == [(value, False)]


def test_formats_are_tried_in_order_per_cell() -> None:
    result = parse_datetime(col("12/31/2024", "31/12/2024", "13/13/2024"), ["%m/%d/%Y", "%d/%m/%Y"])
    assert cells(result) == [
        ("2024-12-31T00:00:00+00:00", False),
        ("2024-12-31T00:00:00+00:00", False),
        ("", True),
    ]


def test_dayfirst_picks_the_built_in_day_first_formats() -> None:
    assert parse_datetime(col("05/03/2024"), []).values[0] == "2024-05-03T00:00:00+00:00"
    assert (
        parse_datetime(col("05/03/2024"), [], dayfirst=True).values[0]
        == "2024-03-05T00:00:00+00:00"
    )


@pytest.mark.parametrize(
    "raw",
    [
        "2024-02-30",
        "garbage",
        "12345",
        "99999",
        "1/1/1700",
        "3/15/2024 25:00",
        "45123",
        "2024-03-15T09:30:00+25:00",
    ],
)
def test_impossible_dates_are_invalid(raw: str) -> None:
    assert cells(
        parse_datetime(col(raw), ["%m/%d/%Y", "%m/%d/%Y %H:%M"], excel_serial=raw != "45123")
    ) == [("", True)]


@pytest.mark.parametrize(
    ("formats", "zone", "message"),
    [
        (["%m/%d/%Y %Z"], "UTC", "not supported"),
        (["%m/%d"], "UTC", "needs a year"),
        (["%Y-%m-%d %H:%H"], "UTC", "twice"),
        ([], "Mars/Base", "time zone"),
    ],
)
def test_configuration_errors(formats: list[str], zone: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_datetime(col("x"), formats, zone)


FORMATS = [
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%Y-%m-%d %I:%M %p",
    "%d %b %Y %H:%M",
    "%B %d, %Y %H:%M:%S.%f",
    "%m/%d/%y",
]


def wall_times() -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(2098, 12, 31))


@PROPERTY
@given(
    st.lists(st.tuples(wall_times(), st.sampled_from(FORMATS)), min_size=1, max_size=8),
    st.sampled_from([NY, "UTC", "Asia/Kolkata", "Australia/Lord_Howe"]),
)
def test_parse_datetime_agrees_with_strptime_and_zoneinfo(
    rows: list[tuple[datetime, str]], zone: str
) -> None:
    tz = ZoneInfo(zone)
    for moment, fmt in rows:
        text = moment.strftime(fmt)
        result = parse_datetime(col(text), [fmt], zone)
        wall = datetime.strptime(text, fmt)
        placed = wall.replace(tzinfo=tz)  # fold=0: the earlier of two, as the rule says
        if placed.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
            continue  # in a DST gap: zoneinfo and the shift-forward rule differ by design
        offset = placed.utcoffset()
        assert offset is not None
        # Local mean time offsets have seconds: those instants are written in UTC.
        expected = (
            placed.isoformat() if offset.seconds % 60 == 0 else placed.astimezone(UTC).isoformat()
        )
        assert result.values[0] == expected, (text, fmt)


@PROPERTY
@given(
    st.lists(
        st.one_of(
            wall_times().map(lambda d: d.strftime("%m/%d/%Y %H:%M")),
            st.datetimes(
                min_value=datetime(1900, 1, 2),
                max_value=datetime(2990, 1, 1),
                timezones=st.sampled_from([UTC, ZoneInfo(NY), ZoneInfo("Asia/Kathmandu")]),
            ).map(datetime.isoformat),
            st.integers(30000, 80000).map(str),
            messy_text,
        ),
        max_size=8,
    ),
    st.sampled_from([NY, "UTC", "Africa/Monrovia", "Europe/London"]),
)
def test_parse_datetime_is_idempotent_and_its_output_passes_the_mask(
    values: list[str], zone: str
) -> None:
    result = parse_datetime(col(*values), ["%m/%d/%Y %H:%M"], zone)
    assert_idempotent(result, parse_datetime(result.values, ["%d.%m.%Y"], zone))
    assert valid_iso_datetime_mask(result.values).all()


def test_an_instant_whose_local_offset_has_seconds_is_written_in_utc() -> None:
    # Monrovia kept local mean time (UTC-0:44:30) until 1972.
    result = parse_datetime(col("1960-06-01 12:00"), [], "Africa/Monrovia")
    assert result.values[0] == (datetime(1960, 6, 1, 12, 44, 30, tzinfo=UTC)).isoformat()


def test_valid_iso_datetime_mask() -> None:
    mask = valid_iso_datetime_mask(
        col(
            "",
            "2024-03-15T09:30:00-04:00",
            "2024-03-15T09:30:00.5Z",
            "2024-03-15T09:30Z",
            "2024-03-15T09:30:00",
            "2024-03-15 09:30:00Z",
            "2024-02-30T09:30:00Z",
            "2024-03-15T09:30:00+0400",
            " 2024-03-15T09:30:00Z",
        )
    )
    assert mask.tolist() == [True, True, True, True, False, False, False, False, False]


def test_compile_format_reads_adjacent_fields_only_when_zero_padded() -> None:
    pattern = compile_format("%Y%m%d")
    assert pattern.regex.fullmatch("99999999") and not pattern.regex.fullmatch("9999999999")
    # Microseconds and offsets parse exactly.
    stamp = datetime(2024, 1, 2, 3, 4, 5, 600, tzinfo=timezone(timedelta(minutes=-90)))
    assert (
        parse_datetime(
            col(stamp.strftime("%Y-%m-%d %H:%M:%S.%f %z")), ["%Y-%m-%d %H:%M:%S.%f %z"]
        ).values[0]
        == stamp.astimezone(UTC).isoformat()
    )


# --- integers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "exact", "floor", "half"),
    [
        ("450,000", ("450000", False), ("450000", False), ("0", False)),
        ("$450,000.00", ("450000", False), ("450000", False), ("0", False)),
        ("450000$", ("450000", False), ("450000", False), ("0", False)),
        (" 3 ", ("3", False), ("3", False), ("0", False)),
        ("2.0", ("2", False), ("2", False), ("0", False)),
        ("2.5", ("", True), ("2", False), ("1", False)),
        ("2.75", ("", True), ("2", False), ("1", False)),
        ("2.1", ("", True), ("2", False), ("1", False)),
        ("-2.5", ("", True), ("-3", False), ("1", False)),
        ("(500)", ("-500", False), ("-500", False), ("0", False)),
        ("007", ("7", False), ("7", False), ("0", False)),
        ("abc", ("", True), ("", True), ("", True)),
        ("4,50", ("", True), ("", True), ("", True)),
        ("1e5", ("", True), ("", True), ("", True)),
        ("450 000", ("", True), ("", True), ("", True)),
        ("", ("", False), ("", False), ("", False)),
        ("N/A", ("", False), ("", False), ("", False)),
    ],
)
def test_integer_readers(
    raw: str, exact: tuple[str, bool], floor: tuple[str, bool], half: tuple[str, bool]
) -> None:
    assert cells(to_integer(col(raw))) == [exact]
    assert cells(floor_integer(col(raw))) == [floor]
    assert cells(half_part(col(raw))) == [half]


@PROPERTY
@given(
    st.lists(
        st.one_of(
            st.integers(-(10**12), 10**12), st.decimals(-(10**6), 10**6, places=2, allow_nan=False)
        ),
        max_size=8,
    )
)
def test_integer_readers_are_exact_and_idempotent(numbers: list[object]) -> None:
    raw = col(*(f"${n:,}" if isinstance(n, int) and n >= 0 else str(n) for n in numbers))
    exact = to_integer(raw)
    for number, value, invalid in zip(numbers, exact.values, exact.invalid, strict=True):
        whole = int(number)  # type: ignore[call-overload]
        assert (value, invalid) == ((str(whole), False) if number == whole else ("", True))
    assert_idempotent(exact, to_integer(exact.values))
    floored = floor_integer(raw)
    assert_idempotent(floored, floor_integer(floored.values))


# --- value maps and small helpers ----------------------------------------------

ROLES = {
    "buyer": "Buyer",
    "seller": "Seller",
    "buyer/seller": "Buyer and Seller",
    "buyer & seller": "Buyer and Seller",
    "tenant": "Renter",
}


def test_map_values_ignores_case_and_spaces_and_maps_targets_to_themselves() -> None:
    result = map_values(
        col("BUYER", " Buyer / Seller ", "tenant", "Renter", "Buyer and Seller", "investor", ""),
        ROLES,
    )
    assert cells(result) == [
        ("Buyer", False),
        ("Buyer and Seller", False),
        ("Renter", False),
        ("Renter", False),
        ("Buyer and Seller", False),
        ("", True),
        ("", False),
    ]
    assert_idempotent(result, map_values(result.values, ROLES))


def test_map_values_default_and_conflicts() -> None:
    assert cells(map_values(col("investor"), ROLES, default="Buyer")) == [("Buyer", False)]
    with pytest.raises(ConfigError, match="differ only in case"):
        map_values(col("x"), {"Buyer": "Buyer", "BUYER": "Seller"})


def test_split_multi() -> None:
    result = split_multi(col("a ::: b ::: A", "", "x", " ::: n/a ::: y"), ":::")
    assert result.tolist() == [["a", "b"], [], ["x"], ["y"]]
    assert split_multi(col("VIP; buyer;vip;  ;Hot"), ";").tolist() == [["VIP", "buyer", "Hot"]]
    with pytest.raises(ConfigError):
        split_multi(col("a"), "")


def test_case_helpers() -> None:
    assert lower(col(" ANA@X.COM ")).tolist() == ["ana@x.com"]
    assert upper(col("ma ")).tolist() == ["MA"]
    assert title_case(
        col("JOHN o'neil", "McDonald", "3RD street", "ANA-MARIA", "DeShawn SMITH")
    ).tolist() == ["John O'Neil", "McDonald", "3RD Street", "Ana-Maria", "DeShawn Smith"]


@PROPERTY
@given(st.lists(messy_text, max_size=8))
def test_title_case_is_idempotent(values: list[str]) -> None:
    once = title_case(col(*values)).tolist()
    assert title_case(col(*once)).tolist() == once
