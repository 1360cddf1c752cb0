"""Mapping files (importer.mapping.files): every documented key parses, every mistake is named.

A mistake in a mapping file must stop the command with one line naming the
file and the key at fault, so people can fix the YAML without reading code.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from importer import api_contract as contract
from importer.errors import ExitCode, MappingError
from importer.mapping.files import find_mapping, iter_mapping_files, load_mapping, read_yaml
from importer.mapping.parse import parse_mapping
from importer.mapping.spec import DEFAULT_FIELD_TRANSFORMS, Mapping, Template, Transform, ValueSpec
from tests.conftest import MAPPINGS, ROOT

DOCS = ROOT / "docs" / "mappings.md"


def write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def doc_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)


# --------------------------------------------------------------------------- documented keys


def test_the_complete_example_of_the_docs_parses_into_what_it_says() -> None:
    complete = doc_blocks()[0]
    m = parse_mapping(yaml.safe_load(complete), name=None)
    assert (m.name, m.crm, m.confidence, m.kind) == ("mycrm", "My CRM", "partial", "lead")
    assert m.source == "My CRM import"
    assert m.detect.require_all == ("Contact ID", "First Name")
    assert m.detect.require_any == ("Email", "Mobile")
    assert m.read["drop_rows_matching"] == [r"Grand Totals \(\d+ records\)"]
    assert m.options.phone_region == "US"
    assert m.options.timezone == "America/Chicago"
    assert m.options.date_formats == ("%m/%d/%Y %I:%M %p", "%Y-%m-%d")
    assert m.key == ("Contact ID",) and m.key_any == () and m.key_fallback is True
    assert m.unmapped == "note"
    assert m.fields["first_name"].columns == ("First Name", "Given Name")
    last = m.fields["last_name"]
    assert last.columns == ("Last Name",) and last.fallback is None
    assert m.full_name == ValueSpec(columns=("Full Name",))
    assert m.options.country_columns == ("Country",)
    assert m.fields["phone"].on_invalid == "drop"
    assert m.fields["phone"].columns == ("Mobile", "Phone")
    role = m.fields["role"].transforms
    assert role[0].name == "map" and ("tenant", "Renter") in role[0].arg
    assert m.fields["source_details"].template == Template(
        ("My CRM id {Contact ID}", "owner: {Owner}", "status: {Status}"), "; "
    )
    (note,) = m.activities
    assert note.type == "note" and note.description.columns == ("Notes",)
    assert note.created is not None and note.created.transforms == (Transform("datetime"),)
    assert m.ignore == ("Full Name",)


@pytest.mark.parametrize("block", range(1, 4))
def test_the_fragments_of_the_docs_parse(block: int) -> None:
    data = yaml.safe_load(doc_blocks()[block])
    data.setdefault("source", "Docs import")
    m = parse_mapping(data)
    assert m.groups or m.activities


def test_groups_and_activities_of_the_docs_parse_into_their_parts() -> None:
    groups = parse_mapping({"source": "S", **yaml.safe_load(doc_blocks()[1])}).groups
    assert [g.fields for g in groups] == [("email", "second_email"), ("phone", "phone2")]
    assert groups[0].columns == ("Email {n}",) and groups[0].transform == Transform("email")
    assert groups[1].split == " ::: " and groups[1].on_invalid == "reject"
    assert groups[0].overflow == "note"
    acts = parse_mapping({"source": "S", **yaml.safe_load(doc_blocks()[2])}).activities
    viewed = acts[1]
    assert viewed.when == ("Property Address", "Property MLS Number")
    assert viewed.property["price"].on_invalid == "drop"
    assert viewed.property["full_baths"].transforms == (Transform("floor_integer"),)
    assert viewed.description.template is not None and viewed.description.template.join == ", "
    linked = parse_mapping(yaml.safe_load(doc_blocks()[3]))
    assert linked.kind == "activity" and linked.link is not None
    assert linked.link.key == ("Person ID",) and linked.link.source == "Follow Up Boss import"


def test_every_top_level_key_and_option_is_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: all-keys
        crm: Test CRM
        description: every key once
        confidence: verified
        kind: lead
        source: Test import
        detect: {require_all: [ID], require_any: [Email], prefix_any: ["Person - "]}
        read: {drop_rows_matching: ["Total.*"], delimiter: ";", encoding: cp1252, sheet: People}
        options:
          phone_region: GB
          timezone: Europe/London
          date_formats: ["%d/%m/%Y"]
          email_deny_domains: [kvleads.com]
        key: [ID, Office]
        key_fallback: false
        unmapped: ignore
        value_maps:
          stage: {hot: Buyer, "*": Seller}
        fields:
          role: {from: [Stage], transform: {map: stage}, on_invalid: drop}
          region: {value: North}
          address: {template: ["{Street}", "{Town}"], join: ", "}
        groups:
          - {fields: [email, second_email], columns: ["Email {n}"], split: ",", overflow: ignore}
        activities:
          - {type: note, description: [Notes], created: [Created], when: [Notes], source: Other}
        ignore: ["Email {n} - Type"]
        """,
    )
    m = load_mapping(path)
    assert m.name == "all-keys" and m.path == path
    assert m.read == {
        "drop_rows_matching": ["Total.*"], "delimiter": ";", "encoding": "cp1252", "sheet": "People"
    }  # fmt: skip
    assert m.detect.prefix_any == ("Person - ",)
    assert m.options.phone_region == "GB" and m.options.email_deny_domains == ("kvleads.com",)
    assert m.key == ("ID", "Office") and m.key_fallback is False
    assert m.unmapped == "ignore"
    assert dict(m.fields["role"].transforms[0].arg) == {"hot": "Buyer", "*": "Seller"}
    assert m.fields["region"].value == "North" and m.fields["region"].transforms == ()
    assert m.groups[0].split == "," and m.groups[0].overflow == "ignore"
    assert m.activities[0].source == "Other" and m.activities[0].when == ("Notes",)
    assert m.ignore == ("Email {n} - Type",)
    assert set(m.referenced_columns()) >= {"ID", "Office", "Stage", "Street", "Town", "Email {n}"}


