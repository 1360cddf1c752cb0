"""The sample Follow Up Boss files: reproducible, correctly encoded, and labelled right.

The expected-outcome files are what the pipeline tests compare a plan with, so
besides checking their shape these tests re-derive every label from the data
with independent rules (email-validator, phonenumbers, date parsing) and fail if
a label and its row disagree.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import itertools
import re
import subprocess
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path
from types import ModuleType

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
GENERATOR = SAMPLE_DATA / "generate.py"

HEADER_LINE = (
    "Date Added,Name,First Name,Last Name,Stage,Lead Source,Assigned To,Is Contacted,Tags,"
    "Email 1,Email 1 - Type,Email 2,Email 2 - Type,Email 3,Email 3 - Type,Phone 1,Phone 1 - Type,"
    "Phone 2,Phone 2 - Type,Phone 3,Phone 3 - Type,Address 1 - Street,Address 1 - City,"
    "Address 1 - State,Address 1 - Zip,Address 1 - Country,Property Address,Property City,"
    "Property State,Property Postal Code,Property MLS Number,Property Price,Property Beds,"
    "Property Baths,Notes,Background,Calls,Texts,Timeframe,ID"
)
FUB_HEADER = next(csv.reader([HEADER_LINE]))
PEOPLE = "followupboss_people.csv"
NOTES = "followupboss_notes.csv"
LEGACY = "followupboss_legacy_cp1252.csv"
COMMITTED = (
    PEOPLE, "followupboss_people.expected.csv", NOTES, "followupboss_notes.expected.csv",
    LEGACY, "followupboss_legacy_cp1252.expected.csv",
)  # fmt: skip

# Every dirty case the brief asks the people file to hold, as case labels.
PEOPLE_CASES = {
    "placeholder_values", "accented_name", "name_last_first", "name_single_column",
    "email_spaces_upper_case", "phone_dashes", "phone_digits10", "phone_parens", "phone_dots",
    "phone_digits11", "phone_plus1_parens", "phone_plus1_spaces", "phone_1_dashes",
    "phone_with_extension", "phone_uk", "zip_lost_leading_zero", "zip_plus4_bare",
    "state_full_name", "excel_text_formula", "multiline_note", "property_inquiry", "phone_only",
    "email_only", "no_id_email_key", "unfixable_zip", "unknown_state", "invalid_email_double_at",
    "invalid_email_no_at", "invalid_email_no_tld", "phone_scientific_notation", "phone_too_short",
    "duplicate_id", "no_contact_details", "no_contact_placeholders", "invalid_date",
    "invalid_email_and_phone",
}  # fmt: skip
NOTES_CASES = {"unknown_person", "rejected_person", "empty_body_and_subject", "multiline_body"}
LEGACY_CASES = {"accented_name", "smart_quotes_note", "euro_note"}

PLACEHOLDERS = {"n/a", "null", "-", "none"}
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%m/%d/%Y")
ZERO_PREFIX_STATES = {"CT", "MA", "ME", "NH", "NJ", "RI", "VT", "PR", "VI"}
STATE_CODES = {
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY",
    "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV",
    "WI", "WY", "DC", "PR", "VI",
}  # fmt: skip
STATE_NAMES = {
    "california": "CA", "hawaii": "HI", "massachusetts": "MA", "new york": "NY", "florida": "FL",
    "texas": "TX", "nevada": "NV", "washington": "WA", "colorado": "CO", "new jersey": "NJ",
    "connecticut": "CT", "rhode island": "RI",
}  # fmt: skip


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fub_sample_generator", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def records(name: str, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[list[str]]:
    """The CSV records of a committed file, counted by a CSV parser (not by lines)."""
    text = (SAMPLE_DATA / name).read_bytes().decode(encoding)
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def dict_rows(name: str, encoding: str = "utf-8-sig", delimiter: str = ",") -> list[dict[str, str]]:
    header, *rows = records(name, encoding, delimiter)
    return [dict(zip(header, row, strict=True)) for row in rows]


def expected(name: str) -> list[dict[str, str]]:
    return dict_rows(name.replace(".csv", ".expected.csv"), "utf-8")


def value(cell: str) -> str:
    """A cell as the import should see it: trimmed, Excel's ``="..."`` unwrapped, placeholders empty."""
    cell = cell.strip()
    if match := re.fullmatch(r'="(.*)"', cell):
        cell = match.group(1)
    return "" if cell.lower() in PLACEHOLDERS else cell


