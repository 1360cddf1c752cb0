"""Applying a mapping to rows (importer.mapping.apply): small frames in, Real Geeks fields out.

Every frame is built here with its index set to spreadsheet row numbers (the
header is row 1), the way the reader yields chunks.
"""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.errors import InputError
from importer.mapping.apply import (
    LEAD_ID_NAMESPACE,
    MappedChunk,
    lead_id_for,
    lead_ids_for,
    map_chunk,
)
from importer.mapping.binding import bind
from importer.mapping.parse import parse_mapping
from tests.conftest import SITE


def frame(rows: list[dict[str, str]], first_row: int = 2) -> pd.DataFrame:
    """A chunk as the reader yields it: text cells, index = spreadsheet row numbers."""
    columns = list(rows[0]) if rows else []
    data = [[r.get(c, "") for c in columns] for r in rows]
    return pd.DataFrame(
        data, columns=columns, index=range(first_row, first_row + len(rows)), dtype="str"
    )


def mapped(
    spec: dict[str, Any], rows: list[dict[str, str]], site: str | None = SITE
) -> MappedChunk:
    mapping = parse_mapping({"source": "Test import", **spec})
    f = frame(rows)
    return map_chunk(bind(mapping, list(f.columns), list(f.columns)), f, site=site)


def lead(chunk: MappedChunk, row: int) -> dict[str, str]:
    return {str(k): v for k, v in chunk.leads.loc[row].to_dict().items() if v}


def activities(chunk: MappedChunk, row: int) -> list[dict[str, Any]]:
    acts = chunk.activities
    return [
        {str(k): v for k, v in r.items() if v != "" and k != "_row"}
        for r in acts[acts["_row"] == row].to_dict("records")
    ]


def notes(chunk: MappedChunk, row: int) -> list[str]:
    return [a["description"] for a in activities(chunk, row) if a["type"] == "note"]


def codes(chunk: MappedChunk, row: int) -> list[str]:
    return [p.code for p in chunk.problems.get(row, [])]


# --------------------------------------------------------------------------- values


def test_aliases_coalesce_per_row_to_the_first_non_empty_cell() -> None:
    chunk = mapped(
        {"key": ["ID"], "fields": {"first_name": ["Given", "First Name", "Name"]}},
        [
            {"ID": "1", "Given": "Ana", "First Name": "Ann", "Name": "A"},
            {"ID": "2", "Given": "", "First Name": "Bo", "Name": "B"},
            {"ID": "3", "Given": "N/A", "First Name": "  ", "Name": "Cy"},  # placeholders are empty
            {"ID": "4", "Given": "", "First Name": "", "Name": ""},
        ],
    )
    assert chunk.leads["first_name"].tolist() == ["Ana", "Bo", "Cy", ""]


def test_columns_match_headers_ignoring_case_and_spaces() -> None:
    mapping = parse_mapping({"source": "S", "key": ["ID"], "fields": {"city": ["Home  City"]}})
    f = frame([{"id": "1", " home city ": "Boston"}])
    chunk = map_chunk(bind(mapping, list(f.columns), list(f.columns)), f, site=None)
    assert chunk.leads["city"].tolist() == ["Boston"] and chunk.keys.tolist() == ["1"]


def test_values_are_trimmed_and_spaces_collapsed() -> None:
    chunk = mapped(
        {"key": ["ID"], "fields": {"city": ["City"]}}, [{"ID": "1", "City": "  San   Jose "}]
    )
    assert lead(chunk, 2)["city"] == "San Jose"


def test_template_leaves_out_parts_whose_placeholders_are_empty_and_joins_the_rest() -> None:
    spec = {
        "key": ["ID"],
        "fields": {
            "first_name": ["First"],
            "source_details": {
                "template": ["CRM id {ID}", "owner: {Owner}", "{Stage} / {Tags}"],
                "join": " | ",
            },
        },
    }
    chunk = mapped(
        spec,
        [
            {"ID": "7", "First": "A", "Owner": "Kim", "Stage": "Lead", "Tags": "vip"},
            {"ID": "8", "First": "B", "Owner": "", "Stage": "", "Tags": "vip"},
            {"ID": "9", "First": "C", "Owner": "null", "Stage": "", "Tags": ""},
        ],
    )
    assert chunk.leads["source_details"].tolist() == [
        "CRM id 7 | owner: Kim | Lead / vip",
        "CRM id 8 | / vip",
        "CRM id 9",
    ]


