"""Header fingerprints, starter mappings for unknown exports, mapping lint, and their CLI.

``detect``/``choose`` recognise a file by its header row; ``suggest`` guesses
a mapping for a header nothing recognises and renders YAML that loads;
``check`` reports every problem of a mapping file on its own line; the
``rg-import mappings`` commands exit 0 when all is well and 2 otherwise.
"""

from __future__ import annotations

import csv
import io
import random
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.catalog.detect import choose, detect, fingerprint_summary, load_catalog
from importer.catalog.lint import check
from importer.catalog.suggest import suggest
from importer.cli.main import main
from importer.errors import ConfigError, ExitCode
from importer.mapping.parse import parse_mapping
from importer.mapping.spec import Mapping
from importer.outputs.report import shown_json
from importer.plan.plan_file import PlanRequest, plan_file
from importer.read.headers import normalize_header
from importer.read.table import peek_headers
from tests.conftest import MAPPINGS, ROOT, SAMPLE_DATA

HUBSPOT_LIKE = {
    "name": "crm_a",
    "source": "A import",
    "detect": {"require_all": ["Record ID"], "require_any": ["Contact owner", "Lifecycle Stage"]},
    "key": ["Record ID"],
    "fields": {"first_name": ["First Name"]},
}
PREFIXED = {"name": "crm_p", "source": "P import", "detect": {"prefix_any": ["Person - "]}}
NO_FINGERPRINT = {"name": "plain", "source": "X", "fields": {"first_name": ["First Name"]}}

# An export no shipped mapping knows, with two sample rows.
UNKNOWN = [
    "Contact Id", "Given", "Surname", "E-mail addr", "Mobile No", "Work Phone", "Town",
    "Post Code", "Province", "Comments", "Favourite colour", "Lead Status", "Full Name",
    "Date Created", "Reach me at",
]  # fmt: skip
UNKNOWN_ROWS = [
    ["c-1", "Ana", "Prado", "ana.prado@example.com", "415-555-0134", "", "Boston", "02134",
     "MA", "Likes bay windows", "blue", "New", "Ana Prado", "2024-01-02", "ana@example.org"],
    ["c-2", "Li", "Chen", "li.chen@example.org", "(212) 555-0101", "212-555-0102", "New York",
     "10025", "NY", "", "red", "Old", "Li Chen", "2024-02-03", "li@example.net"],
]  # fmt: skip


def mappings(*raw: Any) -> list[Mapping]:
    return [parse_mapping(r) for r in raw]


def run_cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return int(exit_info.value.code or 0)


def key_of(line: str) -> str:
    """The mapping key a check line is about: "path [groups[0].fields]: ..." → groups[0].fields."""
    match = re.search(r"\.yaml \[(.+?)\]: ", line)
    assert match, line
    return match.group(1)


