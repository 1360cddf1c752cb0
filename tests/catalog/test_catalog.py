"""The catalog of CRM mappings and their sample exports.

Every shipped mapping loads and lints clean; every generated sample plans to
exactly the outcome its ``.expected.csv`` states (rows, keys, actions, reject
codes, warnings); fingerprints pick the right mapping for every sample and
never a second one; and the engine's ``empty_values`` rule does what the
mapping files rely on.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from importer.catalog.detect import choose, detect, has_fingerprint, load_catalog
from importer.catalog.lint import check
from importer.cli.main import main
from importer.errors import MappingError
from importer.mapping.apply import map_chunk
from importer.mapping.binding import bind
from importer.mapping.empty_values import blank_empty_values
from importer.mapping.files import load_mapping, read_overrides
from importer.mapping.parse import parse_mapping
from importer.outputs.report import shown_json
from importer.plan.plan_file import PlanRequest, plan_file
from importer.read.options import ReadOptions
from importer.read.table import open_table, peek_headers
from tests.conftest import MAPPINGS, SAMPLE_DATA

CATALOG = SAMPLE_DATA / "catalog"
GENERATOR = SAMPLE_DATA / "generate_catalog.py"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_catalog", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


GEN = _load_generator()
# (mapping, file name) of every generated sample, from the generator's own table
SAMPLES = [(mapping, sheet.name) for mapping, sheet in GEN.build()]
# every sample in sample_data/ and the one mapping that must recognise it
OWNERS = {
    **{f"catalog/{name}": mapping for mapping, name in SAMPLES},
    "followupboss_people.csv": "followupboss",
    "followupboss_legacy_cp1252.csv": "followupboss",
    "followupboss_notes.csv": "followupboss_notes",
}
SHIPPED = sorted(p.stem for p in MAPPINGS.glob("*.yaml"))
GUESSED = ("boomtown", "lofty")  # no evidence at all: alias-only, no sample
# zillow: its real columns are known only from public parsers (tests/corpus/headers), no sample


def expected_rows(name: str) -> list[dict[str, str]]:
    path = CATALOG / (Path(name).stem + ".expected.csv")
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def mapped(mapping_name: str, file_name: str) -> tuple[Any, dict[int, str]]:
    """The mapped chunk of a sample, and each row's case."""
    mapping = load_mapping(mapping_name)
    with open_table(CATALOG / file_name, ReadOptions(**read_overrides(mapping))) as table:
        bound = bind(mapping, table.info.columns, table.info.headers)
        (frame,) = list(table.chunks())
        chunk = map_chunk(bound, frame, site="089df7bf-db46-4453-b29a-6b02700c4426")
    return chunk, {int(r["row"]): r["case"] for r in expected_rows(file_name)}


def rows_of(chunk: Any, cases: dict[int, str], case: str) -> list[int]:
    rows = [row for row, c in cases.items() if c == case]
    assert rows, f"no row of case {case}"
    return rows


# --------------------------------------------------------------------------- the mappings


@pytest.mark.parametrize("name", SHIPPED)
def test_every_mapping_loads_and_passes_check(name: str) -> None:
    mapping = load_mapping(name)
    assert mapping.crm and mapping.description and mapping.source
    assert check(MAPPINGS / f"{name}.yaml") == []


def test_every_mapping_but_generic_says_how_to_recognise_its_files() -> None:
    catalog, broken = load_catalog(sorted(MAPPINGS.glob("*.yaml")))
    assert broken == []
    without = sorted(m.name for m in catalog if not has_fingerprint(m))
    assert without == ["generic"]


def test_each_mapping_file_comments_on_what_is_verified_and_what_is_a_guess() -> None:
    for name in SHIPPED:
        text = (MAPPINGS / f"{name}.yaml").read_text(encoding="utf-8")
        if name.startswith(("followupboss", "generic", "home_valuations")):
            continue  # written before the catalog, with their own comments
        head = text.split("\nname:")[0].lower()
        assert "what we know" in head, name
        if load_mapping(name).confidence != "verified":
            assert "guess" in head, f"{name} must say what it guesses"