def test_a_single_part_template_with_nothing_in_it_gives_nothing() -> None:
    chunk = mapped(
        {
            "key": ["ID"],
            "fields": {"first_name": ["F"], "source_details": {"template": "Owner: {Owner}"}},
        },
        [{"ID": "1", "F": "A", "Owner": "Kim"}, {"ID": "2", "F": "B", "Owner": ""}],
    )
    assert chunk.leads["source_details"].tolist() == ["Owner: Kim", ""]


def test_a_constant_is_set_on_every_row() -> None:
    chunk = mapped(
        {"key": ["ID"], "fields": {"first_name": ["F"], "region": {"value": "North Shore"}}},
        [{"ID": "1", "F": "A"}, {"ID": "2", "F": ""}],
    )
    assert chunk.leads["region"].tolist() == ["North Shore", "North Shore"]


def test_a_whole_name_is_used_only_where_first_and_last_are_both_empty() -> None:
    # Old-style split fallbacks on both names read as ``full_name``. Issue 10:
    # Google's legacy layout with the whole name in Given Name alone ("AADI
    # SESHAN") got "SESHAN" copied into the last name too.
    spec = {
        "key": ["ID"],
        "fields": {
            "first_name": {
                "from": ["First"],
                "fallback": {"from": ["Name"], "transform": "first_name"},
            },
            "last_name": {
                "from": ["Last"],
                "fallback": {"from": ["Name"], "transform": "last_name"},
            },
        },
    }
    chunk = mapped(
        spec,
        [
            {"ID": "1", "First": "Ana", "Last": "Prado", "Name": "Someone Else"},
            {"ID": "2", "First": "", "Last": "", "Name": "Shah, Emma"},
            {"ID": "3", "First": "", "Last": "", "Name": "Daniel Rivera"},
            {"ID": "4", "First": "Zoë", "Last": "", "Name": "Zoë Müller"},
            {"ID": "5", "First": "AADI SESHAN", "Last": "", "Name": "AADI SESHAN"},
            {"ID": "6", "First": "", "Last": "SESHAN", "Name": "AADI SESHAN"},
        ],
    )
    names = list(zip(chunk.leads["first_name"], chunk.leads["last_name"], strict=True))
    assert names == [
        ("Ana", "Prado"), ("Emma", "Shah"), ("Daniel", "Rivera"), ("Zoë", ""),
        ("AADI SESHAN", ""), ("", "SESHAN"),
    ]  # fmt: skip


def test_full_name_splits_a_single_name_column() -> None:
    # Older Mailchimp audiences carry one "Name" merge field instead of First/Last Name.
    spec = {
        "fields": {"email": ["Email Address"], "first_name": ["First Name"],
                   "last_name": ["Last Name"]},
        "full_name": ["Name"],
    }  # fmt: skip
    chunk = mapped(
        spec,
        [
            {"Email Address": "a@example.com", "First Name": "", "Last Name": "", "Name": "Prado, Ana"},
            {"Email Address": "b@example.com", "First Name": "", "Last Name": "",
             "Name": "Ana Maria de la Cruz"},
            {"Email Address": "c@example.com", "First Name": "", "Last Name": "",
             "Name": "John Quincy Adams"},
        ],
    )  # fmt: skip
    names = list(zip(chunk.leads["first_name"], chunk.leads["last_name"], strict=True))
    assert names == [("Ana", "Prado"), ("Ana Maria", "de la Cruz"), ("John Quincy", "Adams")]
    assert all("Name:" not in n for r in (2, 3, 4) for n in notes(chunk, r))


# --------------------------------------------------------------------------- invalid values