def email_ok(cell: str) -> bool:
    try:
        validate_email(value(cell).lower(), check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def phone_ok(cell: str) -> bool:
    text = re.sub(r"\s*x\d+$", "", value(cell))
    if re.fullmatch(r"\d(\.\d+)?E\+\d+", text, flags=re.IGNORECASE):
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(text, "US"))
    except phonenumbers.NumberParseException:
        return False


def date_ok(cell: str) -> bool:
    for fmt in DATE_FORMATS:
        try:
            datetime.strptime(cell, fmt)
        except ValueError:
            continue
        return True
    return False


def zip_fixable(zip_cell: str, state_cell: str) -> bool:
    digits = value(zip_cell)
    state = STATE_NAMES.get(value(state_cell).lower(), value(state_cell))
    return (
        digits == ""
        or (digits.isdigit() and len(digits) in (5, 9))
        or (digits.isdigit() and len(digits) == 4 and state in ZERO_PREFIX_STATES)
    )


def state_known(cell: str) -> bool:
    return value(cell) == "" or value(cell) in STATE_CODES or value(cell).lower() in STATE_NAMES


def cells(row: dict[str, str], kind: str) -> list[str]:
    return [row[f"{kind} {n}"] for n in (1, 2, 3) if value(row[f"{kind} {n}"])]


def has_contact(row: dict[str, str]) -> bool:
    columns = ("Name", "First Name", "Last Name", "Email 1", "Email 2", "Phone 1", "Phone 2")
    address = [c for c in row if c.startswith("Address 1") and not c.endswith("Country")]
    return any(value(row[c]) for c in (*columns, *address))


# ---- reproducibility and file formats --------------------------------------------------------


def test_regenerating_writes_the_committed_files_byte_for_byte(
    generator: ModuleType, tmp_path: Path
) -> None:
    written = generator.write_samples(tmp_path)
    assert sorted(p.name for p in written) == sorted(COMMITTED)
    for path in written:
        assert path.read_bytes() == (SAMPLE_DATA / path.name).read_bytes(), path.name


def test_people_file_is_utf8_with_bom_comma_separated_and_crlf() -> None:
    raw = (SAMPLE_DATA / PEOPLE).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.startswith(b"\xef\xbb\xbf" + ",".join(FUB_HEADER).encode() + b"\r\n")
    rows = records(PEOPLE)
    assert all(len(row) == len(FUB_HEADER) for row in rows)
    # Each record ends in CRLF; the newline inside a quoted note is a bare LF.
    assert raw.count(b"\r\n") == len(rows)
    assert any("\n" in cell for row in rows for cell in row)
    assert 45 <= len(rows) - 1 <= 60


def test_notes_file_is_utf8_without_bom() -> None:
    raw = (SAMPLE_DATA / NOTES).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    raw.decode("utf-8")
    header, *rows = records(NOTES, "utf-8")
    assert header == ["Person ID", "Created At", "Created By", "Subject", "Body"]
    assert 25 <= len(rows) <= 35
    assert all(
        len(row) == 5 and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:00", row[1]) for row in rows
    )


def test_legacy_file_is_cp1252_semicolon_separated_without_bom() -> None:
    raw = (SAMPLE_DATA / LEGACY).read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("cp1252")
    for expected_text in ("José", "Müller", "François", "Zoë", "€", "“", "’"):
        assert expected_text in text
    header, *rows = records(LEGACY, "cp1252", ";")
    assert header == FUB_HEADER
    assert all(len(row) == len(FUB_HEADER) for row in rows)
    assert raw.count(b"\r\n") == len(rows) + 1