@pytest.mark.parametrize("mapping, name", SAMPLES)
def test_every_mapping_reads_every_column_it_names_in_its_sample(mapping: str, name: str) -> None:
    assert check(mapping, CATALOG / name) == []


# --------------------------------------------------------------------------- the samples


def test_the_samples_are_exactly_what_the_generator_writes(tmp_path: Path) -> None:
    written = GEN.write_catalog(tmp_path)
    assert len(written) == 2 * len(SAMPLES)
    committed = sorted(p.name for p in CATALOG.iterdir())
    assert committed == sorted(p.name for p in written)
    for path in written:
        assert path.read_bytes() == (CATALOG / path.name).read_bytes(), path.name


def test_every_verified_or_partial_layout_with_evidence_has_a_sample() -> None:
    with_sample = {mapping for mapping, _ in SAMPLES}
    for name in SHIPPED:
        m = load_mapping(name)
        if (
            m.kind == "lead"
            and m.confidence in ("verified", "partial")
            and m.crm != "Follow Up Boss"
        ):
            assert name in with_sample, f"{name} has no sample in sample_data/catalog"
    assert not with_sample & set(GUESSED)


@pytest.mark.parametrize("mapping, name", SAMPLES)
def test_each_sample_is_small_dirty_and_has_one_to_three_rejects(mapping: str, name: str) -> None:
    rows = expected_rows(name)
    assert 10 <= len(rows) <= 25
    rejects = [r for r in rows if r["action"] == "reject"]
    assert 1 <= len(rejects) <= 3
    dirty = {r["case"] for r in rows if r["action"] == "create"} - {"clean"}
    assert dirty, "a sample shows the dirty cases its layout is known for"
    assert [int(r["row"]) for r in rows] == list(range(2, len(rows) + 2))


@pytest.mark.parametrize("mapping, name", SAMPLES)
def test_each_sample_plans_to_exactly_its_expected_outcome(
    mapping: str, name: str, tmp_path: Path
) -> None:
    report = shown_json(
        plan_file(
            PlanRequest(input=CATALOG / name, mapping=load_mapping(mapping), out=tmp_path / "run")
        )
    )
    with open(tmp_path / "run" / "plan.csv", encoding="utf-8-sig", newline="") as handle:
        plan = list(csv.DictReader(handle))
    # warnings are only in report.json; with few of them the examples are all of them
    assert report["warnings"]["total"] == len(report["warnings"]["examples"])
    warned: dict[str, list[str]] = {}
    for w in report["warnings"]["examples"]:
        warned.setdefault(str(w["row"]), []).append(w["code"])
    got = [
        (p["row"], p["key"], p["action"], p["codes"], ";".join(sorted(warned.get(p["row"], []))))
        for p in plan
    ]
    want = [
        (e["row"], e["key"], e["action"], e["codes"], e["warnings"]) for e in expected_rows(name)
    ]
    assert got == want
    assert report["leads"]["rejected"] == sum(1 for e in want if e[2] == "reject")


# --------------------------------------------------------------------------- what the rows become


def test_kvcore_phone_only_leads_lose_the_placeholder_email_and_the_digit_name() -> None:
    chunk, cases = mapped("kvcore", "kvcore_contacts.csv")
    for row in rows_of(chunk, cases, "kvleads_phone_only"):
        lead = chunk.leads.loc[row]
        assert lead["email"] == "" and lead["first_name"] == "" and lead["last_name"] == ""
        assert re.fullmatch(r"\(\d{3}\) 555-01\d\d", lead["phone"])
        notes = chunk.activities[chunk.activities["_row"] == row]["description"].str.cat()
        assert "@kvleads.com" in notes  # the placeholder is kept in the note, not sent
    (unknown,) = rows_of(chunk, cases, "lead_type_unknown")
    assert chunk.leads.loc[unknown, "role"] == ""
    assert "Investor" in chunk.leads.loc[unknown, "source_details"]