def test_reject_names_the_column_the_value_came_from_and_the_value() -> None:
    chunk = mapped(
        {
            "key": ["ID"],
            "fields": {
                "first_name": ["F"],
                "phone": {"from": ["Mobile", "Phone"], "on_invalid": "reject"},
                "email": ["Email"],
            },
        },
        [
            {"ID": "1", "F": "A", "Mobile": "", "Phone": "1.4E+10", "Email": "a@example.com"},
            {"ID": "2", "F": "B", "Mobile": "555-01", "Phone": "", "Email": "x@@example.net"},
            {"ID": "3", "F": "C", "Mobile": "415-555-0134", "Phone": "", "Email": ""},
        ],
    )
    (phone,) = chunk.problems[2]
    assert phone.code == "invalid_phone" and phone.column == "Phone"
    assert "Phone" in phone.message and "'1.4E+10'" in phone.message
    assert sorted((p.code, p.column) for p in chunk.problems[3]) == [
        ("invalid_email", "Email"),
        ("invalid_phone", "Mobile"),
    ]
    assert any("'x@@example.net'" in p.message for p in chunk.problems[3])
    assert 4 not in chunk.problems
    assert lead(chunk, 4)["phone"] == "(415) 555-0134"
    # an invalid value is never sent half-normalised
    assert chunk.leads.loc[2, "phone"] == "" and chunk.leads.loc[3, "email"] == ""
    assert chunk.warnings == []


def test_each_transform_reports_its_own_code() -> None:
    spec = {
        "key": ["ID"],
        "fields": {
            "first_name": ["F"],
            "state": ["State"],
            "zip": ["Zip"],
            "created": ["Created"],
            "role": {"from": ["Type"], "transform": {"map": "role"}},
        },
    }
    chunk = mapped(
        spec,
        [
            {"ID": "1", "F": "A", "State": "Narnia", "Zip": "", "Created": "", "Type": ""},
            {"ID": "2", "F": "A", "State": "", "Zip": "12", "Created": "", "Type": ""},
            {"ID": "3", "F": "A", "State": "", "Zip": "", "Created": "32/13/2024", "Type": ""},
            {"ID": "4", "F": "A", "State": "", "Zip": "", "Created": "", "Type": "martian"},
            {"ID": "5", "F": "A", "State": "ma", "Zip": "", "Created": "", "Type": "tenant"},
        ],
    )
    assert [codes(chunk, r) for r in range(2, 7)] == [
        ["invalid_state"], ["invalid_zip"], ["invalid_date"], ["invalid_value"], []
    ]  # fmt: skip
    assert lead(chunk, 6)["state"] == "MA" and lead(chunk, 6)["role"] == "Renter"


def test_drop_leaves_the_field_out_warns_and_keeps_the_text_in_the_note() -> None:
    chunk = mapped(
        {
            "key": ["ID"],
            "fields": {"first_name": ["F"], "phone": {"from": ["Phone"], "on_invalid": "drop"}},
        },
        [{"ID": "1", "F": "A", "Phone": "1.4E+10"}, {"ID": "2", "F": "B", "Phone": "415.555.0134"}],
    )
    assert chunk.problems == {}
    assert "phone" not in lead(chunk, 2)
    (warning,) = chunk.warnings
    assert (warning.row, warning.code) == (2, "dropped_phone")
    assert "'1.4E+10'" in warning.message
    (note,) = notes(chunk, 2)
    assert "Phone (not sent, invalid): 1.4E+10" in note
    assert notes(chunk, 3) == [] and lead(chunk, 3)["phone"] == "(415) 555-0134"


def test_zip_padding_uses_the_rows_own_state() -> None:
    chunk = mapped(
        {"key": ["ID"], "fields": {"zip": ["Zip"], "state": ["State"], "first_name": ["F"]}},
        [
            {"ID": "1", "F": "A", "Zip": "2134", "State": "MA"},
            {"ID": "2", "F": "A", "Zip": "7030", "State": "New Jersey"},
            {"ID": "3", "F": "A", "Zip": "2134", "State": "TX"},
            {"ID": "4", "F": "A", "Zip": "021341234", "State": "MA"},
            {"ID": "5", "F": "A", "Zip": "78704", "State": "tx"},
        ],
    )
    assert chunk.leads["zip"].tolist() == ["02134", "07030", "", "02134-1234", "78704"]
    assert codes(chunk, 4) == ["invalid_zip"] and set(chunk.problems) == {4}


