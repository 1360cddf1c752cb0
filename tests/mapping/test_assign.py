"""assign: in a mapping file, owner matching (importer.mapping.owners) and was_assigned activities."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from importer import codes
from importer.errors import InputError, MappingError
from importer.mapping.apply import map_chunk
from importer.mapping.assign import role_of
from importer.mapping.binding import bind
from importer.mapping.files import load_mapping
from importer.mapping.owners import Directory, Person, name_key
from importer.mapping.parse import parse_mapping
from importer.plan.payloads import activities_by_row

BASE = {"source": "S", "key": ["ID"], "fields": {"email": ["Email"]}}

JANE = Person("u-jane", "Jane Doe", "jane.doe@example.com")
RENE = Person("u-rene", "René Lévesque", "rene@example.com")
SAM1 = Person("u-sam1", "Sam Lee", "sam.lee@example.com")
SAM2 = Person("u-sam2", "Sam Lee", "s.lee@example.com")
LENDER = Person("u-lend", "Lena Bank", "lena@lender.example")
USERS = (JANE, RENE, SAM1, SAM2, LENDER)


# ------------------------------------------------------------------ the spec


def test_assign_parses_with_its_default_match_order() -> None:
    m = parse_mapping({**BASE, "assign": {"agent": "Assigned To", "lender": "Lender"}})
    assert m.assign is not None
    assert (m.assign.agent, m.assign.lender, m.assign.match, m.assign.optional) == (
        ("Assigned To",), ("Lender",), ("email", "name"), False,
    )  # fmt: skip
    assert {"Assigned To", "Lender"} <= set(m.referenced_columns())
    only_name = parse_mapping({**BASE, "assign": {"agent": "Owner", "match": ["name"]}})
    assert only_name.assign is not None and only_name.assign.match == ("name",)
    assert parse_mapping(BASE).assign is None
    aliases = parse_mapping(
        {**BASE, "assign": {"agent": ["Assigned Agent", "Agent"], "optional": True}}
    )
    assert aliases.assign is not None and aliases.assign.agent == ("Assigned Agent", "Agent")
    assert aliases.assign.optional


@pytest.mark.parametrize(
    ("assign", "says"),
    [
        ({"agent": "A", "owner": "B"}, "[assign.owner]: unknown key"),
        ({"match": ["email"]}, "name the owner column"),
        ({"agent": "A", "match": ["phone"]}, "'phone' is not a way to match"),
        ({"agent": "A", "match": ["name", "name"]}, "each way to match at most once"),
        ("Assigned To", "expected a mapping"),
        ({"agent": ""}, "must not be empty"),
        ({"agent": "A", "optional": "yes"}, "expected true or false"),
    ],
)
def test_a_wrong_assign_section_is_one_clear_line(assign: object, says: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping({**BASE, "assign": assign})
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_an_activity_mapping_assigns_nothing() -> None:
    activity = {
        "source": "S", "kind": "activity", "link": {"source": "L", "key": ["ID"]},
        "activities": [{"type": "note", "description": ["Body"]}], "assign": {"agent": "Owner"},
    }  # fmt: skip
    with pytest.raises(MappingError, match="only a lead mapping assigns owners"):
        parse_mapping(activity)


def test_an_owner_column_missing_from_the_file_stops_before_any_row() -> None:
    m = parse_mapping({**BASE, "assign": {"agent": "Assigned To"}})
    with pytest.raises(InputError) as caught:
        bind(m, ["ID", "Email"], ["ID", "Email"])
    assert "assign.agent: column 'Assigned To' of mapping" in str(caught.value)
    assert "--assign off" in str(caught.value)
    bind(replace(m, assign=None), ["ID", "Email"], ["ID", "Email"])  # --assign off: fine
    optional = parse_mapping({**BASE, "assign": {"agent": ["Agent", "Owner"], "optional": True}})
    bind(optional, ["ID", "Email"], ["ID", "Email"])  # the file may lack it: assigned to nobody
    aliases = replace(optional, assign=replace(optional.assign, optional=False))
    bind(aliases, ["ID", "Email", "Owner"], ["ID", "Email", "Owner"])  # one alias is enough


# ------------------------------------------------------------------ matching


@pytest.mark.parametrize(
    ("value", "user"),
    [
        ("Jane Doe", JANE),
        ("Doe, Jane", JANE),
        ("  JANE   doe ", JANE),
        ("jane.doe@EXAMPLE.com", JANE),
        ("Jane D. <Jane.Doe@example.com>", JANE),  # the email inside wins over the name
        ("Rene Levesque", RENE),  # accents ignored
        ("Lévesque, René", RENE),
        ("sam.lee@example.com", SAM1),  # the email tells the two Sam Lees apart
    ],
)
def test_an_owner_matches_by_email_first_then_by_name(value: str, user: Person) -> None:
    found = Directory.of(USERS).match(value)
    assert found.status == "matched" and found.user == user


def test_a_name_two_users_share_is_ambiguous_never_guessed() -> None:
    found = Directory.of(USERS).match("Lee, Sam")
    assert found.status == "ambiguous" and found.user is None
    assert set(found.candidates) == {SAM1, SAM2}


@pytest.mark.parametrize("value", ["Nobody Here", "nobody@example.com", "Jane", "Jane Doe Smith"])
def test_an_owner_no_user_has_is_unknown(value: str) -> None:
    assert Directory.of(USERS).match(value).status == "unknown"


def test_match_only_by_name_ignores_emails() -> None:
    by_name = Directory.of(USERS, methods=("name",))
    assert by_name.match("jane.doe@example.com").status == "unknown"
    assert by_name.match("Jane Doe").user == JANE


def test_the_agent_map_comes_first_by_user_id_or_email() -> None:
    chosen = Directory.of(
        USERS,
        agent_map={"Lee, Sam": "u-sam2", "J. Doe": "jane.doe@example.com", "Jane Doe": "u-rene"},
    )
    assert chosen.match("Sam Lee").user == SAM2  # the same owner, however written
    assert chosen.match("J Doe").user == JANE
    assert chosen.match("Jane Doe").user == RENE
    assert chosen.unknown_targets() == []
    assert Directory.of(USERS, agent_map={"X": "u-gone"}).unknown_targets() == ["u-gone"]


def test_the_directory_fingerprint_changes_with_users_and_agent_map() -> None:
    one = Directory.of(USERS).fingerprint
    assert Directory.of(reversed(USERS)).fingerprint == one
    assert Directory.of(USERS[:-1]).fingerprint != one
    assert Directory.of(USERS, agent_map={"x": "u-jane"}).fingerprint != one
    assert name_key("Doe,  Jane-Marie") == "doe jane marie"


# ------------------------------------------------------------------ activities


def test_matched_rows_get_one_was_assigned_per_owner_column_with_the_user_id() -> None:
    m = parse_mapping({**BASE, "crm": "Old CRM", "assign": {"agent": "Agent", "lender": "Lender"}})
    m = replace(m, assign=replace(m.assign, directory=Directory.of(USERS)))
    cols = ["ID", "Email", "Agent", "Lender"]
    frame = pd.DataFrame(
        [
            ["1", "a@x.com", "Doe, Jane", "Lena Bank"],
            ["2", "b@x.com", "Sam Lee", ""],
            ["3", "c@x.com", "Nobody", "lena@lender.example"],
            ["4", "d@x.com", "", ""],
        ],
        columns=cols,
        index=[2, 3, 4, 5],
    )
    mapped = map_chunk(bind(m, cols, cols), frame, site=None)
    acts = activities_by_row(mapped)
    assert acts[2][:2] == [
        {"type": "was_assigned", "source": "S", "user": {"id": "u-jane"},
         "description": "The owner in the Old CRM export: Doe, Jane"},
        {"type": "was_assigned", "source": "S", "user": {"id": "u-lend"},
         "description": "The lender in the Old CRM export: Lena Bank"},
    ]  # fmt: skip
    assert [a["user"]["id"] for a in acts[4] if a["type"] == "was_assigned"] == ["u-lend"]
    assert not [a for a in acts.get(3, []) + acts.get(5, []) if a["type"] == "was_assigned"]
    warned = {(w.row, w.code) for w in mapped.warnings}
    assert warned == {(3, codes.AMBIGUOUS_AGENT), (4, codes.UNKNOWN_AGENT)}
    # each tells its role back (a lead's assignments are chained per role in the ledger)
    assert [role_of(a) for a in acts[2]] == ["agent", "lender", None]
    assert role_of({"type": "was_assigned", "source": "S", "description": "The owner in x"}) is None
    # the owner columns are no lead fields: unless the mapping reads them, they stay in the note
    notes = [a["description"] for a in acts[4] if a["type"] == "note"]
    assert notes and "Agent: Nobody" in notes[0]


def test_without_users_nothing_is_assigned_and_nothing_warned() -> None:
    m = load_mapping("followupboss")
    assert m.assign is not None and m.assign.agent == ("Assigned To",) and m.assign.optional
    cols = ["ID", "First Name", "Email 1", "Stage", "Assigned To"]
    frame = pd.DataFrame([["1", "Ann", "a@x.com", "Lead", "Nobody"]], columns=cols, index=[2])
    mapped = map_chunk(bind(m, cols, cols), frame, site=None)
    assert set(mapped.activities["type"]) <= {"note"} and not mapped.warnings
    assert "assigned to: Nobody" in mapped.leads["source_details"].iat[0]


def test_mappings_check_names_an_owner_column_missing_from_the_sample(tmp_path: Path) -> None:
    from importer.catalog.lint import check

    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "source: S\nkey: [ID]\nfields: {email: [Email]}\nassign: {agent: Agent, lender: [Lender, Loan Officer]}\n",
        encoding="utf-8",
    )
    sample = tmp_path / "sample.csv"
    sample.write_text("ID,Email,Loan Officer\n1,a@x.com,Kim\n", encoding="utf-8")
    problems = check(mine, sample)
    assert problems == [
        f"{mine} [assign.agent]: column 'Agent' is not in the sample's header; "
        "a run stops (exit 2) unless --assign off"
    ]