def test_outlook_uses_the_next_address_when_the_first_is_an_exchange_path() -> None:
    chunk, cases = mapped("outlook", "outlook_contacts.csv")
    (both,) = rows_of(chunk, cases, "x500_email_then_smtp")
    assert re.fullmatch(r"[a-z]+\.[a-z]+@example\.(com|org|net)", chunk.leads.loc[both, "email"])
    (only,) = rows_of(chunk, cases, "x500_email_only")
    assert chunk.leads.loc[only, "email"] == "" and chunk.keys[only].startswith("phone:")
    note = chunk.activities[chunk.activities["_row"] == only]["description"].str.cat()
    assert "E-mail Address (left out): /o=ExchangeLabs" in note
    assert "0/0/00" not in chunk.activities["description"].str.cat()  # Outlook's "no birthday"
    (accented,) = rows_of(chunk, cases, "accented_name")  # read from cp1252
    assert chunk.leads.loc[accented, "first_name"] in ("José", "Zoë")


def test_google_contacts_split_cells_holding_several_values() -> None:
    chunk, cases = mapped("google_contacts", "google_contacts.csv")
    (emails,) = rows_of(chunk, cases, "two_emails_in_one_cell")
    assert chunk.leads.loc[emails, "second_email"].endswith("@example.net")
    assert " ::: " not in chunk.leads.loc[emails, "email"]
    (phones,) = rows_of(chunk, cases, "two_phones_in_one_cell")
    assert chunk.leads.loc[phones, "phone2"] and chunk.leads.loc[phones, "phone"]


def test_salesforce_report_footer_lines_are_not_rows() -> None:
    text = (CATALOG / "salesforce_report.csv").read_bytes().decode("iso-8859-1")
    assert "Grand Totals" in text and "Confidential Information" in text
    rows = expected_rows("salesforce_report.csv")
    chunk, _ = mapped("salesforce_report", "salesforce_report.csv")
    assert list(chunk.index) == [int(r["row"]) for r in rows]


def test_salesforce_upper_case_api_names_map_like_the_mixed_case_ones() -> None:
    upper, _ = mapped("salesforce_dataloader", "salesforce_dataloader_upper.csv")
    assert (upper.leads["first_name"] != "").all() and (upper.leads["created"] != "").all()
    assert upper.leads["source_details"].str.startswith("Salesforce 00Q").all()


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize("sample, owner", sorted(OWNERS.items()))
def test_detection_picks_the_one_right_mapping_for_every_sample(sample: str, owner: str) -> None:
    headers = peek_headers(SAMPLE_DATA / sample)
    matches = detect(headers)
    assert [m.name for m in matches] == [owner], "no other mapping may claim this file"
    assert choose(headers).name == owner
    assert 0 < matches[0].score <= 1


def test_mappings_list_shows_every_layout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["mappings", "list"])
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "CRM", "CONFIDENCE", "PATH"]
    listed = {line.split()[0]: line for line in lines[1:]}
    for name in SHIPPED:
        mapping = load_mapping(name)
        assert mapping.confidence in listed[name] and mapping.crm in listed[name]
        assert listed[name].endswith(f"{name}.yaml")


# --------------------------------------------------------------------------- empty_values


OUTLOOK_LIKE = {
    "source": "S",
    "empty_values": [
        {"columns": ["E-mail Address", "E-mail {n} Address"], "matching": ["/o=.*"]},
        {"columns": ["Birthday"], "matching": ["0/0/0*"], "note": False},
    ],
    "groups": [
        {"fields": ["email", "second_email"], "columns": ["E-mail Address", "E-mail {n} Address"]}
    ],
    "fields": {"first_name": ["First Name"]},
}
HEADERS = ["First Name", "E-mail Address", "E-mail 2 Address", "Birthday"]