# --------------------------------------------------------------------------- groups


GROUP = {
    "key": ["ID"],
    "fields": {"first_name": ["F"]},
    "groups": [{"fields": ["email", "second_email"], "columns": ["Email {n}"]}],
    "ignore": ["Email {n} - Type"],
}


def test_group_fills_its_fields_in_column_order_skipping_duplicates() -> None:
    chunk = mapped(
        GROUP,
        [
            {"ID": "1", "F": "A", "Email 1": "a@example.com", "Email 1 - Type": "home",
             "Email 2": " A@Example.COM", "Email 3": "b@example.com"},
            {"ID": "2", "F": "B", "Email 1": "", "Email 1 - Type": "",
             "Email 2": "", "Email 3": "c@example.com"},
        ],
    )  # fmt: skip
    assert (chunk.leads.loc[2, "email"], chunk.leads.loc[2, "second_email"]) == (
        "a@example.com",
        "b@example.com",
    )
    assert (chunk.leads.loc[3, "email"], chunk.leads.loc[3, "second_email"]) == (
        "c@example.com",
        "",
    )
    # the duplicate is not overflow, and the "- Type" columns are ignored on purpose
    assert notes(chunk, 2) == [] and notes(chunk, 3) == []


def test_group_values_beyond_its_fields_go_into_the_note() -> None:
    chunk = mapped(
        GROUP,
        [{"ID": "1", "F": "A", "Email 1": "a@example.com", "Email 2": "b@example.com",
          "Email 3": "c@example.com", "Email 4": "d@example.com"}],
    )  # fmt: skip
    (note,) = notes(chunk, 2)
    assert "Email 3: c@example.com" in note and "Email 4: d@example.com" in note
    assert "a@example.com" not in note


def test_group_overflow_ignore_drops_the_extra_values() -> None:
    spec = {**GROUP, "groups": [{**GROUP["groups"][0], "overflow": "ignore"}]}  # type: ignore[index]
    chunk = mapped(
        spec,
        [{"ID": "1", "F": "A", "Email 1": "a@example.com", "Email 2": "b@example.com",
          "Email 3": "c@example.com"}],
    )  # fmt: skip
    assert notes(chunk, 2) == []


def test_group_invalid_value_rejects_with_on_invalid_reject() -> None:
    spec = {**GROUP, "groups": [{**GROUP["groups"][0], "on_invalid": "reject"}]}  # type: ignore[index]
    chunk = mapped(
        spec,
        [{"ID": "1", "F": "A", "Email 1": "x@@example.net", "Email 2": "b@example.com"}],
    )
    (problem,) = chunk.problems[2]
    assert problem.code == "invalid_email" and problem.column == "Email 1"
    assert "'x@@example.net'" in problem.message


def test_group_invalid_value_with_drop_keeps_the_text_in_the_note_and_moves_up() -> None:
    spec = {**GROUP, "groups": [{**GROUP["groups"][0], "on_invalid": "drop"}]}  # type: ignore[index]
    chunk = mapped(
        spec,
        [{"ID": "1", "F": "A", "Email 1": "x@@example.net", "Email 2": "b@example.com",
          "Email 3": "c@example.com"}],
    )  # fmt: skip
    assert chunk.problems == {}
    assert lead(chunk, 2)["email"] == "b@example.com"
    assert lead(chunk, 2)["second_email"] == "c@example.com"
    (warning,) = chunk.warnings
    assert (warning.row, warning.code) == (2, "dropped_email")
    (note,) = notes(chunk, 2)
    assert "Email 1 (not sent, invalid): x@@example.net" in note


def test_group_split_reads_several_values_from_one_cell() -> None:
    chunk = mapped(
        {
            "key": ["ID"],
            "groups": [{"fields": ["phone", "phone2"], "columns": ["Phones"], "split": " ::: "}],
        },
        [{"ID": "1", "Phones": "415-555-0134 ::: 206-555-0110 ::: 808-555-0101"}],
    )
    assert lead(chunk, 2)["phone"] == "(415) 555-0134"
    assert lead(chunk, 2)["phone2"] == "(206) 555-0110"
    (note,) = notes(chunk, 2)
    assert "(808) 555-0101" in note


