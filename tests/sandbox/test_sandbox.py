"""The sandbox's routes, auth, payload rules and lead semantics, over real loopback HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from importer.sandbox.runner import Sandbox, start_sandbox
from tests.conftest import SITE
from tests.sandbox.test_sandbox_helpers import (
    AUTH,
    OTHER_SITE,
    error_of,
    lead,
    new_id,
    note,
    property_view,
    session,
)

FULL_BATHS_ERROR = "Property field 'full_baths' is not a valid integer."


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with session() as s:
        yield s


def leads_url(sb: Sandbox, site: str = SITE) -> str:
    return f"{sb.url}/sites/{site}/leads"


def lead_url(sb: Sandbox, lead_id: str, site: str = SITE) -> str:
    return f"{sb.url}/sites/{site}/leads/{lead_id}"


def post_lead(http: requests.Session, sb: Sandbox, body: Any) -> requests.Response:
    return http.post(leads_url(sb), json=body)


def stored(sb: Sandbox, site: str = SITE) -> list[dict[str, Any]]:
    return sb.leads(site)


# --- routes ------------------------------------------------------------------


def test_create_lead_answers_201_with_empty_object_and_stores_it(
    sandbox: Sandbox, http: requests.Session
) -> None:
    body = lead(first_name="Jane", activities=[note()])
    response = post_lead(http, sandbox, body)
    assert response.status_code == 201
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {}
    [saved] = stored(sandbox)
    assert saved["id"] == body["id"] and saved["ids"] == [body["id"]]
    assert (
        saved["first_name"] == "Jane"
        and saved["email"] == body["email"]
        and saved["source"] == "Tests"
    )
    assert saved["activities"] == [note()]


def test_update_lead_answers_200_with_empty_object(
    sandbox: Sandbox, http: requests.Session
) -> None:
    body = lead()
    post_lead(http, sandbox, body)
    response = http.patch(lead_url(sandbox, body["id"]), json={"phone": "808-123-1234"})
    assert (response.status_code, response.json()) == (200, {})
    assert response.headers["Content-Type"] == "application/json"
    assert stored(sandbox)[0]["phone"] == "808-123-1234"


def test_add_activities_answers_200_and_appends_in_order(
    sandbox: Sandbox, http: requests.Session
) -> None:
    body = lead(activities=[note(description="first")])
    post_lead(http, sandbox, body)
    response = http.post(
        lead_url(sandbox, body["id"]) + "/activities", json=[note(description="second")]
    )
    assert (response.status_code, response.json()) == (200, {})
    assert [a["description"] for a in stored(sandbox)[0]["activities"]] == ["first", "second"]


def test_potential_seller_answers_201_and_is_stored_anonymous(
    sandbox: Sandbox, http: requests.Session
) -> None:
    body = {"id": new_id(), "created": "2019-03-02T17:10:00+00:00", "activities": [property_view()]}
    response = http.post(f"{sandbox.url}/sites/{SITE}/potential-seller-leads", json=body)
    assert (response.status_code, response.json()) == (201, {})
    [saved] = stored(sandbox)
    assert saved["id"] == body["id"] and saved["role"] == "Potential Seller"
    assert saved["created"] == body["created"] and saved["activities"] == body["activities"]


@pytest.mark.parametrize(
    "template",
    ["{root}/v2/rest/sites/{site}/leads/{lead}", "{root}/rest/sites/{site}/v2/leads/{lead}"],
    ids=["v2-prefix", "v2-inside"],
)
def test_v2_patch_is_served_at_both_printed_paths_and_unsets(
    sandbox: Sandbox, http: requests.Session, template: str
) -> None:
    body = lead(phone="808-123-1234", phone2="808-555-0000", city="Hilo")
    post_lead(http, sandbox, body)
    url = template.format(root=sandbox.root_url, site=SITE, lead=body["id"])
    response = http.patch(url, json={"phone2": "", "city": None, "last_name": "Doe"})
    assert (response.status_code, response.json()) == (200, {})
    saved = stored(sandbox)[0]
    assert "phone2" not in saved and "city" not in saved
    assert saved["phone"] == "808-123-1234" and saved["last_name"] == "Doe"
    assert sandbox.stats()["requests"]["update_lead_v2"] == {"200": 1}


def test_v1_patch_ignores_empty_and_null_values(sandbox: Sandbox, http: requests.Session) -> None:
    body = lead(phone="808-123-1234", city="Hilo")
    post_lead(http, sandbox, body)
    response = http.patch(
        lead_url(sandbox, body["id"]), json={"phone": "", "city": None, "zip": "96720"}
    )
    assert response.status_code == 200
    saved = stored(sandbox)[0]
    assert saved["phone"] == "808-123-1234" and saved["city"] == "Hilo" and saved["zip"] == "96720"


def test_v2_patch_cannot_unset_source(sandbox: Sandbox, http: requests.Session) -> None:
    body = lead()
    post_lead(http, sandbox, body)
    response = http.patch(
        f"{sandbox.root_url}/v2/rest/sites/{SITE}/leads/{body['id']}", json={"source": ""}
    )
    assert response.status_code == 422 and "'source'" in error_of(response)
    assert stored(sandbox)[0]["source"] == "Tests"


def test_patch_appends_activities_and_keeps_untouched_fields(
    sandbox: Sandbox, http: requests.Session
) -> None:
    body = lead(first_name="Jane", activities=[note(description="one")])
    post_lead(http, sandbox, body)
    http.patch(lead_url(sandbox, body["id"]), json={"activities": [note(description="two")]})
    saved = stored(sandbox)[0]
    assert saved["first_name"] == "Jane"
    assert [a["description"] for a in saved["activities"]] == ["one", "two"]


def test_patch_with_a_different_id_in_the_body_is_refused(
    sandbox: Sandbox, http: requests.Session
) -> None:
    body = lead()
    post_lead(http, sandbox, body)
    response = http.patch(lead_url(sandbox, body["id"]), json={"id": new_id(), "city": "Hilo"})
    assert response.status_code == 422 and "'id'" in error_of(response)
    same = http.patch(lead_url(sandbox, body["id"]), json={"id": body["id"], "city": "Hilo"})
    assert same.status_code == 200


def test_wrong_method_on_a_known_path_is_405_with_error(
    sandbox: Sandbox, http: requests.Session
) -> None:
    response = http.get(leads_url(sandbox))
    assert response.status_code == 405 and "POST" in error_of(response)
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "path",
    [
        "/rest/sites/{site}/lead",
        "/rest/sites/{site}/user",  # /users is the Users route (GET only)
        "/rest/leads",
        "/other",
        "/rest/sites/not-a-uuid/leads",
        "/rest/sites/{site}/leads/not-a-uuid",
        "/rest/sites/{site}/leads/",
    ],
)
def test_unknown_paths_and_malformed_ids_are_404(
    sandbox: Sandbox, http: requests.Session, path: str
) -> None:
    method = "PATCH" if path.endswith("not-a-uuid") else "POST"
    response = http.request(method, sandbox.root_url + path.format(site=SITE), json=lead())
    assert response.status_code == 404
    error_of(response)
    assert stored(sandbox) == []


def test_patch_and_activities_for_an_unknown_lead_are_404(
    sandbox: Sandbox, http: requests.Session
) -> None:
    missing = new_id()
    patched = http.patch(lead_url(sandbox, missing), json={"city": "Hilo"})
    added = http.post(lead_url(sandbox, missing) + "/activities", json=[note()])
    v2 = http.patch(f"{sandbox.root_url}/v2/rest/sites/{SITE}/leads/{missing}", json={"city": ""})
    for response in (patched, added, v2):
        assert response.status_code == 404 and missing in error_of(response)


def test_upper_case_and_plain_hex_site_ids_name_the_same_site(
    sandbox: Sandbox, http: requests.Session
) -> None:
    post_lead(http, sandbox, lead())
    post_lead_upper = http.post(
        f"{sandbox.url}/sites/{SITE.upper().replace('-', '')}/leads", json=lead()
    )
    assert post_lead_upper.status_code == 201
    assert len(stored(sandbox)) == 2


# --- auth -------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth", [None, ("sandbox", "wrong"), ("someone", "sandbox"), ("sandbox", "")]
)
def test_missing_or_wrong_credentials_are_401(
    sandbox: Sandbox, auth: tuple[str, str] | None
) -> None:
    with session(auth) as http:
        for response in (
            http.post(leads_url(sandbox), json=lead()),
            http.get(f"{sandbox.root_url}/_sandbox/stats"),
            http.get(f"{sandbox.root_url}/_sandbox/sites/{SITE}/leads"),
            http.post(f"{sandbox.url}/nowhere", json={}),
        ):
            assert response.status_code == 401
            assert error_of(response).startswith("unauthorized")
    assert stored(sandbox) == []


def test_malformed_authorization_header_is_401(sandbox: Sandbox) -> None:
    for header in ("Basic !!!notbase64", "Bearer c2FuZGJveDpzYW5kYm94", "Basic c2FuZGJveA=="):
        response = requests.post(leads_url(sandbox), json=lead(), headers={"Authorization": header})
        assert response.status_code == 401, header
        error_of(response)


def test_credentials_only_write_their_sites() -> None:
    with start_sandbox(sites=(SITE,)) as sb, session() as http:
        refused = http.post(leads_url(sb, OTHER_SITE), json=lead())
        assert refused.status_code == 401 and OTHER_SITE in error_of(refused)
        assert http.post(leads_url(sb, SITE), json=lead()).status_code == 201
        assert sb.leads(OTHER_SITE) == [] and len(sb.leads(SITE)) == 1


def test_any_well_formed_site_is_writable_without_a_site_list(
    sandbox: Sandbox, http: requests.Session
) -> None:
    assert http.post(leads_url(sandbox, OTHER_SITE), json=lead()).status_code == 201
    assert len(sandbox.leads(OTHER_SITE)) == 1 and stored(sandbox) == []


def test_other_credentials_can_be_configured() -> None:
    with start_sandbox(username="mywebsite", password="s3cret") as sb:
        ok = requests.post(
            leads_url(sb), json=lead(), headers={"Authorization": "Basic bXl3ZWJzaXRlOnMzY3JldA=="}
        )
        assert ok.status_code == 201
        assert requests.post(leads_url(sb), json=lead(), auth=AUTH).status_code == 401


# --- 422: lead payload rules -------------------------------------------------------


def _activity_lead(**activity: Any) -> dict[str, Any]:
    return lead(activities=[note(**activity)])


def _property_lead(**prop: Any) -> dict[str, Any]:
    return lead(activities=[property_view(**prop)])


INVALID_LEADS: list[tuple[str, dict[str, Any], str]] = [
    ("missing source", lead(source=None), "'source'"),
    ("empty source", lead(source=""), "'source'"),
    ("blank source", lead(source="   "), "'source'"),
    ("no contact field", {"id": new_id(), "source": "Tests", "zip": "96815"}, "contact field"),
    ("only empty contact fields", lead(email="", first_name=" "), "contact field"),
    ("id not a uuid", lead(id="12345"), "'id'"),
    ("id with braces", lead(id="{" + new_id() + "}"), "'id'"),
    ("role not allowed", lead(role="Investor"), "'role'"),
    ("potential seller role", lead(role="Potential Seller"), "potential-seller"),
    ("bad email", lead(email="jane@"), "'email'"),
    ("bad second email", lead(second_email="jane at example.com"), "'second_email'"),
    ("created bare date", lead(created="2015-10-01"), "'created'"),
    ("created naive", lead(created="2015-10-01T06:14:01"), "'created'"),
    ("created with space", lead(created="2015-10-01 06:14:01+00:00"), "'created'"),
    ("created impossible", lead(created="2015-13-01T06:14:01Z"), "'created'"),
    ("created compact offset", lead(created="2015-10-01T06:14:01+0000"), "'created'"),
    ("unknown field", lead(tags="vip"), "'tags'"),
    ("number phone", lead(phone=8081231234), "'phone'"),
    ("number zip", lead(zip=96815), "'zip'"),
    ("null first name", lead(first_name=None) | {"first_name": None}, "'first_name'"),
    ("list city", lead(city=["Hilo"]), "'city'"),
    ("activities not a list", lead(activities={"type": "note"}), "'activities'"),
    ("activity not an object", lead(activities=["note"]), "Activity 1"),
    ("activity without type", _activity_lead(type=None), "'type'"),
    ("activity without source", _activity_lead(source=None), "'source'"),
    ("activity without description", _activity_lead(description=""), "'description'"),
    ("activity of unknown type", _activity_lead(type="called"), "'called'"),
    ("outgoing-only activity type", _activity_lead(type="was_unassigned"), "'was_unassigned'"),
    ("activity with unknown field", _activity_lead(urgency="hot"), "'urgency'"),
    ("activity created naive", _activity_lead(created="2019-03-02T17:10:00"), "'created'"),
    ("activity notify_users not bool", _activity_lead(notify_users="yes"), "'notify_users'"),
    ("activity property not object", _activity_lead(property="1 Main St"), "'property'"),
    (
        "activity user with name",
        _activity_lead(type="was_assigned", user={"id": "14187", "name": "Al"}),
        "'name'",
    ),
    ("activity user id number", _activity_lead(type="was_assigned", user={"id": 14187}), "'id'"),
    ("property unknown field", _property_lead(garage="2"), "'garage'"),
    ("property text not string", _property_lead(mls=12345), "'mls'"),
]


@pytest.mark.parametrize(
    ("case", "body", "named"), INVALID_LEADS, ids=[c[0] for c in INVALID_LEADS]
)
def test_invalid_lead_is_422_naming_the_problem(
    sandbox: Sandbox, http: requests.Session, case: str, body: dict[str, Any], named: str
) -> None:
    response = post_lead(http, sandbox, body)
    assert response.status_code == 422, response.text
    assert named in error_of(response)
    assert stored(sandbox) == []


@pytest.mark.parametrize(
    "value", [2.5, "2", True, None, 2.0], ids=["float", "string", "bool", "null", "float-2.0"]
)
def test_full_baths_not_an_integer_gives_the_documented_message(
    sandbox: Sandbox, http: requests.Session, value: Any
) -> None:
    response = post_lead(http, sandbox, _property_lead(full_baths=value))
    assert response.status_code == 422
    assert error_of(response) == FULL_BATHS_ERROR


def test_first_problem_is_reported_in_a_fixed_order(
    sandbox: Sandbox, http: requests.Session
) -> None:
    # Unknown fields come first, then field values in body order, then required fields.
    body = {"source": "", "email": "bad@", "tags": "x", "id": "nope"}
    assert error_of(post_lead(http, sandbox, body)).startswith("Field 'tags'")
    del body["tags"]
    assert error_of(post_lead(http, sandbox, body)).startswith("Field 'email'")
    body["email"] = "jane@example.com"
    assert error_of(post_lead(http, sandbox, body)).startswith("Field 'id'")
    body["id"] = new_id()
    assert error_of(post_lead(http, sandbox, body)).startswith("Field 'source'")


@pytest.mark.parametrize(
    "body",
    [
        lead(id=uuid.uuid4().hex),
        lead(id=new_id().upper()),
        lead(created="2015-10-01T06:14:01.597026Z"),
        lead(created="2014-01-01T08:15:20+00:00"),
        lead(created="2014-01-01T08:15-10:00"),
        lead(created="2020-01-01T00:00:00.000000001+00:00"),
        lead(email=None, phone="(808) 123-1234"),
        lead(email=None, state="HI"),
        lead(role="Buyer and Seller", region="Oahu", source_details="Open house"),
        _property_lead(full_baths=2, beds=0, price=-1, mls="123", url="https://example.com/1"),
        _activity_lead(type="was_assigned", user={"id": "14187"}, notify_users=True),
        lead(activities=[]),
        lead(email="", phone="808-123-1234"),
    ],
)
def test_valid_variants_are_accepted(
    sandbox: Sandbox, http: requests.Session, body: dict[str, Any]
) -> None:
    response = post_lead(http, sandbox, body)
    assert response.status_code == 201, response.text
    assert len(stored(sandbox)) == 1


def test_each_activity_type_of_the_contract_is_accepted(
    sandbox: Sandbox, http: requests.Session
) -> None:
    from importer.api_contract import ACTIVITY_TYPES

    body = lead(activities=[note(type=kind) for kind in ACTIVITY_TYPES])
    assert post_lead(http, sandbox, body).status_code == 201
    assert [a["type"] for a in stored(sandbox)[0]["activities"]] == list(ACTIVITY_TYPES)


def test_unknown_fields_can_be_ignored_instead() -> None:
    with start_sandbox(unknown_fields="ignore") as sb, session() as http:
        body = lead(
            tags="vip", activities=[note(urgency="hot", property={"mls": "1", "garage": "2"})]
        )
        assert http.post(leads_url(sb), json=body).status_code == 201
        [saved] = sb.leads(SITE)
        assert "tags" not in saved
        assert saved["activities"] == [note(property={"mls": "1"})]
        # Known-field rules still hold.
        assert http.post(leads_url(sb), json=lead(role="Investor")).status_code == 422


# --- 422: PATCH and activities bodies -------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "named"),
    [
        ({"email": "nope"}, "'email'"),
        ({"role": "Landlord"}, "'role'"),
        ({"created": "2015-10-01"}, "'created'"),
        ({"tags": "x"}, "'tags'"),
        ({"phone": 808}, "'phone'"),
        ({"id": "123"}, "'id'"),
        ({"activities": [note(type="called")]}, "'called'"),
        ({"activities": [property_view(full_baths=2.5)]}, "full_baths"),
    ],
)
def test_invalid_patch_is_422(
    sandbox: Sandbox, http: requests.Session, patch: dict[str, Any], named: str
) -> None:
    body = lead()
    post_lead(http, sandbox, body)
    for url in (
        lead_url(sandbox, body["id"]),
        f"{sandbox.root_url}/v2/rest/sites/{SITE}/leads/{body['id']}",
    ):
        response = http.patch(url, json=patch)
        assert response.status_code == 422 and named in error_of(response)
    assert stored(sandbox)[0] == {
        "id": body["id"],
        "ids": [body["id"]],
        "source": "Tests",
        "email": body["email"],
        "activities": [],
    }


def test_patch_needs_no_field(sandbox: Sandbox, http: requests.Session) -> None:
    body = lead()
    post_lead(http, sandbox, body)
    assert http.patch(lead_url(sandbox, body["id"]), json={}).status_code == 200


@pytest.mark.parametrize(
    ("activities", "named"),
    [
        ([{"type": "note", "source": "Tests"}], "'description'"),
        ([note(), note(type="tour_requested")], "Activity 2"),
        ([note(extra=1)], "'extra'"),
        ([property_view(full_baths="2")], "full_baths"),
    ],
)
def test_invalid_activities_are_422(
    sandbox: Sandbox, http: requests.Session, activities: list[Any], named: str
) -> None:
    body = lead()
    post_lead(http, sandbox, body)
    response = http.post(lead_url(sandbox, body["id"]) + "/activities", json=activities)
    assert response.status_code == 422 and named in error_of(response)
    assert stored(sandbox)[0]["activities"] == []


# --- 400: bodies that are not JSON of the right shape ----------------------------------


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/leads", b"{not json"),
        ("/leads", b'{"source": "\xff\xfe"}'),
        ("/leads", b""),
        ("/leads", b'[{"source": "Tests"}]'),
        ("/leads", b'{"source": "Tests", "email": "a@example.com", "x": NaN}'),
        ("/potential-seller-leads", b'"text"'),
        ("/leads/{lead}", b"[]"),
        ("/leads/{lead}/activities", b'{"type": "note", "source": "Tests", "description": "x"}'),
        ("/leads/{lead}/activities", b"not json"),
    ],
)
def test_bodies_that_are_not_usable_json_are_400(
    sandbox: Sandbox, http: requests.Session, path: str, data: bytes
) -> None:
    existing = lead()
    post_lead(http, sandbox, existing)
    method = "PATCH" if path == "/leads/{lead}" else "POST"
    url = f"{sandbox.url}/sites/{SITE}" + path.format(lead=existing["id"])
    response = http.request(method, url, data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error_of(response)
    assert stored(sandbox)[0]["activities"] == [] and len(stored(sandbox)) == 1


# --- potential sellers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"email": "jane@example.com", "activities": [property_view()]}, "anonymous"),
        ({"first_name": "Jane", "activities": [property_view()]}, "'first_name'"),
        ({"source": "Valuation", "activities": [property_view()]}, "'source'"),
        ({"tags": "x", "activities": [property_view()]}, "'tags'"),
        ({"id": new_id()}, "property_viewed"),
        ({"activities": [note()]}, "property_viewed"),
        ({"activities": [property_view() | {"property": {}}]}, "property_viewed"),
        ({"activities": [property_view(full_baths=1.5)]}, "full_baths"),
        ({"id": "x", "activities": [property_view()]}, "'id'"),
        ({"created": "yesterday", "activities": [property_view()]}, "'created'"),
    ],
)
def test_potential_seller_rules(
    sandbox: Sandbox, http: requests.Session, body: dict[str, Any], named: str
) -> None:
    response = http.post(f"{sandbox.url}/sites/{SITE}/potential-seller-leads", json=body)
    assert response.status_code == 422 and named in error_of(response)
    assert stored(sandbox) == []


def test_potential_seller_without_id_gets_one(sandbox: Sandbox, http: requests.Session) -> None:
    response = http.post(
        f"{sandbox.url}/sites/{SITE}/potential-seller-leads", json={"activities": [property_view()]}
    )
    assert response.status_code == 201
    assert uuid.UUID(stored(sandbox)[0]["id"])


# --- semantics: merge, aliases, duplicates -------------------------------------------


def test_post_with_a_known_id_merges_and_appends(sandbox: Sandbox, http: requests.Session) -> None:
    first = lead(first_name="Jane", phone="808-123-1234", activities=[note(description="a")])
    post_lead(http, sandbox, first)
    again = {
        "id": first["id"],
        "source": "Tests 2",
        "first_name": "",
        "last_name": "Doe",
        "activities": [note(description="b")],
    }
    assert post_lead(http, sandbox, again).status_code == 201
    [saved] = stored(sandbox)
    assert (
        saved["first_name"] == "Jane"
        and saved["last_name"] == "Doe"
        and saved["source"] == "Tests 2"
    )
    assert saved["ids"] == [first["id"]]
    assert [a["description"] for a in saved["activities"]] == ["a", "b"]


def test_post_with_a_known_email_merges_and_aliases_the_new_id(
    sandbox: Sandbox, http: requests.Session
) -> None:
    first = lead(email="Jane.Doe@Example.com", first_name="Jane")
    second = lead(email="jane.doe@example.com", phone="808-123-1234")
    post_lead(http, sandbox, first)
    post_lead(http, sandbox, second)
    [saved] = stored(sandbox)
    assert saved["id"] == first["id"] and saved["ids"] == [first["id"], second["id"]]
    assert saved["phone"] == "808-123-1234" and saved["first_name"] == "Jane"
    # Either id now reaches the same lead.
    assert http.patch(lead_url(sandbox, second["id"]), json={"city": "Hilo"}).status_code == 200
    assert (
        http.post(lead_url(sandbox, second["id"]) + "/activities", json=[note()]).status_code == 200
    )
    assert (
        http.post(lead_url(sandbox, first["id"]) + "/activities", json=[note()]).status_code == 200
    )
    [saved] = stored(sandbox)
    assert saved["city"] == "Hilo" and len(saved["activities"]) == 2


def test_email_merge_is_per_site(sandbox: Sandbox, http: requests.Session) -> None:
    body = lead()
    post_lead(http, sandbox, body)
    http.post(leads_url(sandbox, OTHER_SITE), json=lead(email=body["email"]))
    assert len(stored(sandbox)) == 1 and len(stored(sandbox, OTHER_SITE)) == 1


def test_email_changed_by_patch_is_what_later_posts_match(
    sandbox: Sandbox, http: requests.Session
) -> None:
    body = lead(email="old@example.com")
    post_lead(http, sandbox, body)
    http.patch(lead_url(sandbox, body["id"]), json={"email": "new@example.com"})
    post_lead(http, sandbox, lead(email="NEW@example.com", city="Hilo"))
    post_lead(http, sandbox, lead(email="old@example.com"))
    saved = stored(sandbox)
    assert len(saved) == 2 and saved[0]["city"] == "Hilo" and len(saved[0]["ids"]) == 2


def test_post_without_id_gets_a_generated_one(sandbox: Sandbox, http: requests.Session) -> None:
    post_lead(http, sandbox, lead(id=None))
    post_lead(http, sandbox, lead(id=None))
    ids = [saved["id"] for saved in stored(sandbox)]
    assert len(set(ids)) == 2 and all(str(uuid.UUID(i)) == i for i in ids)


def test_ids_are_compared_in_normalised_form(sandbox: Sandbox, http: requests.Session) -> None:
    lead_id = uuid.uuid4()
    post_lead(http, sandbox, lead(id=lead_id.hex.upper()))
    assert stored(sandbox)[0]["id"] == str(lead_id)
    assert http.patch(lead_url(sandbox, str(lead_id)), json={"city": "Hilo"}).status_code == 200
    assert (
        http.post(lead_url(sandbox, lead_id.hex) + "/activities", json=[note()]).status_code == 200
    )
    post_lead(http, sandbox, lead(id=str(lead_id).upper(), last_name="Doe"))
    [saved] = stored(sandbox)
    assert saved["city"] == "Hilo" and saved["last_name"] == "Doe" and len(saved["activities"]) == 1


def test_activities_are_never_deduplicated(sandbox: Sandbox, http: requests.Session) -> None:
    body = lead(activities=[note()])
    post_lead(http, sandbox, body)
    post_lead(http, sandbox, body)
    url = lead_url(sandbox, body["id"]) + "/activities"
    http.post(url, json=[note(created="2019-03-02T17:10:00+00:00")])
    http.post(url, json=[note(created="2019-03-02T17:10:00+00:00")])
    activities = stored(sandbox)[0]["activities"]
    assert activities == [
        note(),
        note(),
        note(created="2019-03-02T17:10:00+00:00"),
        note(created="2019-03-02T17:10:00+00:00"),
    ]


def test_activities_are_stored_as_received(sandbox: Sandbox, http: requests.Session) -> None:
    activity = {
        "type": "was_assigned",
        "source": "Importer",
        "description": "Assigned during migration — ñ",
        "user": {"id": "14187"},
        "notify_users": False,
        "created": "2019-03-02T17:10:00.5-10:00",
    }
    post_lead(http, sandbox, lead(activities=[activity]))
    assert stored(sandbox)[0]["activities"] == [activity]


# --- inspection ------------------------------------------------------------------


def test_stats_count_statuses_per_route(sandbox: Sandbox, http: requests.Session) -> None:
    body = lead()
    post_lead(http, sandbox, body)
    post_lead(http, sandbox, lead(source=None))
    http.patch(lead_url(sandbox, body["id"]), json={"city": "Hilo"})
    http.patch(f"{sandbox.root_url}/v2/rest/sites/{SITE}/leads/{new_id()}", json={})
    http.post(lead_url(sandbox, body["id"]) + "/activities", json=[note()])
    http.post(
        f"{sandbox.url}/sites/{SITE}/potential-seller-leads", json={"activities": [property_view()]}
    )
    http.get(f"{sandbox.url}/nowhere")
    expected = {
        "requests": {
            "create_lead": {"201": 1, "422": 1},
            "update_lead": {"200": 1},
            "update_lead_v2": {"404": 1},
            "add_activities": {"200": 1},
            "create_potential_seller_lead": {"201": 1},
            "unknown": {"404": 1},
        },
        "faults": {},
        "total": 7,
    }
    over_http = http.get(f"{sandbox.root_url}/_sandbox/stats")
    assert over_http.headers["Content-Type"] == "application/json"
    assert over_http.json() == expected == sandbox.stats()


def test_request_log_keeps_arrival_order_and_bodies(
    sandbox: Sandbox, http: requests.Session
) -> None:
    body = lead()
    post_lead(http, sandbox, body)
    http.post(
        f"{sandbox.url}/sites/{SITE}/leads?x=1",
        data=b"{broken",
        headers={"Content-Type": "application/json"},
    )
    http.get(f"{sandbox.root_url}/_sandbox/stats")  # inspection is not logged
    log = http.get(f"{sandbox.root_url}/_sandbox/requests").json()
    assert log == sandbox.requests_log()
    assert log == [
        {
            "method": "POST",
            "path": f"/rest/sites/{SITE}/leads",
            "route": "create_lead",
            "status": "201",
            "fault": None,
            "body": body,
        },
        {
            "method": "POST",
            "path": f"/rest/sites/{SITE}/leads?x=1",
            "route": "create_lead",
            "status": "400",
            "fault": None,
            "body": None,
        },
    ]


def test_inspection_lists_leads_over_http(sandbox: Sandbox, http: requests.Session) -> None:
    body = lead(first_name="Jöhn")
    post_lead(http, sandbox, body)
    response = http.get(f"{sandbox.root_url}/_sandbox/sites/{SITE}/leads")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.json() == sandbox.leads(SITE)
    assert response.json()[0]["first_name"] == "Jöhn"
    assert http.get(f"{sandbox.root_url}/_sandbox/sites/{OTHER_SITE}/leads").json() == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/_sandbox/sites/nope/leads", 404),
        ("GET", "/_sandbox/nothing", 404),
        ("POST", "/_sandbox/stats", 405),
        ("GET", "/_sandbox/reset", 405),
        ("DELETE", "/_sandbox/requests", 405),
    ],
)
def test_inspection_errors(
    sandbox: Sandbox, http: requests.Session, method: str, path: str, status: int
) -> None:
    response = http.request(method, sandbox.root_url + path)
    assert response.status_code == status
    error_of(response)


def test_reset_clears_leads_stats_and_log(sandbox: Sandbox, http: requests.Session) -> None:
    post_lead(http, sandbox, lead())
    response = http.post(f"{sandbox.root_url}/_sandbox/reset")
    assert (response.status_code, response.json()) == (200, {})
    assert stored(sandbox) == [] and sandbox.requests_log() == []
    assert sandbox.stats() == {"requests": {}, "faults": {}, "total": 0}
    post_lead(http, sandbox, lead())
    sandbox.reset()
    assert stored(sandbox) == [] and sandbox.stats()["total"] == 0