# ---- expected files line up with their data files --------------------------------------------


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter"),
    [(PEOPLE, "utf-8-sig", ","), (NOTES, "utf-8", ","), (LEGACY, "cp1252", ";")],
)
def test_every_data_row_has_its_expected_line(name: str, encoding: str, delimiter: str) -> None:
    data = dict_rows(name, encoding, delimiter)
    plan = expected(name)
    assert [int(line["row"]) for line in plan] == list(range(2, len(data) + 2))
    for row, line in zip(data, plan, strict=True):
        if name == NOTES:
            assert line["key"] == row["Person ID"]
        else:
            email = row["Email 1"].strip().lower()
            assert line["key"] == (row["ID"] or f"email:{email}")
        assert line["action"] == ("reject" if line["codes"] else "create")
        assert not (line["action"] == "reject" and line.get("warnings"))


def test_case_labels_cover_the_whole_catalogue() -> None:
    people = expected(PEOPLE)
    assert PEOPLE_CASES - {line["case"] for line in people} == set()
    assert NOTES_CASES - {line["case"] for line in expected(NOTES)} == set()
    assert LEGACY_CASES - {line["case"] for line in expected(LEGACY)} == set()
    codes = Counter(line["codes"] for line in people if line["codes"])
    assert set(codes) == {
        "invalid_email", "duplicate_key", "missing_contact", "invalid_date",
        "invalid_email;invalid_phone",
    }  # fmt: skip
    assert codes["invalid_email;invalid_phone"] == 1
    assert 9 <= sum(codes.values()) <= 12
    # a bad phone on a row with an email is a warning, its value kept in the note
    assert {line["warnings"] for line in people} == {
        "", "dropped_zip", "dropped_state", "invalid_phone"
    }  # fmt: skip
    assert all(line["action"] == "create" for line in expected(LEGACY))


# ---- every label agrees with its row ---------------------------------------------------------


def test_people_labels_agree_with_independent_checks() -> None:
    first_seen: dict[str, str] = {}
    for row, line in zip(dict_rows(PEOPLE), expected(PEOPLE), strict=True):
        codes = set(line["codes"].split(";")) - {""}
        assert ("invalid_email" in codes) == (not all(map(email_ok, cells(row, "Email"))))
        warned = "invalid_phone" in line["warnings"].split(";")
        assert ("invalid_phone" in codes or warned) == (not all(map(phone_ok, cells(row, "Phone"))))
        assert ("missing_contact" in codes) == (not has_contact(row))
        assert ("invalid_date" in codes) == (not date_ok(row["Date Added"]))
        if row["ID"] in first_seen:
            assert codes == {"duplicate_key"} and first_seen[row["ID"]] == "create"
        else:
            assert "duplicate_key" not in codes
        if row["ID"]:
            first_seen.setdefault(row["ID"], line["action"])
        warnings = set(line["warnings"].split(";")) - {""}
        zip_ok = zip_fixable(row["Address 1 - Zip"], row["Address 1 - State"])
        assert ("dropped_zip" in warnings) == (not zip_ok)
        assert ("dropped_state" in warnings) == (not state_known(row["Address 1 - State"]))


def test_people_are_distinct_apart_from_the_repeated_id() -> None:
    lines = expected(PEOPLE)
    distinct = [
        r
        for r, line in zip(dict_rows(PEOPLE), lines, strict=True)
        if line["case"] != "duplicate_id"
    ]
    emails = [value(e).lower() for r in distinct for e in cells(r, "Email")]
    phones = [  # the unreadable ones (1.4E+10) may well repeat
        re.sub(r"\D", "", value(p))[-10:]
        for r in distinct
        for p in cells(r, "Phone")
        if phone_ok(p)
    ]
    assert len(emails) == len(set(emails))
    assert len(phones) == len(set(phones))
    ids = [r["ID"] for r in distinct if r["ID"]]
    assert len(ids) == len(set(ids)) == len(distinct) - 1  # one row has no ID
    assert not any(".test" in e for e in emails)