# --------------------------------------------------------------------------- unmapped and ignore


def test_unmapped_columns_go_into_one_note_per_row_in_column_order() -> None:
    chunk = mapped(
        {"key": ["ID"], "fields": {"first_name": ["F"]}},
        [
            {"ID": "1", "F": "A", "Stage": "Lead", "Calls": "3", "Bio": "line one\nline two"},
            {"ID": "2", "F": "B", "Stage": "", "Calls": "N/A", "Bio": ""},
        ],
    )
    (note,) = notes(chunk, 2)
    assert note.splitlines()[1:] == ["Stage: Lead", "Calls: 3", "Bio: line one", "line two"]
    assert notes(chunk, 3) == []  # nothing unmapped is filled in on that row


def test_the_note_uses_the_headers_as_written_in_the_file() -> None:
    mapping = parse_mapping(
        {"source": "S", "crm": "My CRM", "key": ["ID"], "fields": {"first_name": ["F"]}}
    )
    f = frame([{"ID": "1", "F": "A", "lead_score": "90"}])
    chunk = map_chunk(bind(mapping, list(f.columns), ["ID", "F", "Lead Score"]), f, site=None)
    (note,) = notes(chunk, 2)
    assert note == "Other details from the My CRM export:\nLead Score: 90"


def test_unmapped_ignore_writes_no_note() -> None:
    chunk = mapped(
        {"key": ["ID"], "fields": {"first_name": ["F"]}, "unmapped": "ignore"},
        [{"ID": "1", "F": "A", "Stage": "Lead", "Calls": "3"}],
    )
    assert notes(chunk, 2) == []


def test_ignore_patterns_with_n_keep_numbered_columns_out_of_the_note() -> None:
    chunk = mapped(
        {"key": ["ID"], "fields": {"first_name": ["F"]}, "ignore": ["Phone {n} - Type", "Name"]},
        [{"ID": "1", "F": "A", "Name": "A B", "Phone 1 - Type": "mobile",
          "Phone 12 - Type": "home", "Phone - Type": "kept", "Stage": "Lead"}],
    )  # fmt: skip
    (note,) = notes(chunk, 2)
    assert note.splitlines()[1:] == ["Phone - Type: kept", "Stage: Lead"]


def test_read_columns_are_not_repeated_in_the_note() -> None:
    chunk = mapped(
        {
            "key": ["ID"],
            "fields": {"first_name": ["F"], "source_details": {"template": "stage {Stage}"}},
            "activities": [{"type": "note", "description": ["Notes"]}],
        },
        [{"ID": "1", "F": "A", "Stage": "Lead", "Notes": "hi"}],
    )
    assert notes(chunk, 2) == ["hi"]


# --------------------------------------------------------------------------- activities


ACTIVITIES = {
    "key": ["ID"],
    "options": {"timezone": "America/New_York"},
    "fields": {"first_name": ["F"], "created": ["Created"]},
    "activities": [
        {"type": "note", "description": ["Notes"], "created": ["Created"]},
        {"type": "note", "description": {"template": "Background:\n{Background}"}},
        {
            "type": "property_viewed",
            "when": ["Address", "MLS"],
            "description": {"template": ["Property {Address}", "MLS {MLS}"], "join": ", "},
            "property": {
                "street_address": ["Address"],
                "mls": ["MLS"],
                "price": {"from": ["Price"], "transform": "integer", "on_invalid": "drop"},
                "beds": ["Beds"],
                "full_baths": {"from": ["Baths"], "transform": "floor_integer"},
                "half_baths": {"from": ["Baths"], "transform": "half_part"},
            },
        },
    ],
}