def write_mapping(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


# --------------------------------------------------------------------------- detect / choose


def test_a_fingerprint_needs_every_required_header_and_one_of_the_others() -> None:
    pool = mappings(HUBSPOT_LIKE)
    assert [m.name for m in detect(["Record ID", "Lifecycle Stage"], pool)] == ["crm_a"]
    assert detect(["Record ID", "First Name"], pool) == []  # none of require_any
    assert detect(["Contact owner", "Lifecycle Stage"], pool) == []  # require_all missing


def test_headers_match_whatever_their_case_spacing_or_bom() -> None:
    (match,) = detect(["\ufeffrecord  id", " CONTACT OWNER ", "first name"], mappings(HUBSPOT_LIKE))
    assert match.evidence == ("\ufeffrecord  id", " CONTACT OWNER ")  # as the file spells them


def test_a_prefix_fingerprint_matches_prefixed_headers_only() -> None:
    pool = mappings(PREFIXED)
    assert [m.name for m in detect(["Person - Name", "Person - Email - Work"], pool)] == ["crm_p"]
    assert detect(["Personal Email", "Name"], pool) == []


def test_a_mapping_without_fingerprint_is_never_detected() -> None:
    assert detect(["First Name"], mappings(NO_FINGERPRINT)) == []


def test_the_score_is_the_share_of_columns_the_mapping_reads_and_sorts_the_matches() -> None:
    wide = {
        **HUBSPOT_LIKE,
        "name": "crm_wide",
        "fields": {"first_name": ["First Name"], "city": ["Town"]},
    }
    headers = ["Record ID", "Contact owner", "First Name", "Town"]
    found = detect(headers, mappings(HUBSPOT_LIKE, wide))
    assert [(m.name, m.score) for m in found] == [("crm_wide", 0.75), ("crm_a", 0.5)]


def test_choose_returns_the_only_match() -> None:
    assert choose(["Person - ID"], mappings(HUBSPOT_LIKE, PREFIXED)).name == "crm_p"


@pytest.mark.parametrize(
    "headers, words",
    [
        (["Email", "Phone"], ["no mapping recognises", "--mapping", "mappings suggest"]),
        (
            ["Record ID", "Contact owner", "Person - ID"],
            ["equally well", "crm_a", "crm_b", "--mapping"],
        ),
    ],
)
def test_choose_refuses_none_or_a_tie_in_one_line(headers: list[str], words: list[str]) -> None:
    twin = {**HUBSPOT_LIKE, "name": "crm_b"}  # the same fingerprint: a true tie
    with pytest.raises(ConfigError) as error:
        choose(headers, mappings(HUBSPOT_LIKE, twin, PREFIXED))
    message = str(error.value)
    assert "\n" not in message and all(w in message for w in words)
    assert error.value.exit_code == ExitCode.USAGE


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_detection_ignores_column_order_case_and_spacing(rng: random.Random) -> None:
    headers = peek_headers(SAMPLE_DATA / "catalog" / "hubspot_contacts.csv")
    pool = load_catalog(sorted(MAPPINGS.glob("*.yaml")))[0]
    shuffled = [
        rng.choice((str.upper, str.lower, str.title, str))(h).replace(" ", rng.choice((" ", "  ")))
        for h in rng.sample(headers, len(headers))
    ]
    assert [m.name for m in detect(shuffled, pool)] == ["hubspot"]


def test_mappings_in_the_working_directory_are_detected_and_broken_ones_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    local = tmp_path / "mappings"
    local.mkdir()
    (local / "mycrm.yaml").write_text(yaml.safe_dump({**HUBSPOT_LIKE, "name": "mycrm"}), "utf-8")
    (local / "broken.yaml").write_text("source: [unclosed\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    assert "mycrm" in [m.name for m in detect(["Record ID", "Contact owner", "Notes"])]
    _, broken = load_catalog()
    assert [b.path.name for b in broken] == ["broken.yaml"] and "broken YAML" in broken[0].message
    assert run_cli("mappings", "list") == 0
    out, err = capsys.readouterr()
    assert "mycrm" in out and "(does not load)" in out and "broken YAML" in err


def test_fingerprint_summary_says_what_is_looked_for() -> None:
    a, p, plain = mappings(HUBSPOT_LIKE, PREFIXED, NO_FINGERPRINT)
    assert fingerprint_summary(a) == "all of: Record ID; one of: Contact owner, Lifecycle Stage"
    assert fingerprint_summary(p) == "a column starting with: 'Person - '"
    assert "never chosen automatically" in fingerprint_summary(plain)


# --------------------------------------------------------------------------- suggest


def test_suggest_proposes_sensible_fields_with_confidences_for_an_unknown_layout() -> None:
    found = suggest(UNKNOWN, UNKNOWN_ROWS)
    assert found.matches == ()
    picks = {t: {g.column for g in gs} for t, gs in found.by_target.items()}
    assert picks["key"] == {"Contact Id"}
    assert picks["first_name"] == {"Given"} and picks["last_name"] == {"Surname"}
    assert picks["email"] == {"E-mail addr", "Reach me at"}  # the second one by its values
    assert picks["phone"] == {"Mobile No", "Work Phone"}
    assert picks["city"] == {"Town"} and picks["zip"] == {"Post Code"}
    assert picks["state"] == {"Province"} and picks["created"] == {"Date Created"}
    assert picks["note"] == {"Comments"} and picks["full_name"] == {"Full Name"}
    assert found.unmatched == ("Favourite colour",)
    assert all(0 < g.confidence <= 1 for g in found.guesses)
    best = {g.column: g for g in found.guesses}
    assert best["Surname"].confidence >= 0.9  # a known spelling
    assert best["Given"].confidence < 0.9  # only a telling word
    assert "values look like emails" in best["Reach me at"].reason


def test_the_starter_yaml_loads_and_says_how_sure_each_line_is() -> None:
    found = suggest(UNKNOWN, UNKNOWN_ROWS)
    mapping = parse_mapping(yaml.safe_load(found.yaml))
    assert mapping.key_any == ("Contact Id",) and mapping.unmapped == "note"
    assert mapping.fields["first_name"].columns == ("Given",)
    # the full name, split where both names are empty (its fallbacks read as full_name)
    assert mapping.full_name is not None
    assert [g.columns for g in mapping.groups] == [
        ("E-mail addr", "Reach me at"), ("Mobile No", "Work Phone")
    ]  # fmt: skip
    assert mapping.activities[0].description.referenced_columns() == ("Comments",)
    assert "Favourite colour" in mapping.detect.require_all  # a column no known CRM has
    assert '- "Surname"  # 0.95 ' in found.yaml
    assert "#   Favourite colour" in found.yaml


def test_values_decide_a_column_whose_name_says_nothing() -> None:
    rows = [["x1", "4155550134"], ["x2", "(212) 555-0101"], ["x3", "212.555.0102"]]
    found = suggest(["Ref", "Reach"], rows)
    guess = found.best("phone")
    assert guess is not None and guess.column == "Reach" and guess.confidence < 0.9


def test_suggest_names_the_mapping_of_a_known_export() -> None:
    headers = peek_headers(SAMPLE_DATA / "followupboss_people.csv")
    assert [m.name for m in suggest(headers).matches] == ["followupboss"]


header_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=24).filter(
    lambda h: h.strip() != ""
)


@settings(max_examples=60, deadline=None)
@given(st.lists(header_text, min_size=0, max_size=12, unique_by=normalize_header))
def test_any_header_row_gives_a_starter_that_loads(headers: list[str]) -> None:
    found = suggest(headers)
    mapping = parse_mapping(yaml.safe_load(found.yaml))
    assert mapping.source and mapping.confidence == "unverified"
    guessed = [g.column for g in found.guesses]
    assert sorted(guessed + list(found.unmatched)) == sorted(headers)


def test_a_starter_mapping_written_by_the_cli_checks_and_plans(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_csv(tmp_path / "export.csv", UNKNOWN, UNKNOWN_ROWS)
    starter = tmp_path / "mine.yaml"
    assert run_cli("mappings", "suggest", str(export), "--out", str(starter)) == 0
    assert "Wrote" in capsys.readouterr().out
    assert parse_mapping(yaml.safe_load(starter.read_text("utf-8"))).name == "mine"
    assert run_cli("mappings", "check", str(starter), "--sample", str(export)) == 0
    request = PlanRequest(
        input=export,
        mapping=parse_mapping(yaml.safe_load(starter.read_text("utf-8"))),
        out=tmp_path / "run",
    )
    report = shown_json(plan_file(request))
    assert report["leads"]["create"] == 2 and report["leads"]["rejected"] == 0
    assert run_cli("mappings", "suggest", str(export), "--out", str(starter)) == ExitCode.USAGE


def test_suggest_prints_the_starter_when_no_out_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_csv(tmp_path / "export.csv", UNKNOWN, UNKNOWN_ROWS)
    assert run_cli("mappings", "suggest", str(export)) == 0
    out, err = capsys.readouterr()
    assert parse_mapping(yaml.safe_load(out)).name == "my_crm"
    assert "No mapping recognises" in err and "14 of 15 columns" in err


def test_suggest_on_a_known_export_names_its_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    sample = SAMPLE_DATA / "catalog" / "pipedrive_persons.csv"
    assert run_cli("mappings", "suggest", str(sample)) == 0
    out = capsys.readouterr().out
    assert "Recognised: Pipedrive" in out and "--mapping pipedrive_persons" in out


# --------------------------------------------------------------------------- check


CLEAN = """\
    name: mine
    source: Mine import
    detect: {require_all: [ID, First Name]}
    key: [ID]
    fields:
      first_name: [First Name]
      city: [Town, City]
    groups:
      - fields: [email, second_email]
        columns: ["Email {n}"]
"""


def test_check_passes_a_clean_mapping_and_its_sample(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, CLEAN)
    sample = write_csv(
        tmp_path / "s.csv",
        ["ID", "First Name", "City", "Email 1"],
        [["1", "A", "B", "a@example.com"]],
    )
    assert check(path) == []
    assert check(path, sample) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("source: [unclosed\n", ["broken YAML at line"]),
        ("fields:\n  email: [E]\n", ["[source]", "requires a lead source"]),
        ("source: S\ncolour: red\n", ["[colour]", "unknown key"]),
    ],
)
def test_check_reports_a_mapping_that_does_not_load_in_one_line(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = write_mapping(tmp_path, text)
    (line,) = check(path)
    assert str(path) in line and all(e in line for e in expected)


def test_check_lists_every_unknown_field_and_transform_at_once(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, """\
        source: S
        fields:
          tags: [Tags]
          stage: [Stage]
          email: {from: [E], transform: shout}
        groups:
          - fields: [phone, fax]
            columns: [Phone]
            transform: whisper
        activities:
          - type: property_viewed
            description: [D]
            property: {colour: [C]}
    """)  # fmt: skip
    lines = check(path)
    keys = [key_of(line) for line in lines]
    assert keys == [
        "fields.tags", "fields.stage", "groups[0].fields", "activities[0].property.colour",
        "fields.email.transform", "groups[0].transform",
    ]  # fmt: skip
    assert "unknown transform 'shout'" in lines[4] and "unknown transform 'whisper'" in lines[5]


def test_check_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    (line,) = check(tmp_path / "nope.yaml")
    assert "no such mapping file" in line


def test_check_reports_each_column_the_sample_lacks_in_one_line(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, CLEAN)
    sample = write_csv(tmp_path / "s.csv", ["Name", "Phone"], [["Ana", "415-555-0134"]])
    lines = check(path, sample)
    assert [key_of(line) for line in lines] == [
        "key", "fields.first_name", "fields.city", "groups[0].columns", "detect",
    ]  # fmt: skip
    assert "column 'ID' is not in the sample's header; rows are keyed by email" in lines[0]
    assert "none of the columns 'Town', 'City'" in lines[2]
    assert all("\n" not in line for line in lines)


def test_check_says_when_the_sample_cannot_be_read(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, CLEAN)
    (line,) = check(path, tmp_path / "missing.csv")
    assert "cannot read the sample" in line and "no such file" in line


def test_check_knows_the_fields_of_each_kind(tmp_path: Path) -> None:
    path = write_mapping(tmp_path, """\
        kind: potential_seller
        source: S
        fields:
          email: [Email]
        activities:
          - type: property_viewed
            description: [Address]
            property: {street_address: [Address]}
    """)  # fmt: skip
    (line,) = check(path)
    assert "[fields.email]" in line and "known: created" in line


# --------------------------------------------------------------------------- CLI


def test_mappings_check_exits_0_when_clean_and_2_with_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = SAMPLE_DATA / "catalog" / "zoho_leads.csv"
    assert run_cli("mappings", "check", "zoho_leads", "--sample", str(sample)) == 0
    assert capsys.readouterr().out.startswith("OK: zoho_leads")
    assert run_cli("mappings", "check", "hubspot", "--sample", str(sample)) == ExitCode.USAGE
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) >= 2 and all("hubspot.yaml [" in line for line in lines)
    broken = write_mapping(tmp_path, "source: [unclosed\n")
    assert run_cli("mappings", "check", str(broken)) == ExitCode.USAGE


