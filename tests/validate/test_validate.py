"""Validation (importer.validate): every rule of the API contract, per source row.

Most values are normalised (and rejected) by the mapping stage already; the
schemas are the last check that what is sent is what the API accepts. Their
rules are reached here with ``transform: text`` (which keeps a value as
written) or with hand-built frames for values a mapping file cannot produce.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from importer import api_contract as contract
from importer.errors import ImporterError
from importer.mapping.apply import MappedChunk, map_chunk
from importer.mapping.binding import bind
from importer.mapping.parse import parse_mapping
from importer.models import Problem, RowIssue, Stage
from importer.validate.chunk import validate_chunk
from importer.validate.schemas import checks
from importer.validate.schemas.activity import ActivityFrame, PropertyFrame
from importer.validate.schemas.lead import LeadFrame, PotentialSellerFrame
from tests.conftest import SITE

AS_WRITTEN = {"transform": "text"}


def mapped(spec: dict[str, Any], rows: list[dict[str, str]]) -> MappedChunk:
    mapping = parse_mapping({"source": "Test import", **spec})
    columns = list(rows[0])
    f = pd.DataFrame(
        [[r[c] for c in columns] for r in rows],
        columns=columns,
        index=range(2, 2 + len(rows)),
        dtype="str",
    )
    return map_chunk(bind(mapping, columns, columns), f, site=SITE)


def hand_built(
    leads: dict[str, list[str]], acts: list[dict[str, Any]] | None = None
) -> MappedChunk:
    """A chunk as the mapper would hand it over, with values no mapping file can produce."""
    index = pd.Index(range(2, 2 + len(next(iter(leads.values())))))
    columns = ["_row", "type", "source", "description", "created"]
    activities = pd.DataFrame(acts or [], columns=None if acts else columns, dtype=object)
    empty = pd.Series("", index=index, dtype=object)
    return MappedChunk(
        index=index,
        keys=empty,
        lead_ids=empty,
        leads=pd.DataFrame(leads, index=index, dtype=object),
        activities=activities,
    )


def codes_by_row(problems: dict[int, list[Problem]]) -> dict[int, list[str]]:
    return {row: sorted(p.code for p in found) for row, found in problems.items()}


# --------------------------------------------------------------------------- lead rules


LEAD_AS_WRITTEN = {
    "key": ["ID"],
    "fields": {
        "first_name": ["First"],
        "email": {"from": ["Email"], **AS_WRITTEN},
        "second_email": {"from": ["Email 2"], **AS_WRITTEN},
        "phone": {"from": ["Phone"], **AS_WRITTEN},
        "phone2": {"from": ["Phone 2"], **AS_WRITTEN},
        "role": ["Role"],
        "created": {"from": ["Created"], **AS_WRITTEN},
    },
}
BLANK = {"ID": "1", "First": "A", "Email": "", "Email 2": "", "Phone": "", "Phone 2": "", "Role": "", "Created": ""}  # fmt: skip


@pytest.mark.parametrize(
    ("column", "value", "code", "field"),
    [
        ("Email", "x@@example.net", "invalid_email", "email"),
        ("Email", "x@example", "invalid_email", "email"),
        ("Email 2", "not an address", "invalid_email", "second_email"),
        ("Phone", "555-01", "invalid_phone", "phone"),
        ("Phone 2", "call me", "invalid_phone", "phone2"),
        ("Role", "Potential Seller", "invalid_role", "role"),
        ("Role", "buyer", "invalid_role", "role"),  # without {map: role} it must be exact
        ("Created", "2024-03-15 09:30:00", "invalid_date", "created"),  # no offset
        ("Created", "2024-13-15T09:30:00+00:00", "invalid_date", "created"),
        ("Created", "yesterday", "invalid_date", "created"),
    ],
)
def test_each_lead_rule_rejects_with_its_code_naming_field_and_value(
    column: str, value: str, code: str, field: str
) -> None:
    chunk = mapped(LEAD_AS_WRITTEN, [{**BLANK, column: value}])
    problems = validate_chunk(chunk, "lead")
    (problem,) = problems[2]
    assert (problem.code, problem.column) == (code, field)
    assert field in problem.message and repr(value) in problem.message


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("Email", "ana.prado@example.com"),
        ("Phone", "(415) 555-0134"),
        ("Phone", "+44 20 7946 0958"),
        ("Created", "2024-03-15T09:30:00-04:00"),
        ("Created", "2024-03-15T09:30:00Z"),
        *(("Role", role) for role in contract.ROLES),
    ],
)
def test_values_the_api_takes_pass(column: str, value: str) -> None:
    chunk = mapped(LEAD_AS_WRITTEN, [{**BLANK, column: value}])
    assert validate_chunk(chunk, "lead") == {}


def test_a_row_without_any_contact_field_is_missing_contact() -> None:
    chunk = mapped(
        {
            "key": ["ID"],
            "fields": {"first_name": ["First"], "role": ["Role"], "created": ["Created"]},
        },
        [
            {"ID": "1", "First": "", "Role": "Buyer", "Created": "2024-03-15"},
            {"ID": "2", "First": "N/A", "Role": "", "Created": ""},
            {"ID": "3", "First": "Ana", "Role": "", "Created": ""},
        ],
    )
    problems = validate_chunk(chunk, "lead")
    assert codes_by_row(problems) == {2: ["missing_contact"], 3: ["missing_contact"]}
    assert problems[2][0].column is None
    assert "no name, email, phone or address" in problems[2][0].message


@pytest.mark.parametrize("field", contract.CONTACT_FIELDS)
def test_any_one_contact_field_is_enough(field: str) -> None:
    value = (
        "ana@example.com"
        if field in contract.EMAIL_FIELDS
        else "(415) 555-0134"
        if field in contract.PHONE_FIELDS
        else "x"
    )
    chunk = hand_built({"source": ["S"], field: [value]})
    assert validate_chunk(chunk, "lead") == {}


def test_an_empty_source_is_missing_source() -> None:
    chunk = hand_built(
        {"source": ["", " ", "S"], "first_name": ["A", "B", "C"]},
        [
            {"_row": 4, "type": "note", "source": "", "description": "hi", "created": ""},
        ],
    )
    assert codes_by_row(validate_chunk(chunk, "lead")) == {
        2: ["missing_source"],
        3: ["missing_source"],
        4: ["missing_source"],
    }


def test_an_id_must_be_a_uuid() -> None:
    chunk = hand_built({"id": ["nope", "089df7bf-db46-4453-b29a-6b02700c4426"], "source": ["S", "S"], "city": ["X", "Y"]})  # fmt: skip
    assert codes_by_row(validate_chunk(chunk, "lead")) == {2: ["invalid_id"]}


def test_a_field_outside_the_contract_never_passes() -> None:
    chunk = hand_built({"source": ["S"], "first_name": ["A"], "tags": ["vip"]})
    with pytest.raises(ImporterError, match="internal error"):
        validate_chunk(chunk, "lead")


# --------------------------------------------------------------------------- activity rules


def test_activity_rules_type_description_and_date() -> None:
    chunk = hand_built(
        {"source": ["S"] * 4, "first_name": ["A"] * 4},
        [
            {"_row": 2, "type": "call", "source": "S", "description": "rang", "created": ""},
            {"_row": 3, "type": "note", "source": "S", "description": "  ", "created": ""},
            {"_row": 4, "type": "note", "source": "S", "description": "x", "created": "03/15/2024"},
            {"_row": 5, "type": "was_unassigned", "source": "S", "description": "x", "created": ""},
        ],
    )
    problems = validate_chunk(chunk, "lead")
    assert codes_by_row(problems) == {
        2: ["invalid_activity_type"],
        3: ["missing_description"],
        4: ["invalid_date"],
        5: ["invalid_activity_type"],  # an outgoing-only type
    }
    assert "'call'" in problems[2][0].message and "activity type" in problems[2][0].message
    assert problems[3][0].message.startswith("activity description is empty")


def test_every_contract_activity_type_passes() -> None:
    types = contract.ACTIVITY_TYPES
    chunk = hand_built(
        {"source": ["S"], "first_name": ["A"]},
        [{"_row": 2, "type": t, "source": "S", "description": "x", "created": ""} for t in types],
    )
    assert validate_chunk(chunk, "lead") == {}


def test_an_activity_row_with_nothing_to_say_is_missing_description() -> None:
    chunk = mapped(
        {
            "kind": "activity",
            "link": {"source": "P", "key": ["PID"]},
            "activities": [{"type": "note", "description": ["Body"]}],
        },
        [{"PID": "1", "Body": "called"}, {"PID": "2", "Body": "N/A"}],
    )
    problems = validate_chunk(chunk, "activity")
    assert codes_by_row(problems) == {3: ["missing_description"]}


def test_property_numbers_must_be_whole() -> None:
    spec = {
        "key": ["ID"],
        "fields": {"first_name": ["F"]},
        "activities": [
            {
                "type": "property_viewed",
                "description": {"template": "MLS {MLS}"},
                "property": {
                    "mls": ["MLS"],
                    "full_baths": {"from": ["Baths"], **AS_WRITTEN},
                    "price": {"from": ["Price"], **AS_WRITTEN},
                },
            }
        ],
    }
    chunk = mapped(
        spec,
        [
            {"ID": "1", "F": "A", "MLS": "1", "Baths": "2.5", "Price": "450000"},
            {"ID": "2", "F": "A", "MLS": "2", "Baths": "2", "Price": "$450,000"},
            {"ID": "3", "F": "A", "MLS": "3", "Baths": "2", "Price": "450000"},
        ],
    )
    problems = validate_chunk(chunk, "lead")
    assert codes_by_row(problems) == {2: ["invalid_number"], 3: ["invalid_number"]}
    assert problems[2][0].column == "full_baths" and "'2.5'" in problems[2][0].message
    assert problems[3][0].column == "price"


# --------------------------------------------------------------------------- potential sellers


SELLER = {
    "kind": "potential_seller",
    "key": ["ID"],
    "fields": {"created": ["Asked"]},
    "activities": [
        {
            "type": "property_viewed",
            "when": ["Address"],
            "description": {"template": "Valuation of {Address}"},
            "property": {"street_address": ["Address"]},
        }
    ],
}


def test_a_potential_seller_without_a_property_is_missing_property() -> None:
    chunk = mapped(
        SELLER,
        [
            {"ID": "1", "Asked": "2024-03-15", "Address": "1 Main St"},
            {"ID": "2", "Asked": "2024-03-15", "Address": ""},
        ],
    )
    problems = validate_chunk(chunk, "potential_seller")
    assert codes_by_row(problems) == {3: ["missing_property"]}
    # anonymous: no contact details are needed, and none are sent
    assert list(chunk.leads.columns) == ["created"]


def test_a_potential_seller_property_with_only_a_description_is_still_missing() -> None:
    chunk = hand_built(
        {"created": [""]},
        [{"_row": 2, "type": "property_viewed", "source": "S", "description": "x",
          "created": "", "property.street_address": ""}],
    )  # fmt: skip
    assert codes_by_row(validate_chunk(chunk, "potential_seller")) == {2: ["missing_property"]}


# --------------------------------------------------------------------------- one row, every problem


def test_a_value_that_failed_its_transform_does_not_hide_the_rows_other_problems() -> None:
    spec = {
        "key": ["ID"],
        "fields": {
            "first_name": ["First"],
            "email": ["Email"],  # default transform: email (the mapper rejects it)
            "role": ["Role"],  # no transform: the schema rejects it
            "created": {"from": ["Created"], **AS_WRITTEN},
        },
        "activities": [{"type": "note", "description": ["Notes"], "created": ["When"]}],
    }
    chunk = mapped(
        spec,
        [{"ID": "1", "First": "Ana", "Email": "x@@example.net", "Role": "martian",
          "Created": "last week", "Notes": "hi", "When": "32/13/2024"}],
    )  # fmt: skip
    problems = validate_chunk(chunk, "lead")
    assert codes_by_row(problems) == {
        2: ["invalid_date", "invalid_date", "invalid_email", "invalid_role"]
    }
    issue = RowIssue(2, Stage.VALIDATE, problems[2])
    # one line with every problem, each code once
    assert sorted(issue.codes.split(";")) == ["invalid_date", "invalid_email", "invalid_role"]
    for words in ("'x@@example.net'", "'martian'", "'last week'", "'32/13/2024'"):
        assert words in issue.message
    assert "\n" not in issue.message


def test_the_same_failure_on_several_activities_of_a_row_is_listed_once() -> None:
    chunk = hand_built(
        {"source": ["S"], "first_name": ["A"]},
        [
            {"_row": 2, "type": "call", "source": "S", "description": "one", "created": ""},
            {"_row": 2, "type": "call", "source": "S", "description": "two", "created": ""},
        ],
    )
    assert codes_by_row(validate_chunk(chunk, "lead")) == {2: ["invalid_activity_type"]}


def test_rows_are_checked_independently() -> None:
    chunk = mapped(LEAD_AS_WRITTEN, [
        {**BLANK, "ID": "1", "Email": "bad"},
        {**BLANK, "ID": "2", "Email": "good@example.com"},
        {**BLANK, "ID": "3", "Phone": "12"},
    ])  # fmt: skip
    assert codes_by_row(validate_chunk(chunk, "lead")) == {
        2: ["invalid_email"],
        4: ["invalid_phone"],
    }


# --------------------------------------------------------------------------- schemas mirror the contract


def columns(model: Any) -> set[str]:
    return set(model.to_schema().columns)


def test_lead_frame_has_exactly_the_contract_lead_fields() -> None:
    assert columns(LeadFrame) == set(contract.LEAD_TEXT_FIELDS) | {"id"}
    assert set(contract.LEAD_FIELDS) == columns(LeadFrame) | {"activities"}
    required = {n for n, c in LeadFrame.to_schema().columns.items() if c.required}
    assert required == {"source"}


def test_property_frame_has_exactly_the_contract_property_fields() -> None:
    assert columns(PropertyFrame) == set(contract.PROPERTY_FIELDS)


def test_potential_seller_frame_has_only_what_a_potential_seller_carries() -> None:
    assert columns(PotentialSellerFrame) == set(contract.POTENTIAL_SELLER_FIELDS) - {"activities"}


def test_activity_frame_requires_what_the_contract_requires() -> None:
    schema = ActivityFrame.to_schema()
    assert set(schema.columns) <= set(contract.ACTIVITY_FIELDS)
    assert {n for n, c in schema.columns.items() if c.required} == set(contract.ACTIVITY_REQUIRED)


@given(st.lists(st.text(alphabet=st.sampled_from([" ", "\t", "\u00a0", "\u2003", "\n", "a", "é"]))))
def test_non_empty_is_what_stripping_leaves(values: list[str]) -> None:
    s = pd.Series(values, dtype="str")
    assert checks.non_empty(s).tolist() == [v.strip() != "" for v in values]