def test_one_activity_per_non_empty_description_in_row_then_spec_order() -> None:
    chunk = mapped(
        ACTIVITIES,
        [
            {"ID": "1", "F": "A", "Created": "2024-03-15 09:30:00", "Notes": "first\nsecond",
             "Background": "", "Address": "", "MLS": "", "Price": "", "Beds": "", "Baths": ""},
            {"ID": "2", "F": "B", "Created": "", "Notes": "", "Background": "loves boats",
             "Address": "1 Main St", "MLS": "77", "Price": "$450,000", "Beds": "3", "Baths": "2.5"},
            {"ID": "3", "F": "C", "Created": "", "Notes": "", "Background": "",
             "Address": "", "MLS": "", "Price": "", "Beds": "4", "Baths": ""},
        ],
    )  # fmt: skip
    assert chunk.activities["_row"].tolist() == [2, 3, 3]
    assert activities(chunk, 2) == [
        {"type": "note", "source": "Test import", "description": "first\nsecond",
         "created": "2024-03-15T09:30:00-04:00"},
    ]  # fmt: skip
    background, viewed = activities(chunk, 3)
    assert background["description"] == "Background:\nloves boats"
    assert viewed["type"] == "property_viewed"
    assert viewed["description"] == "Property 1 Main St, MLS 77"
    props = {k.removeprefix("property."): v for k, v in viewed.items() if k.startswith("property.")}
    assert props == {
        "street_address": "1 Main St", "mls": "77", "price": "450000", "beds": "3",
        "full_baths": "2", "half_baths": "1",
    }  # fmt: skip
    # when: neither Address nor MLS on row 4, so Beds alone makes no activity
    assert activities(chunk, 4) == []
    assert chunk.problems == {}


def test_an_activity_detail_that_fails_rejects_with_the_column_named() -> None:
    chunk = mapped(
        ACTIVITIES,
        [{"ID": "1", "F": "A", "Created": "", "Notes": "", "Background": "", "Address": "1 Main",
          "MLS": "", "Price": "cheap", "Beds": "three", "Baths": ""}],
    )  # fmt: skip
    (problem,) = chunk.problems[2]
    assert problem.code == "invalid_number" and problem.column == "Beds"
    assert [w.code for w in chunk.warnings] == ["dropped_integer"]  # Price: on_invalid drop


def test_a_bad_date_used_twice_is_reported_once() -> None:
    chunk = mapped(
        ACTIVITIES,
        [{"ID": "1", "F": "A", "Created": "32/13/2024", "Notes": "hi", "Background": "",
          "Address": "", "MLS": "", "Price": "", "Beds": "", "Baths": ""}],
    )  # fmt: skip
    assert codes(chunk, 2) == ["invalid_date"]


def test_an_activity_file_links_rows_to_leads_and_needs_a_description() -> None:
    spec = {
        "kind": "activity",
        "link": {"source": "People import", "key": ["Person ID"]},
        "activities": [{"type": "note", "description": ["Body"]}],
    }
    chunk = mapped(
        spec,
        [
            {"Person ID": "9", "Body": "called"},
            {"Person ID": "", "Body": "x"},
            {"Person ID": "9", "Body": ""},
        ],
    )
    assert chunk.keys.tolist() == ["9", "", "9"]
    # ids come from the lead mapping's source, so they match the leads sent before
    assert chunk.lead_ids.tolist()[0] == lead_id_for(SITE, "People import", "9")
    assert codes(chunk, 3) == ["missing_key"]
    assert codes(chunk, 4) == ["missing_description"]
    assert list(chunk.leads.columns) == []


# --------------------------------------------------------------------------- keys and ids


KEYED = {
    "key": ["ID"],
    "fields": {
        "first_name": ["First"],
        "last_name": ["Last"],
        "email": ["Email"],
        "phone": ["Phone"],
    },
}


def test_key_falls_back_to_email_then_phone_with_name() -> None:
    chunk = mapped(
        KEYED,
        [
            {"ID": "48229", "First": "A", "Last": "", "Email": "a@example.com", "Phone": ""},
            {
                "ID": "",
                "First": "",
                "Last": "",
                "Email": " Evelyn@Example.ORG",
                "Phone": "415-555-0134",
            },
            {
                "ID": "N/A",
                "First": "Ana",
                "Last": "Prado",
                "Email": "",
                "Phone": "+1 (415) 555-0134",
            },
            {"ID": "", "First": "", "Last": "", "Email": "", "Phone": "415-555-0134"},
        ],
    )
    assert chunk.keys.tolist() == [
        "48229",
        "email:evelyn@example.org",
        "phone:4155550134|name:ana prado",
        "",
    ]
    assert codes(chunk, 5) == ["missing_key"]
    assert "re-runs" in chunk.problems[5][0].message
    assert chunk.lead_ids.tolist()[3] == ""


