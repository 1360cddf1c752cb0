"""Phones by region, the secondary-field policy and the home region (issue 10).

The numbers are the ones issue 10 found in published exports: 03212326646
(Pakistan), +47 111111, 070-123 45 67 (Sweden), 0170 1234567 (Germany),
090-1234-5678 (Japan), 9539440441 (India) and 18003001947, the Aadhaar
helpline, a toll-free number in India. tests/data/international_contacts.csv
holds contacts from Norway, India, the UK and Japan in the Google Contacts
layout, with the country written as people write it ("Norway", "Norge",
"IN", "UK", "日本").
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import phonenumbers
import pytest

from importer.cli.arguments import with_home_region
from importer.errors import ConfigError
from importer.mapping.apply import map_chunk
from importer.mapping.binding import bind
from importer.mapping.files import load_mapping
from importer.mapping.parse import parse_mapping
from importer.mapping.spec import Mapping
from importer.normalize.phones import normalize_phone
from importer.normalize.regions import country_region
from importer.read.table import open_table
from tests.plan.test_plan import plan_cli

INTERNATIONAL = Path(__file__).parents[1] / "data" / "international_contacts.csv"
COUNTRY = {"Norway": "NO", "Norge": "NO", "India": "IN", "IN": "IN", "United Kingdom": "GB",
           "UK": "GB", "Japan": "JP", "日本": "JP"}  # fmt: skip


def col(*values: str) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def mapped_file(path: Path, mapping: Mapping) -> tuple[pd.DataFrame, object]:
    with open_table(path) as table:
        frame = next(table.chunks())
        bound = bind(mapping, list(frame.columns), table.info.headers)
    chunk = map_chunk(bound, frame, site=None)
    return frame, chunk


# --------------------------------------------------------------------------- the normaliser


@pytest.mark.parametrize(
    ("raw", "region", "value"),
    [
        ("03212326646", "PK", "+92 321 2326646"),
        ("070-123 45 67", "SE", "+46 70 123 45 67"),
        ("0170 1234567", "DE", "+49 170 1234567"),
        ("090-1234-5678", "JP", "+81 90-1234-5678"),
        ("9539440441", "IN", "+91 95394 40441"),
        ("18003001947", "IN", "+91 1800 300 1947"),
        ("+47 911 11 111", "", "+47 91 11 11 11"),
        ("0047 911 11 111", "", "+47 91 11 11 11"),  # 00 is international too
        ("+1 415 555 0101", "NO", "(415) 555-0101"),  # the home region's own format
    ],
)
def test_a_number_is_read_in_its_rows_region(raw: str, region: str, value: str) -> None:
    result = normalize_phone(col(raw), regions=[region])
    assert (result.values[0], bool(result.invalid[0])) == (value, False)


@pytest.mark.parametrize(
    "raw",
    ["9539440441", "18003001947", "03212326646", "+47 111111", "070-123 45 67", "0170 1234567",
     "090-1234-5678"],
)  # fmt: skip
def test_foreign_numbers_read_in_the_us_are_invalid_never_rewritten(raw: str) -> None:
    # Before: 9539440441 became (953) 944-0441 (no such area code) and the
    # Indian toll-free 18003001947 became (800) 300-1947.
    result = normalize_phone(col(raw))
    assert (result.values[0], bool(result.invalid[0])) == ("", True)


def test_a_toll_free_number_needs_its_country() -> None:
    # 1-800 numbers exist in the US, India, Singapore ...: written without a
    # country code they are taken only from a row that names its country, and
    # they keep it when written, so they read the same again.
    result = normalize_phone(col("18003001947", "+1 800 300 1947"), regions=["US", ""])
    assert result.values.tolist() == ["+1 800-300-1947", "+1 800-300-1947"]
    assert normalize_phone(col("+1 800 300 1947")).values.tolist() == ["+1 800-300-1947"]


def test_an_unknown_country_reads_only_numbers_with_their_country_code() -> None:
    result = normalize_phone(col("912 34 567", "+47 912 34 567"), regions=["ZZ", "ZZ"])
    assert result.invalid.tolist() == [True, False]


def test_the_home_region_gets_the_national_format() -> None:
    result = normalize_phone(col("020 7946 0958", "+1 415 555 0101"), region="GB", home="GB")
    assert result.values.tolist() == ["020 7946 0958", "+1 415-555-0101"]


def test_country_cells_name_regions() -> None:
    cells = ["Norway", "norge", "UK", "United Kingdom", "England", "gb", "Japan", "日本", "India",
             "IN", "Deutschland", "USA", "United States", "Puerto Rico", "Narnia", "XX", ""]  # fmt: skip
    assert [country_region(c) for c in cells] == [
        "NO", "NO", "GB", "GB", "GB", "GB", "JP", "JP", "IN", "IN", "DE", "US", "US", "PR",
        None, None, None,
    ]  # fmt: skip


# --------------------------------------------------------------------------- plans of real layouts


def test_contacts_with_a_country_column_are_all_kept_and_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, _ = plan_cli(
        capsys, str(INTERNATIONAL), "--mapping", "google_contacts", "--out", str(tmp_path / "p")
    )
    report = json.loads((tmp_path / "p" / "report.json").read_text(encoding="utf-8"))
    assert code == 0 and report["leads"]["create"] == 9 and report["leads"]["rejected"] == 0
    assert report["warnings"]["total"] == 0
    frame, chunk = mapped_file(INTERNATIONAL, load_mapping("google_contacts"))
    for row, phone in chunk.leads["phone"].items():
        raw, country = frame.loc[row, "Phone 1 - Value"], frame.loc[row, "Address 1 - Country"]
        sent = phonenumbers.parse(phone, "US")
        assert sent == phonenumbers.parse(raw, COUNTRY[country]), (raw, phone)
        assert phone.startswith("+")  # not the home region's: international format
    # the country column stays in the note: it is sent nowhere else
    notes = chunk.activities[chunk.activities["type"] == "note"]["description"]
    assert notes.str.contains("Address 1 - Country: ").all()


def test_the_same_numbers_without_a_country_are_kept_in_the_note_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = list(csv.DictReader(INTERNATIONAL.open(encoding="utf-8")))
    bare = tmp_path / "no_country.csv"
    with bare.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, [c for c in rows[0] if c != "Address 1 - Country"])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "Address 1 - Country"} for r in rows)
    code, _, _ = plan_cli(
        capsys, str(bare), "--mapping", "google_contacts", "--out", str(tmp_path / "p")
    )
    report = json.loads((tmp_path / "p" / "report.json").read_text(encoding="utf-8"))
    assert code == 0 and report["leads"]["create"] == 9
    assert report["warnings"]["by_code"] == {"invalid_phone": 9}
    _, chunk = mapped_file(bare, load_mapping("google_contacts"))
    assert (chunk.leads["phone"] == "").all()
    notes = chunk.activities[chunk.activities["type"] == "note"]
    for row, raw in zip(chunk.index, (r["Phone 1 - Value"] for r in rows), strict=True):
        (note,) = notes.loc[notes["_row"] == row, "description"]
        assert f"Phone 1 - Value (not sent, invalid): {raw}" in note


def test_phone_region_flag_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = load_mapping("google_contacts")
    assert with_home_region(mapping, None, {}).options.home_region == "US"
    gb = with_home_region(mapping, None, {"RG_PHONE_REGION": "gb"})
    assert gb.options.home_region == "GB" and gb.fingerprint != mapping.fingerprint
    assert with_home_region(mapping, "jp", {"RG_PHONE_REGION": "gb"}).options.home_region == "JP"
    with pytest.raises(ConfigError, match="--phone-region"):
        with_home_region(mapping, "XX", {})


def test_plan_with_a_home_region_reads_and_formats_its_numbers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    src = tmp_path / "uk.csv"
    src.write_text(
        "ID,First Name,Email,Phone\n1,Oliver,oliver@example.co.uk,020 7946 0958\n", encoding="utf-8"
    )
    mapping = with_home_region(load_mapping("generic"), "GB", {})
    _, chunk = mapped_file(src, mapping)
    assert chunk.leads["phone"].tolist() == ["020 7946 0958"]
    code, _, err = plan_cli(
        capsys,
        str(src),
        "--mapping",
        "generic",
        "--phone-region",
        "XX",
        "--out",
        str(tmp_path / "p"),
    )
    assert code == 2 and "--phone-region" in err and "Traceback" not in err


# --------------------------------------------------------------------------- secondary fields


def mapped(spec: dict[str, object], rows: list[dict[str, str]]) -> object:
    mapping = parse_mapping({"source": "Test import", **spec})
    frame = pd.DataFrame(rows, dtype=object)
    frame.index = pd.RangeIndex(2, 2 + len(rows))
    return map_chunk(bind(mapping, list(frame.columns), list(frame.columns)), frame, site=None)


SECONDARY = {
    "key": ["ID"],
    "fields": {"first_name": ["F"], "email": ["Email"], "phone": ["Phone"],
               "second_email": ["Email 2"], "zip": ["Zip"], "state": ["State"]},
}  # fmt: skip


def test_a_bad_secondary_value_goes_to_the_note_when_the_row_has_a_contact() -> None:
    chunk = mapped(
        SECONDARY,
        [
            # valid email: the foreign phone, bad second email and zip are kept
            {"ID": "1", "F": "Ana", "Email": "ana@example.com", "Phone": "0170 1234567",
             "Email 2": "ana@@example.com", "Zip": "9", "State": "Narnia"},
            # a name and nothing else usable: rejected as before
            {"ID": "2", "F": "Bo", "Email": "", "Phone": "9539440441", "Email 2": "",
             "Zip": "", "State": ""},
        ],
    )  # fmt: skip
    assert 2 not in chunk.problems
    codes = sorted(w.code for w in chunk.warnings if w.row == 2)
    assert codes == ["invalid_email", "invalid_phone", "invalid_state", "invalid_zip"]
    note = chunk.activities.loc[chunk.activities["_row"] == 2, "description"].iloc[-1]
    for line in ("Phone (not sent, invalid): 0170 1234567", "Email 2 (not sent, invalid): ana@@example.com",
                 "Zip (not sent, invalid): 9", "State (not sent, invalid): Narnia"):  # fmt: skip
        assert line in note
    assert [p.code for p in chunk.problems[3]] == ["invalid_phone"]


def test_on_invalid_reject_keeps_the_old_behaviour() -> None:
    spec = {**SECONDARY, "fields": {**SECONDARY["fields"],  # type: ignore[dict-item]
                                     "phone": {"from": ["Phone"], "on_invalid": "reject"}}}  # fmt: skip
    chunk = mapped(
        spec,
        [{"ID": "1", "F": "Ana", "Email": "ana@example.com", "Phone": "9539440441",
          "Email 2": "", "Zip": "", "State": ""}],
    )  # fmt: skip
    assert [p.code for p in chunk.problems[2]] == ["invalid_phone"]