def test_note_labels_agree_with_the_people_plan() -> None:
    created = {line["key"] for line in expected(PEOPLE) if line["action"] == "create"}
    rows, lines = dict_rows(NOTES, "utf-8"), expected(NOTES)
    for row, line in zip(rows, lines, strict=True):
        codes = set(line["codes"].split(";")) - {""}
        assert ("unknown_lead" in codes) == (row["Person ID"] not in created)
        assert ("missing_description" in codes) == (not row["Subject"] and not row["Body"])
    people_ids = {r["ID"] for r in dict_rows(PEOPLE)}
    cases = Counter(line["case"] for line in lines)
    assert cases["unknown_person"] == 2 and cases["rejected_person"] == 2
    assert cases["empty_body_and_subject"] == 1
    unknown = [
        r["Person ID"]
        for r, line in zip(rows, lines, strict=True)
        if line["case"] == "unknown_person"
    ]
    assert not set(unknown) & people_ids
    per_person = Counter(r["Person ID"] for r in rows)
    assert max(per_person.values()) >= 3
    stamps = [r["Created At"] for r in rows]
    assert stamps == sorted(stamps)


# ---- the big-file generator ------------------------------------------------------------------

CLEAN_PATTERNS = {
    "Email 1": r"[a-z]+\.[a-z]+\d+@example\.(com|org|net)",
    "Phone 1": r"\(\d{3}\) 555-01\d\d",
    "First Name": r"[A-Za-z]+",
    "Last Name": r"[A-Za-z]+",
    "Address 1 - Zip": r"\d{5}",
    "Address 1 - State": r"[A-Z]{2}",
    "Property Price": r"",
    "Notes": r"[^\n]*",
}


def looks_clean(row: dict[str, str]) -> bool:
    if any(cell.strip().lower() in PLACEHOLDERS for cell in row.values()):
        return False
    if row["Name"] != f"{row['First Name']} {row['Last Name']}" or not date_ok(row["Date Added"]):
        return False
    return all(re.fullmatch(p, row[column]) for column, p in CLEAN_PATTERNS.items())


def test_write_fub_people_writes_unique_increasing_ids(
    generator: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"
    generator.write_fub_people(path, 3_000, seed=11, dirty_share=0.1)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    header, *rows = list(csv.reader(path.open(encoding="utf-8-sig", newline="")))
    assert header == FUB_HEADER
    assert len(rows) == 3_000
    ids = [int(row[-1]) for row in rows]
    assert all(a < b for a, b in itertools.pairwise(ids))
    emails = {row[9].strip().lower() for row in rows}
    assert len(emails) >= 0.97 * len(rows)
    dirty = sum(not looks_clean(dict(zip(header, row, strict=True))) for row in rows)
    assert 0.07 <= dirty / len(rows) <= 0.13  # phone_parens rows look clean, hence below 0.1


def test_write_fub_people_is_clean_without_dirty_share_and_seeded(
    generator: ModuleType, tmp_path: Path
) -> None:
    paths = [tmp_path / f"{n}.csv" for n in range(3)]
    for path, seed in zip(paths, (5, 5, 6), strict=True):
        generator.write_fub_people(path, 1_000, seed=seed, dirty_share=0.0)
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()
    header, *rows = list(csv.reader(paths[0].open(encoding="utf-8-sig", newline="")))
    assert all(looks_clean(dict(zip(header, row, strict=True))) for row in rows)


def test_command_line_writes_a_big_file_and_refuses_a_missing_path(tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--big", "250", "--out", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "250 rows" in done.stdout
    assert len(list(csv.reader(out.open(encoding="utf-8-sig", newline="")))) == 251
    refused = subprocess.run(
        [sys.executable, str(GENERATOR), "--big", "10"], capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2 and "--out" in refused.stderr