def test_without_key_fallback_a_row_without_its_id_is_missing_key() -> None:
    chunk = mapped(
        {**KEYED, "key_fallback": False},
        [{"ID": "", "First": "A", "Last": "B", "Email": "a@example.com", "Phone": ""}],
    )
    assert chunk.keys.tolist() == [""] and codes(chunk, 2) == ["missing_key"]


def test_several_key_columns_are_joined_and_all_are_needed() -> None:
    chunk = mapped(
        {"key": ["Office", "ID"], "key_fallback": False, "fields": {"first_name": ["F"]}},
        [{"Office": "NY", "ID": "1", "F": "A"}, {"Office": "", "ID": "1", "F": "A"}],
    )
    assert chunk.keys.tolist() == ["NY|1", ""]


def test_key_aliases_take_the_first_filled_column() -> None:
    chunk = mapped(
        {"key": {"from": ["Record ID", "ID"]}, "fields": {"first_name": ["F"]}},
        [{"Record ID": "r1", "ID": "1", "F": "A"}, {"Record ID": "", "ID": "2", "F": "B"}],
    )
    assert chunk.keys.tolist() == ["r1", "2"]


def test_a_missing_key_column_is_an_input_error_unless_rows_can_fall_back() -> None:
    strict = parse_mapping({"source": "S", "name": "strict", "key": ["ID"], "key_fallback": False})
    with pytest.raises(InputError) as caught:
        bind(strict, ["Email", "Name"], ["Email", "Name"])
    message = str(caught.value)
    assert "'ID'" in message and "strict" in message and "Email, Name" in message
    lenient = parse_mapping({"source": "S", "key": ["ID"]})
    assert bind(lenient, ["Email"], ["Email"]).col("ID") is None


def test_lead_ids_are_uuid5_of_site_source_and_key() -> None:
    chunk = mapped(KEYED, [{"ID": "48229", "First": "A", "Last": "", "Email": "", "Phone": ""}])
    expected = uuid.uuid5(LEAD_ID_NAMESPACE, f"{SITE}|Test import|48229")
    assert chunk.lead_ids.tolist() == [str(expected)]
    assert uuid.UUID(chunk.lead_ids[2]).version == 5
    other_site = mapped(
        KEYED,
        [{"ID": "48229", "First": "A", "Last": "", "Email": "", "Phone": ""}],
        site="7e57c0de-5a4d-4b0c-8000-000000000001",
    )
    assert other_site.lead_ids[2] != chunk.lead_ids[2]
    no_site = mapped(
        KEYED, [{"ID": "48229", "First": "A", "Last": "", "Email": "", "Phone": ""}], site=None
    )
    assert no_site.lead_ids.tolist() == [""]


@settings(max_examples=200, deadline=None)
@given(
    site=st.uuids().map(str),
    source=st.text(max_size=20),
    keys=st.lists(st.text(max_size=30), max_size=8),
)
def test_lead_ids_for_is_lead_id_for_and_rfc_4122_uuid5(
    site: str, source: str, keys: list[str]
) -> None:
    fast = lead_ids_for(site, source, keys)
    assert fast == [lead_id_for(site, source, k) if k else "" for k in keys]
    for key, got in zip(keys, fast, strict=True):
        if key:
            assert got == str(uuid.uuid5(LEAD_ID_NAMESPACE, f"{site}|{source}|{key}"))
            parsed = uuid.UUID(got)
            assert parsed.version == 5 and parsed.variant == uuid.RFC_4122


# --------------------------------------------------------------------------- determinism


