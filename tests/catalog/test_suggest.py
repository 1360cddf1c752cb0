"""`rg-import mappings suggest`: person-name columns, a proposed key, no loose
guess on an identity field, and --out into a new folder."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from importer.catalog.suggest import IDENTITY, IDENTITY_MIN, suggest
from importer.cli.main import main
from importer.errors import ExitCode
from importer.mapping.parse import parse_mapping
from importer.outputs.report import shown_json
from importer.plan.plan_file import PlanRequest, plan_file

# Facebook Lead Ads export columns (the leads-center download): id, created_time,
# ad/adset/campaign/form names, platform, then the form's questions.
FACEBOOK = ["id", "created_time", "ad_name", "adset_name", "campaign_name", "form_name",
            "platform", "full_name", "email", "phone_number"]  # fmt: skip
FACEBOOK_ROWS = [
    ["l:101", "2024-01-01T10:00:00+0000", "Ad A", "Mia", "Spring", "Form 1", "fb",
     "Mia Wong", "mia@example.com", "+14155550134"],
    ["l:102", "2024-01-02T11:00:00+0000", "Ad A", "13.7", "Spring", "Form 1", "ig",
     "Li Chen", "li@example.com", "+12125550101"],
]  # fmt: skip


def run_cli(*argv: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return int(exit_info.value.code or 0)


@pytest.mark.parametrize("header", ["Name", "Full Name", "Client Name", "Contact Name",
                                    "customer_name"])  # fmt: skip
def test_a_person_name_column_is_split_into_first_and_last(header: str) -> None:
    found = suggest([header, "Email"], [["Ana Prado", "a@example.com"], ["Li Chen", "l@x.org"]])
    mapping = parse_mapping(yaml.safe_load(found.yaml))
    assert mapping.fields["first_name"].columns == (header,)
    assert mapping.fields["first_name"].transforms[0].name == "first_name"
    assert mapping.fields["last_name"].transforms[0].name == "last_name"
    assert header not in found.unmatched


@pytest.mark.parametrize("header", ["Company Name", "Campaign Name", "Owner Name", "ad_name"])
def test_other_name_columns_are_not_a_person(header: str) -> None:
    found = suggest([header, "Email"], [["Acme", "a@example.com"], ["Bolt", "l@x.org"]])
    assert all(g.column != header or g.target != "full_name" for g in found.guesses)


def test_a_loose_name_match_never_fills_an_identity_field_and_is_asked() -> None:
    found = suggest(FACEBOOK, FACEBOOK_ROWS)
    used = {g.column: g.target for g in found.guesses}
    assert "adset_name" not in used and "ad_name" not in used
    assert all(g.confidence >= IDENTITY_MIN or not g.fuzzy
               for g in found.guesses if g.target in IDENTITY)  # fmt: skip
    assert {(q.column, q.target) for q in found.questions} >= {("adset_name", "last_name")}
    assert "#   adset_name -> last_name? (0.70" in found.yaml
    assert "adset_name" in found.unmatched  # kept in the note, nothing lost
    mapping = parse_mapping(yaml.safe_load(found.yaml))
    assert mapping.fields["last_name"].columns == ("full_name",)  # the real surname


def test_facebook_leads_plan_with_the_surname_and_the_adset_left_to_the_note(
    tmp_path: Path,
) -> None:
    export = tmp_path / "leads.csv"
    with open(export, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([FACEBOOK, *FACEBOOK_ROWS])
    starter = tmp_path / "new" / "folder" / "facebook.yaml"  # folders that do not exist
    assert run_cli("mappings", "suggest", str(export), "--out", str(starter)) == ExitCode.OK
    mapping = parse_mapping(yaml.safe_load(starter.read_text("utf-8")))
    report = shown_json(plan_file(PlanRequest(input=export, mapping=mapping, out=tmp_path / "run")))
    assert report["leads"]["create"] == 2 and report["leads"]["rejected"] == 0
    # the surname comes from the full name; adset_name is read by nothing, so the
    # unmapped note keeps it
    assert mapping.fields["last_name"].columns == ("full_name",)
    assert mapping.unmapped == "note" and "adset_name" not in mapping.referenced_columns()


@pytest.mark.parametrize("id_column", ["URL", "Contact ID", "Lead ID", "Ref"])
def test_a_unique_id_like_column_becomes_the_key(id_column: str) -> None:
    header = ["Client Name", "Email", id_column, "Notes"]
    rows = [["Ana Prado", "a@example.com", "https://x.example/p/1", "hi"],
            ["Li Chen", "l@example.org", "https://x.example/p/2", ""],
            ["Bo Ek", "b@example.net", "https://x.example/p/3", "x"]]  # fmt: skip
    found = suggest(header, rows)
    key = found.best("key")
    assert key is not None and key.column == id_column
    assert parse_mapping(yaml.safe_load(found.yaml)).key_any == (id_column,)


def test_a_column_with_repeated_or_wordy_values_is_not_a_key() -> None:
    header = ["Name", "Email", "Status", "Campaign"]
    rows = [["Ana Prado", "a@example.com", "new", "Spring 2024"],
            ["Li Chen", "l@example.org", "new", "Fall 2024"]]  # fmt: skip
    found = suggest(header, rows)
    assert found.best("key") is None
    assert "No record id found" in found.yaml


def test_suggest_out_into_a_missing_folder_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "x.csv"
    export.write_text("Client Name,Email\nAna Prado,a@example.com\n", "utf-8")
    out = tmp_path / "a" / "b" / "mine.yaml"
    assert run_cli("mappings", "suggest", str(export), "--out", str(out)) == ExitCode.OK
    assert "Wrote" in capsys.readouterr().out and out.is_file()
