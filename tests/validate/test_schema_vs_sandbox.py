"""Local validation agrees with the API: what passes here is accepted, what fails is refused.

Valid rows of the sample files are planned, built into requests by the
sender itself, and sent over loopback HTTP to the sandbox (which applies the
API's payload rules): every one must be accepted. Deliberately bad payloads
that the schemas reject are sent raw: the sandbox must refuse them too.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from importer.config import Credentials
from importer.errors import ImporterError, ValidationError
from importer.ledger.ledger import Ledger
from importer.mapping.apply import MappedChunk, lead_id_for
from importer.mapping.files import load_mapping
from importer.models import Outcome
from importer.normalize.dates import valid_iso_datetime_mask
from importer.normalize.emails import valid_email_mask
from importer.plan.planner import Planner
from importer.read.table import open_table
from importer.send.breaker import CircuitBreaker
from importer.send.client import Client
from importer.send.client_settings import ClientSettings
from importer.send.send_outcome import SendOutcome, SendPolicy
from importer.send.sender import Sender
from importer.validate.chunk import validate_chunk
from tests.conftest import SAMPLE_DATA, SITE

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"
LEGACY = SAMPLE_DATA / "followupboss_legacy_cp1252.csv"
NOTES = SAMPLE_DATA / "followupboss_notes.csv"


@pytest.fixture
def client(sandbox: Any) -> Iterator[Client]:
    settings = ClientSettings(base_url=sandbox.url, max_attempts=1, not_found_attempts=1)
    with Client(Credentials("sandbox", "sandbox"), settings) as c:
        yield c


def send_planned(
    path: Path, mapping_name: str, client: Client, ledger: Ledger
) -> tuple[int, list[SendOutcome]]:
    """Plan ``path`` as a run does and send every row it would send; returns (rows, outcomes)."""
    mapping = load_mapping(mapping_name)
    policy = SendPolicy(site=SITE, source=mapping.source, kind=mapping.kind)
    sender = Sender(client, ledger, policy, CircuitBreaker(10))
    outcomes: list[SendOutcome] = []
    with open_table(path) as table:
        planner = Planner(
            mapping,
            table.info.columns,
            table.info.headers,
            site=SITE,
            ledger=ledger if mapping.kind == "activity" else None,
            payloads_needed=True,
        )
        for frame in table.chunks():
            planned = planner.plan_chunk(frame)
            outcomes += [sender.send(plan) for plan in planned.plans.values()]
        rows = table.info.rows
    return rows, outcomes


# --------------------------------------------------------------------------- valid locally => accepted


def test_every_valid_row_of_the_samples_is_accepted(
    sandbox: Any, client: Client, tmp_path: Path
) -> None:
    with Ledger(tmp_path / "ledger.sqlite", run_id="schema-vs-sandbox") as ledger:
        rows, people = send_planned(PEOPLE, "followupboss", client, ledger)
        _, legacy = send_planned(LEGACY, "followupboss", client, ledger)
        # the notes file sends activities to the people just created
        _, notes = send_planned(NOTES, "followupboss_notes", client, ledger)

    assert rows == 56 and len(people) == 47 and len(legacy) == 8 and len(notes) == 25
    for outcome in people + legacy + notes:
        assert outcome.problems == [], (outcome.plan.row, outcome.problems)
    assert {(o.result, o.http_status) for o in people + legacy} == {(Outcome.CREATE, 201)}
    assert {o.http_status for o in notes} == {200}  # adding activities answers 200
    assert sum(o.activities_sent for o in notes) == 25
    assert sandbox.stats()["requests"] == {
        "create_lead": {"201": len(people) + len(legacy)},
        "add_activities": {"200": len(notes)},
    }
    stored = {lead["id"] for lead in sandbox.leads(SITE)}
    assert {o.plan.lead_id for o in people + legacy} == stored


def test_what_the_sandbox_stores_is_what_was_planned(
    sandbox: Any, client: Client, tmp_path: Path
) -> None:
    with Ledger(tmp_path / "ledger.sqlite", run_id="schema-vs-sandbox") as ledger:
        _, legacy = send_planned(LEGACY, "followupboss", client, ledger)
    stored = {lead["id"]: lead for lead in sandbox.leads(SITE)}
    for outcome in legacy:
        plan = outcome.plan
        assert plan.fields is not None
        lead = stored[plan.lead_id]
        for name, value in plan.fields.items():
            assert lead[name] == value, (plan.row, name)
        assert len(lead["activities"]) == len(plan.activities)


def test_potential_sellers_that_pass_are_accepted(
    sandbox: Any, client: Client, tmp_path: Path
) -> None:
    mapping = tmp_path / "valuations.yaml"
    mapping.write_text(
        textwrap.dedent(
            """
            kind: potential_seller
            source: Valuation page
            key: [Request ID]
            key_fallback: false
            fields:
              created: [Requested At]
            activities:
              - type: property_viewed
                when: [Address]
                description: {template: ["Valuation of {Address}", "{City}"], join: ", "}
                created: [Requested At]
                property:
                  street_address: [Address]
                  city: [City]
                  zip: {from: [Zip], on_invalid: drop}
                  beds: {from: [Beds], on_invalid: drop}
                  full_baths: {from: [Baths], transform: floor_integer, on_invalid: drop}
                  half_baths: {from: [Baths], transform: half_part, on_invalid: drop}
                  price: {from: [Estimate], on_invalid: drop}
            """
        ),
        encoding="utf-8",
    )
    source = tmp_path / "valuations.csv"
    source.write_text(
        "Request ID,Requested At,Address,City,Zip,Beds,Baths,Estimate\n"
        'v1,2024-03-15 09:30,1 Main St,Austin,78704,3,2.5,"$450,000"\n'
        "v2,2024-03-16,2 Elm St,Boston,2134,many,2,\n"
        "v3,,,,,,,\n",
        encoding="utf-8",
    )
    with Ledger(tmp_path / "ledger.sqlite", run_id="sellers") as ledger:
        rows, outcomes = send_planned(source, str(mapping), client, ledger)
    assert rows == 3 and len(outcomes) == 2  # v3 has no property
    assert [o.result for o in outcomes] == [Outcome.CREATE, Outcome.CREATE]
    assert sandbox.stats()["requests"] == {"create_potential_seller_lead": {"201": 2}}
    stored = {lead["id"]: lead for lead in sandbox.leads(SITE)}
    first = stored[lead_id_for(SITE, "Valuation page", "v1")]
    assert first["activities"][0]["property"]["price"] == 450000
    assert first["activities"][0]["property"]["full_baths"] == 2


# --------------------------------------------------------------------------- refused locally => refused


def chunk_of(payload: dict[str, Any]) -> MappedChunk:
    """The canonical frames the mapper would have built for this one payload."""
    index = pd.Index([2])
    lead = {k: [v] for k, v in payload.items() if k != "activities"}
    acts = [
        {
            "_row": 2,
            "type": a.get("type", ""),
            "source": a.get("source", ""),
            "description": a.get("description", ""),
            "created": a.get("created", ""),
            **{f"property.{k}": str(v) for k, v in a.get("property", {}).items()},
        }
        for a in payload.get("activities", [])
    ]
    columns = ["_row", "type", "source", "description", "created"]
    empty = pd.Series([""], index=index, dtype=object)
    return MappedChunk(
        index=index,
        keys=empty,
        lead_ids=empty,
        leads=pd.DataFrame(lead, index=index, dtype=object),
        activities=pd.DataFrame(acts, dtype=object) if acts else pd.DataFrame(columns=columns),
    )


def local_codes(payload: dict[str, Any], kind: str) -> set[str]:
    try:
        problems = validate_chunk(chunk_of(payload), kind)
    except ImporterError:
        return {"not_in_contract"}  # a column outside the schema: never sent
    return {p.code for p in problems.get(2, [])}


ID = "6f1c1a9e-4a9b-4c55-9a7b-3d2f0b8a1c11"
NOTE: dict[str, Any] = {"type": "note", "source": "S", "description": "hello"}
VIEWED: dict[str, Any] = {"type": "property_viewed", "source": "S", "description": "home"}

BAD_LEADS: dict[str, dict[str, Any]] = {
    "invalid_email": {"id": ID, "source": "S", "email": "x@@example.net"},
    "invalid_second_email": {"id": ID, "source": "S", "first_name": "A", "second_email": "x@example"},
    "invalid_role": {"id": ID, "source": "S", "first_name": "A", "role": "Potential Seller"},
    "invalid_date": {"id": ID, "source": "S", "first_name": "A", "created": "2024-03-15 09:30:00"},
    "invalid_id": {"id": "row-17", "source": "S", "first_name": "A"},
    "missing_contact": {"id": ID, "source": "S", "role": "Buyer", "region": "North"},
    "missing_source": {"id": ID, "source": "", "first_name": "A"},
    "not_in_contract": {"id": ID, "source": "S", "first_name": "A", "tags": "vip"},
    "invalid_activity_type": {"id": ID, "source": "S", "first_name": "A",
                              "activities": [{**NOTE, "type": "call"}]},
    "missing_description": {"id": ID, "source": "S", "first_name": "A",
                            "activities": [{**NOTE, "description": ""}]},
    "invalid_activity_date": {"id": ID, "source": "S", "first_name": "A",
                              "activities": [{**NOTE, "created": "03/15/2024"}]},
    "invalid_number": {"id": ID, "source": "S", "first_name": "A",
                       "activities": [{**VIEWED, "property": {"full_baths": "2.5"}}]},
}  # fmt: skip
EXPECTED_CODE = {
    "invalid_second_email": "invalid_email",
    "invalid_activity_date": "invalid_date",
}


@pytest.mark.parametrize("case", list(BAD_LEADS))
def test_a_lead_the_schema_refuses_is_refused_by_the_api(client: Client, case: str) -> None:
    payload = BAD_LEADS[case]
    assert EXPECTED_CODE.get(case, case) in local_codes(payload, "lead")
    with pytest.raises(ValidationError) as refused:
        client.create_lead(SITE, payload)
    assert refused.value.status == 422


def test_a_float_where_a_whole_number_belongs_is_refused_too(client: Client) -> None:
    payload = {"id": ID, "source": "S", "first_name": "A",
               "activities": [{**VIEWED, "property": {"full_baths": 2.5}}]}  # fmt: skip
    assert "invalid_number" in local_codes(payload, "lead")
    with pytest.raises(ValidationError):
        client.create_lead(SITE, payload)


BAD_SELLERS: dict[str, dict[str, Any]] = {
    "missing_property": {"id": ID, "activities": [NOTE]},
    "invalid_date": {"id": ID, "created": "yesterday",
                     "activities": [{**VIEWED, "property": {"street_address": "1 Main St"}}]},
    "not_in_contract": {"id": ID, "email": "ana@example.com",
                        "activities": [{**VIEWED, "property": {"street_address": "1 Main St"}}]},
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_SELLERS))
def test_a_potential_seller_the_schema_refuses_is_refused_by_the_api(
    client: Client, case: str
) -> None:
    payload = BAD_SELLERS[case]
    assert case in local_codes(payload, "potential_seller")
    with pytest.raises(ValidationError):
        client.create_potential_seller_lead(SITE, payload)


def test_the_good_twins_of_the_bad_payloads_pass_both(sandbox: Any, client: Client) -> None:
    good = {"id": ID, "source": "S", "first_name": "A", "email": "ana@example.com",
            "role": "Buyer", "created": "2024-03-15T09:30:00-04:00",
            "activities": [{**NOTE, "created": "2024-03-15T09:30:00Z"},
                           {**VIEWED, "property": {"full_baths": 2, "street_address": "1 Main"}}]}  # fmt: skip
    assert local_codes(good, "lead") == set()
    assert client.create_lead(SITE, good).status == 201
    seller = {"id": "0d9f3c1e-5b7a-4e2d-8c6f-1a2b3c4d5e6f", "created": "2024-03-15T09:30:00Z",
              "activities": [{**VIEWED, "property": {"street_address": "1 Main St"}}]}  # fmt: skip
    assert local_codes(seller, "potential_seller") == set()
    assert client.create_potential_seller_lead(SITE, seller).status == 201


# --------------------------------------------------------------------------- one verdict per value


EMAILS = [
    "ana@example.com", "ANA@EXAMPLE.COM", "ana+tag@example.co.uk", "ünï@example.com",
    "ana@bücher.com", "a@b.c", "x@@example.net", "x@example", "x at example.org",
    "ana@localhost", "a..b@example.com", "ana@example.com.", "ana@-example.com",
    "ana@example.invalid", "ana@example.local", '"a b"@example.com',
]  # fmt: skip
DATES = [
    "2024-03-15T09:30:00+00:00", "2024-03-15T09:30:00Z", "2024-03-15T09:30+01:00",
    "2024-03-15T09:30:00.123456789-05:00", "2024-03-15T09:30:00+14:00",
    "2024-03-15 09:30:00+00:00", "2024-03-15", "2024-02-30T00:00:00+00:00",
    "2024-03-15T24:00:00+00:00", "2024-03-15T09:30:00+0000", "20240315T093000Z",
    "2024-03-15T09:30:60+00:00",
]  # fmt: skip


def accepted(client: Client, payload: dict[str, Any]) -> bool:
    try:
        return client.create_lead(SITE, payload).status == 201
    except ValidationError:
        return False


def test_emails_and_dates_get_the_same_verdict_here_and_there(client: Client) -> None:
    here = valid_email_mask(pd.Series(EMAILS, dtype=object)).tolist()
    there = [accepted(client, {"id": ID, "source": "S", "email": e}) for e in EMAILS]
    assert dict(zip(EMAILS, here, strict=True)) == dict(zip(EMAILS, there, strict=True))
    here = valid_iso_datetime_mask(pd.Series(DATES, dtype=object)).tolist()
    there = [
        accepted(client, {"id": ID, "source": "S", "first_name": "A", "created": d}) for d in DATES
    ]
    assert dict(zip(DATES, here, strict=True)) == dict(zip(DATES, there, strict=True))