def test_every_shipped_mapping_loads() -> None:
    shipped = sorted(p.stem for p in MAPPINGS.glob("*.yaml"))
    assert {"followupboss", "followupboss_notes", "generic"} <= set(shipped)
    for name in shipped:
        m = load_mapping(name)
        assert m.name == name and m.source


# --------------------------------------------------------------------------- mistakes


MISTAKES = {
    "unknown top-level key": ("source: S\ncolour: red\n", "colour", "unknown key"),
    "tags is not a lead field": (
        "source: S\nfields:\n  tags: [Tags]\n",
        "fields.tags",
        "note activity or source_details",
    ),
    "unknown transform": (
        "source: S\nfields:\n  email: {from: [E], transform: shout}\n",
        "fields.email.transform[0]",
        "unknown transform 'shout'",
    ),
    "missing source": ("fields:\n  email: [E]\n", "source", "requires a lead source"),
    "bad on_invalid": (
        "source: S\nfields:\n  phone: {from: [P], on_invalid: ignore}\n",
        "fields.phone.on_invalid",
        "'ignore' is not one of reject, drop",
    ),
    "unknown value map": (
        "source: S\nfields:\n  role: {from: [T], transform: {map: roles}}\n",
        "fields.role.transform[0]",
        "define it under value_maps",
    ),
    "bad timezone": (
        "source: S\noptions: {timezone: Mars/Olympus}\n",
        "options.timezone",
        "unknown time zone 'Mars/Olympus'",
    ),
    "activity mapping without link": (
        "source: S\nkind: activity\nactivities:\n  - {type: note, description: [B]}\n",
        "link",
        "needs link:",
    ),
    "potential seller without property": (
        "source: S\nkind: potential_seller\nactivities:\n  - {type: note, description: [B]}\n",
        "activities",
        "property_viewed activity with a property",
    ),
    "contact field on a potential seller": (
        "source: S\nkind: potential_seller\nfields:\n  email: [E]\n",
        "fields.email",
        "not a Real Geeks potential_seller field",
    ),
    "misspelt value key": (
        "source: S\nfields:\n  email: {from: [E], transfrom: email}\n",
        "fields.email.transfrom",
        "unknown key",
    ),
    "from and value together": (
        "source: S\nfields:\n  city: {from: [C], value: Paris}\n",
        "fields.city",
        "exactly one of",
    ),
    "field filled twice": (
        "source: S\nfields:\n  email: [E]\ngroups:\n  - {fields: [email], columns: ['Email {n}']}\n",
        "groups",
        "filled twice",
    ),
    "unknown activity type": (
        "source: S\nactivities:\n  - {type: call, description: [B]}\n",
        "activities[0].type",
        "unknown activity type",
    ),
    "property on a note": (
        "source: S\nactivities:\n  - {type: note, description: [B], property: {mls: [M]}}\n",
        "activities[0].property",
        "only property_viewed",
    ),
    "unknown property field": (
        "source: S\nactivities:\n"
        "  - {type: property_viewed, description: [B], property: {colour: [M]}}\n",
        "activities[0].property.colour",
        "not a property field",
    ),
    "map without its table": (
        "source: S\nfields:\n  role: {from: [T], transform: map}\n",
        "fields.role.transform[0]",
        "needs an argument",
    ),
    "bad footer regex": (
        "source: S\nread: {drop_rows_matching: ['(']}\n",
        "read.drop_rows_matching[0]",
        "not a valid regular expression",
    ),
    "key_fallback not a boolean": (
        "source: S\nkey_fallback: maybe\n",
        "key_fallback",
        "true or false",
    ),
    "key aliases misspelt": ("source: S\nkey: {form: [ID]}\n", "key.form", "unknown key"),
    "bad kind": (
        "source: S\nkind: people\n",
        "kind",
        "not one of lead, potential_seller, activity",
    ),
    "empty file": ("", "(top level)", "empty"),
    "a list instead of a mapping": ("- source\n", "(top level)", "expected a mapping"),
}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_each_mistake_is_one_line_naming_the_file_and_the_key(tmp_path: Path, case: str) -> None:
    text, key, words = MISTAKES[case]
    path = write(tmp_path, text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    err = caught.value
    message = str(err)
    assert "\n" not in message
    assert message.startswith(f"{path} [{key}]: ")
    assert words in message
    assert (err.path, err.key) == (str(path), key)
    assert err.exit_code == ExitCode.USAGE


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "source: S\nfields:\n  email: [Email\n  phone: [Phone]\nkey: [ID]\n")
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path))
    line = re.search(r"at line (\d+)", message)
    assert line is not None and 3 <= int(line.group(1)) <= 5
    assert "fix the indentation or quoting" in message