EVERYTHING = {
    "key": ["ID"],
    "options": {"timezone": "America/New_York"},
    "fields": {
        "first_name": {
            "from": ["First"],
            "fallback": {"from": ["Name"], "transform": "first_name"},
        },
        "last_name": {"from": ["Last"], "fallback": {"from": ["Name"], "transform": "last_name"}},
        "state": {"from": ["State"], "on_invalid": "drop"},
        "zip": {"from": ["Zip"], "on_invalid": "drop"},
        "created": ["Created"],
        "role": {"from": ["Type"], "transform": {"map": "role"}},
        "source_details": {"template": ["id {ID}", "type: {Type}"], "join": "; "},
    },
    "groups": [
        {"fields": ["email", "second_email"], "columns": ["Email {n}"]},
        {"fields": ["phone", "phone2"], "columns": ["Phone {n}"], "on_invalid": "drop"},
    ],
    "activities": [
        {"type": "note", "description": ["Notes"], "created": ["Created"]},
        {
            "type": "property_viewed",
            "when": ["MLS"],
            "description": {"template": "MLS {MLS}"},
            "property": {
                "mls": ["MLS"],
                "price": {"from": ["Price"], "transform": "integer", "on_invalid": "drop"},
                "full_baths": {"from": ["Baths"], "transform": "floor_integer"},
            },
        },
    ],
}

CELLS = {
    "ID": ["", "1", "2", "17", "N/A"],
    "First": ["", "Ana", "José", "  bo  "],
    "Last": ["", "Prado", "null"],
    "Name": ["", "Shah, Emma", "Daniel Rivera", "Cher"],
    "Email 1": ["", "ana@example.com", " ANA@Example.com", "x@@example.net", "N/A"],
    "Email 2": ["", "bo@example.org", "ana@example.com", "mailto:cy@example.net"],
    "Email 3": ["", "dee@example.net"],
    "Phone 1": ["", "415-555-0134", "1.4E+10", "206-555-0110 x61", "+44 20 7946 0958"],
    "Phone 2": ["", "(415) 555-0134", "555-01", "808.555.0101"],
    "State": ["", "MA", "Massachusetts", "TX", "Narnia"],
    "Zip": ["", "2134", "021341234", "123", "78704"],
    "Created": ["", "2024-03-15 09:30:00", "03/15/2024", "32/13/2024"],
    "Type": ["", "buyer", "Tenant", "martian"],
    "Notes": ["", "hello", "line1\nline2"],
    "MLS": ["", "77"],
    "Price": ["", "$450,000", "cheap"],
    "Baths": ["", "2.5", "x"],
    "Extra": ["", "junk", "more\nlines"],
}

rows_strategy = st.lists(
    st.fixed_dictionaries({c: st.sampled_from(v) for c, v in CELLS.items()}),
    min_size=1,
    max_size=10,
)


def comparable(chunks: list[MappedChunk]) -> dict[str, Any]:
    """Everything a mapped chunk says, merged over pieces, in a form == can compare."""
    problems: dict[int, list[Any]] = {}
    for c in chunks:
        problems.update(c.problems)
    return {
        "leads": pd.concat([c.leads for c in chunks]).to_dict("index"),
        "activities": [r for c in chunks for r in c.activities.to_dict("records")],
        "keys": [k for c in chunks for k in c.keys.tolist()],
        "lead_ids": [k for c in chunks for k in c.lead_ids.tolist()],
        "problems": problems,
        "warnings": sorted((w.row, w.code, w.message) for c in chunks for w in c.warnings),
    }


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_strategy, cuts=st.lists(st.integers(min_value=1, max_value=9), max_size=3))
def test_mapping_is_deterministic_and_chunking_does_not_change_the_output(
    rows: list[dict[str, str]], cuts: list[int]
) -> None:
    mapping = parse_mapping({"source": "Test import", **EVERYTHING})
    whole = frame(rows)
    bound = bind(mapping, list(whole.columns), list(whole.columns))
    once = comparable([map_chunk(bound, whole, site=SITE)])
    assert comparable([map_chunk(bound, whole, site=SITE)]) == once
    edges = sorted({c for c in cuts if c < len(rows)})
    pieces = [whole.iloc[a:b] for a, b in zip([0, *edges], [*edges, len(rows)], strict=True)]
    assert comparable([map_chunk(bound, p, site=SITE) for p in pieces]) == once