def test_mappings_show_prints_valid_yaml_headed_by_its_fingerprint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli("mappings", "show", "mailchimp") == 0
    out = capsys.readouterr().out
    assert "# recognised by: all of: Email Address; one of: MEMBER_RATING" in out
    assert parse_mapping(yaml.safe_load(out)).name == "mailchimp"  # copy it to start your own
    assert run_cli("mappings", "show", "no_such_crm") == ExitCode.USAGE
    assert "no mapping named 'no_such_crm'" in capsys.readouterr().err


def test_the_worked_example_of_the_docs_is_what_suggest_says() -> None:
    text = (ROOT / "docs" / "mappings.md").read_text(encoding="utf-8")
    section = text.split("## Writing a mapping for a new CRM in ten minutes", 1)[1]
    blocks = re.findall(r"```(\w*)\n(.*?)```", section, re.S)
    export = next(body for lang, body in blocks if not lang and body.startswith("Contact Id"))
    header, *rows = list(csv.reader(io.StringIO(export)))
    found = suggest(header, rows)
    assert found.matches == ()
    shown = next(body for lang, body in blocks if lang == "yaml")
    parse_mapping({"source": "Docs import", **yaml.safe_load(shown)})
    claimed = re.findall(r'- "([^"]+)"  # (\d\.\d\d) ', shown)
    assert len(claimed) >= 6
    for column, confidence in claimed:
        assert f'- "{column}"  # {confidence} ' in found.yaml