def test_a_file_that_is_not_utf8_is_a_mapping_error(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("source: Caf\u00e9\n".encode("latin-1"))
    with pytest.raises(MappingError, match="cannot read the file"):
        load_mapping(path)


# --------------------------------------------------------------------------- finding


def test_a_name_finds_the_shipped_mapping_and_a_path_finds_the_file(tmp_path: Path) -> None:
    assert find_mapping("followupboss") == MAPPINGS / "followupboss.yaml"
    mine = write(tmp_path, "source: Mine\n")
    assert find_mapping(str(mine)) == mine
    assert load_mapping(mine).name == "mine"  # default name: the file name


def test_a_mapping_in_the_working_directory_wins_over_a_shipped_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mappings").mkdir()
    write(tmp_path / "mappings", "source: Local override\n", name="followupboss.yaml")
    monkeypatch.chdir(tmp_path)
    assert load_mapping("followupboss").source == "Local override"
    assert [p for p in iter_mapping_files() if p.stem == "followupboss"] == [
        Path.cwd() / "mappings" / "followupboss.yaml"
    ]


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(MappingError) as caught:
        find_mapping("nosuchcrm")
    message = str(caught.value)
    assert "no mapping named 'nosuchcrm'" in message
    assert "followupboss" in message and "give a path" in message


def test_a_missing_path_says_so(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no such mapping file"):
        load_mapping(tmp_path / "gone.yaml")


# --------------------------------------------------------------------------- keys and defaults


def test_key_from_lists_aliases_instead_of_joined_columns() -> None:
    m = parse_mapping({"source": "S", "key": {"from": ["ID", "Record ID"]}})
    assert m.key == () and m.key_any == ("ID", "Record ID")
    joined = parse_mapping({"source": "S", "key": ["Office", "ID"]})
    assert joined.key == ("Office", "ID") and joined.key_any == ()
    with pytest.raises(MappingError, match=r"\[key.from\]"):
        parse_mapping({"source": "S", "key": {"from": []}})


@pytest.mark.parametrize("field", sorted(DEFAULT_FIELD_TRANSFORMS))
def test_a_field_without_a_transform_gets_its_natural_one(field: str) -> None:
    m = parse_mapping({"source": "S", "fields": {field: ["Col"]}})
    assert m.fields[field].transforms == (Transform(DEFAULT_FIELD_TRANSFORMS[field]),)


def test_default_transforms_cover_emails_and_reach_fallbacks_but_not_constants() -> None:
    assert DEFAULT_FIELD_TRANSFORMS["email"] == DEFAULT_FIELD_TRANSFORMS["second_email"] == "email"
    m = parse_mapping(
        {
            "source": "S",
            "fields": {
                "email": {"from": ["Email"], "fallback": {"from": ["Other Email"]}},
                "second_email": {"from": ["E2"], "transform": "lower"},
                "city": ["City"],
                "region": {"value": "North"},
                "phone": {"value": "(808) 555-0100"},
            },
        }
    )
    email = m.fields["email"]
    assert email.transforms == (Transform("email"),)
    assert email.fallback is not None and email.fallback.transforms == (Transform("email"),)
    assert m.fields["second_email"].transforms == (Transform("lower"),)  # explicit wins
    assert m.fields["city"].transforms == ()
    assert m.fields["phone"].transforms == ()  # a constant is taken as written
    assert m.fields["region"].transforms == ()


def test_groups_activities_and_properties_get_their_defaults() -> None:
    m = parse_mapping(
        {
            "source": "S",
            "groups": [{"fields": ["phone", "phone2"], "columns": ["Phone {n}"]}],
            "activities": [
                {
                    "type": "property_viewed",
                    "description": ["About"],
                    "property": {"beds": ["Beds"], "mls": ["MLS"]},
                }
            ],
        }
    )
    assert m.groups[0].transform == Transform("phone")
    act = m.activities[0]
    assert act.description.transforms == (Transform("multiline"),)
    assert act.property["beds"].transforms == (Transform("integer"),)
    assert act.property["mls"].transforms == ()


def test_mapping_fields_are_exactly_the_contract_lead_fields() -> None:
    allowed = set(contract.LEAD_TEXT_FIELDS) - {"source"}
    for name in allowed:
        assert name in parse_mapping({"source": "S", "fields": {name: ["Col"]}}).fields
    with pytest.raises(MappingError, match="top-level source"):
        parse_mapping({"source": "S", "fields": {"source": ["Col"]}})
    with pytest.raises(MappingError, match=r"\[fields.activities\]"):
        parse_mapping({"source": "S", "fields": {"activities": ["Col"]}})


def test_a_parsed_mapping_is_immutable_and_its_specs_hashable() -> None:
    m = load_mapping("generic")
    assert isinstance(m, Mapping)
    with pytest.raises(AttributeError):
        m.source = "other"  # type: ignore[misc]
    # the mapper caches evaluated specs by the spec itself, value maps included
    cache = {spec: name for name, spec in m.fields.items()}
    assert cache[m.fields["role"]] == "role"


@pytest.mark.parametrize("path", sorted(MAPPINGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_fast_yaml_reader_reads_shipped_mappings_like_safe_load(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert read_yaml(text) == yaml.safe_load(text)


def test_fast_yaml_reader_refuses_what_safe_load_refuses() -> None:
    with pytest.raises(yaml.YAMLError):
        read_yaml("source: !!python/object:os.system x\n")
    with pytest.raises(yaml.YAMLError):
        read_yaml("fields:\n  email: [Email\n")


BILLION_LAUGHS = """\
name: laughs
source: test
fields:
  email: Email
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_billion_laughs_aliases_are_refused_before_anything_walks_them(tmp_path: Path) -> None:
    # 9**9 "lol"s once expanded: the old loader built it cheaply, then repr() for the
    # fingerprint and the unknown-key checks spun for ever
    path = write(tmp_path, BILLION_LAUGHS)
    with pytest.raises(
        MappingError, match=r"aliases \(\*name\) expand to more than 100,000 values"
    ) as info:
        load_mapping(path)
    assert str(info.value).startswith(f"{path}: ")
    from importer.catalog.lint import check

    assert check(path) == [str(info.value)]


def test_an_alias_inside_itself_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "name: loop\nsource: test\nx: &x [1, *x]\n")
    with pytest.raises(MappingError, match="an alias refers to the value it is part of"):
        load_mapping(path)


def test_a_few_aliases_still_load(tmp_path: Path) -> None:
    assert read_yaml("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(\w*\s?)*Total", r"(x|xy)*z"])
def test_a_footer_pattern_that_can_backtrack_for_ever_is_refused(
    tmp_path: Path, pattern: str
) -> None:
    path = write(
        tmp_path,
        f"name: slow\nsource: test\nfields:\n  email: Email\nread:\n  drop_rows_matching: ['{pattern}']\n",
    )
    with pytest.raises(
        MappingError, match=r"\[read.drop_rows_matching\[0\]\]: could take for ever to match"
    ):
        load_mapping(path)


def test_shipped_footer_patterns_pass_the_backtracking_check() -> None:
    from importer.read.regex_guard import nested_quantifier

    patterns = [
        p
        for path in iter_mapping_files()
        for p in load_mapping(path).read.get("drop_rows_matching", [])
    ]
    assert patterns  # the Salesforce report mapping has some
    assert [p for p in patterns if nested_quantifier(p)] == []