def frame(rows: list[list[str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=HEADERS, index=range(2, len(rows) + 2), dtype=object)


def test_empty_values_blank_matching_cells_and_keep_them_in_the_note() -> None:
    mapping = parse_mapping(OUTLOOK_LIKE)
    raw = frame([
        ["Ana", "/O=ExchangeLabs/ou=Exchange/cn=ana", "ana@example.com", "0/0/00"],
        ["Li", "li@example.org", "", "7/4/1985"],
        ["Bo", "see /o=x", "", "0/0/0000"],
    ])  # fmt: skip
    headers = {c: c for c in HEADERS}
    out, notes = blank_empty_values(mapping, raw, headers)
    assert out["E-mail Address"].tolist() == ["", "li@example.org", "see /o=x"]  # whole cells only
    assert out["Birthday"].tolist() == ["", "7/4/1985", ""]
    assert str(raw.loc[2, "E-mail Address"]).startswith("/O=")  # raw cells stay for reject files
    assert notes is not None
    assert notes.tolist() == [
        "E-mail Address (left out): /O=ExchangeLabs/ou=Exchange/cn=ana",
        "",
        "",
    ]
    chunk = map_chunk(bind(mapping, HEADERS, HEADERS), raw, site=None)
    assert chunk.leads["email"].tolist() == ["ana@example.com", "li@example.org", ""]
    assert chunk.problems[4][0].code == "invalid_email"  # not a placeholder: still an error


def test_a_mapping_without_empty_values_leaves_the_frame_alone() -> None:
    mapping = parse_mapping({"source": "S", "fields": {"first_name": ["First Name"]}})
    raw = frame([["Ana", "/o=x", "", "0/0/00"]])
    out, notes = blank_empty_values(mapping, raw, {c: c for c in HEADERS})
    assert out is raw and notes is None


@given(st.lists(st.text(alphabet="/o=ab0 ", max_size=8), min_size=1, max_size=12))
def test_empty_values_blank_exactly_the_cells_that_match_whole(cells: list[str]) -> None:
    mapping = parse_mapping(
        {"source": "S", "empty_values": [{"columns": ["E"], "matching": ["/o=.*"]}]}
    )
    raw = pd.DataFrame({"E": cells}, index=range(2, len(cells) + 2), dtype=object)
    out, notes = blank_empty_values(mapping, raw, {"E": "E"})
    for before, after in zip(cells, out["E"], strict=True):
        matches = re.fullmatch("/o=.*", before.strip(), re.IGNORECASE) is not None and before != ""
        assert after == ("" if matches else before)
    if notes is not None:
        assert all(n == "" or n.startswith("E (left out): ") for n in map(str, notes))


@pytest.mark.parametrize(
    "rule, key",
    [
        ({"matching": ["x"]}, "empty_values[0].columns"),
        ({"columns": ["A"]}, "empty_values[0].matching"),
        ({"columns": ["A"], "matching": ["("]}, "empty_values[0].matching[0]"),
        ({"columns": ["A"], "matching": ["x"], "note": "yes"}, "empty_values[0].note"),
        ({"columns": ["A"], "matching": ["x"], "colour": 1}, "empty_values[0].colour"),
    ],
)
def test_empty_values_mistakes_name_their_key(rule: dict[str, object], key: str) -> None:
    with pytest.raises(MappingError) as error:
        parse_mapping({"source": "S", "empty_values": [rule]})
    assert f"[{key}]" in str(error.value) and "\n" not in str(error.value)


def test_zillow_profile_and_connection_leads_get_no_role() -> None:
    mapping = load_mapping("zillow")
    headers = ["Name", "Email", "Phone", "Lead Type"]
    raw = pd.DataFrame(
        [["Ana Prado", "ana@example.com", "", kind] for kind in ("buyer", "Seller", "profile", "connection")],
        columns=headers, index=range(2, 6), dtype=object,
    )  # fmt: skip
    chunk = map_chunk(bind(mapping, headers, headers), raw, site=None)
    assert chunk.leads["role"].tolist() == ["Buyer", "Seller", "", ""]
    assert chunk.problems == {}
    assert chunk.leads["source_details"].str.contains("Zillow lead type: ").all()


def test_yaml_of_every_mapping_is_plain_data() -> None:
    # mapping files are read with safe_load: no tags, anchors used as code, etc.
    for name in SHIPPED:
        assert isinstance(yaml.safe_load((MAPPINGS / f"{name}.yaml").read_text("utf-8")), dict)


def test_the_empty_values_example_of_the_docs_parses() -> None:
    text = (SAMPLE_DATA.parent / "docs" / "mappings.md").read_text(encoding="utf-8")
    section = text.split("## Values that stand for nothing", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    mapping = parse_mapping({"source": "Docs import", **yaml.safe_load(block.group(1))})
    assert [r.note for r in mapping.empty_values] == [True, False]
    assert mapping.empty_values[0].columns == ("E-mail Address", "E-mail {n} Address")
