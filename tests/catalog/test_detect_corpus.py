"""Detection on real export headers found in public code, and how ties are told.

Each file under tests/corpus/headers/ holds one header line of a real export
(or an exporter/importer that writes the vendor's layout), its public source on
the comment line above it; the file name says the layout it must be detected as
(``hubspot__2.csv`` → hubspot). Detection must pick that layout and no other:
clearly ahead of any other match, so `plan` needs no --mapping.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from importer.catalog.detect import CLEAR_LEAD, choose, clear_winner, detect, load_catalog
from importer.cli.main import main
from importer.errors import ConfigError, ExitCode
from importer.mapping.parse import parse_mapping
from tests.conftest import MAPPINGS

CORPUS = Path(__file__).parents[1] / "corpus" / "headers"
SAMPLES = sorted(CORPUS.glob("*.csv"))

# Shipped layouts for which no real header was found in public code or docs
# (searched by their distinctive columns and by vendor name); their
# fingerprints are covered by the generated samples in sample_data/ only.
NO_PUBLIC_HEADER = {"boomtown", "followupboss_notes", "home_valuations", "lofty"}
# Layouts with one real header only: no second independent source was found.
ONE_PUBLIC_HEADER = {"sierra"}


def corpus_header(path: Path) -> list[str]:
    lines = [line for line in path.read_text("utf-8").splitlines() if not line.startswith("#")]
    return next(csv.reader([lines[0]]))


def shipped() -> list:
    return load_catalog(sorted(MAPPINGS.glob("*.yaml")))[0]


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_a_real_header_is_detected_as_its_own_layout_only(sample: Path) -> None:
    assert sample.read_text("utf-8").startswith("# "), "every sample cites its source"
    layout = sample.stem.split("__")[0]
    matches = detect(corpus_header(sample), shipped())
    winner = clear_winner(matches)
    assert winner is not None and winner.name == layout, [
        (m.name, m.specificity, m.evidence) for m in matches
    ]
    assert choose(corpus_header(sample), shipped()).name == layout


def test_every_shipped_layout_has_real_headers_or_is_listed_as_having_none() -> None:
    layouts = {m.name for m in shipped() if m.detect.require_all or m.detect.require_any
               or m.detect.prefix_any}  # fmt: skip
    sampled = {p.stem.split("__")[0] for p in SAMPLES}
    assert layouts - sampled == NO_PUBLIC_HEADER
    counts = {name: sum(p.stem.startswith(name + "__") for p in SAMPLES) for name in sampled}
    assert {name for name, n in counts.items() if n < 2} == ONE_PUBLIC_HEADER


def test_a_real_hubspot_export_with_record_id_and_industry_is_not_zoho() -> None:
    # the case that stopped `plan` with exit 2: "Record ID" and "Industry" both
    # satisfied the Zoho fingerprint
    header = corpus_header(CORPUS / "hubspot__2.csv")
    assert "Industry" in header and "Record ID" in header
    assert [m.name for m in detect(header, shipped())] == ["hubspot"]


def test_the_more_specific_fingerprint_wins_over_a_generic_one() -> None:
    generic = parse_mapping({"name": "names_only", "source": "G",
                             "detect": {"require_all": ["First Name", "Last Name"]}})  # fmt: skip
    specific = parse_mapping({"name": "crm_x", "source": "X",
                              "detect": {"require_all": ["First Name", "Last Name"],
                                         "require_any": ["X Score", "X Stage"]}})  # fmt: skip
    header = ["First Name", "Last Name", "Email", "X Score", "X Stage"]
    matches = detect(header, [generic, specific])
    assert [m.name for m in matches] == ["crm_x", "names_only"]
    # the names are named by both fingerprints (1/2 each), X Score and X Stage by one
    assert [m.specificity for m in matches] == [3.0, 1.0]
    assert matches[0].specificity - matches[1].specificity >= CLEAR_LEAD
    assert choose(header, [generic, specific]).name == "crm_x"


def test_a_true_tie_stops_naming_the_candidates_and_how_to_choose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # two local mappings with the same evidence: nothing in the header tells them apart
    local = tmp_path / "mappings"
    local.mkdir()
    for name in ("crm_one", "crm_two"):
        (local / f"{name}.yaml").write_text(
            f"name: {name}\nsource: {name} import\n"
            "detect: {require_all: [Ticket No], require_any: [Queue Name]}\n"
            "key: [Ticket No]\nfields: {first_name: [Given]}\n",
            "utf-8",
        )
    export = tmp_path / "export.csv"
    export.write_text("Ticket No,Queue Name,Given,Email\n1,A,Ana,ana@example.com\n", "utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        choose(["Ticket No", "Queue Name", "Given"])
    assert "crm_one" in str(error.value) and "crm_two" in str(error.value)
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(export), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "crm_one" in err and "crm_two" in err
    assert "--mapping crm_one" in err and "'Queue Name'" in err
    assert not (tmp_path / "run").exists()


def test_plan_of_a_real_hubspot_header_needs_no_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header = corpus_header(CORPUS / "hubspot__2.csv")
    row = {h: "" for h in header}
    row.update({"Record ID": "901", "First Name": "Ana", "Last Name": "Prado",
                "Email": "ana.prado@example.com", "City": "Boston", "Industry": "Retail"})  # fmt: skip
    export = tmp_path / "hubspot.csv"
    with open(export, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerow(row)
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(export), "--out", str(tmp_path / "run")])
    _, err = capsys.readouterr()
    assert exit_info.value.code == ExitCode.OK, err
    assert "hubspot" in err


def contact_value(column: str) -> str:
    """A plausible contact value for a real header's column, by what its name says."""
    name = column.casefold()
    if any(word in name for word in ("optin", "verif", "count", "spouse", "agent", "recipient")):
        return ""  # about the contact, not the contact: leave it empty
    if "email" in name and "last" not in name:
        return "ana.prado@example.com"
    if "phone" in name and not name.endswith(" on"):
        return "(808) 555-0134"
    if name.endswith("first_name") or name == "first name":
        return "Ana"
    if name.endswith("last_name") or name == "last name":
        return "Prado"
    if name in ("name", "full name", "lead.lead_info.lead_consumer_info.full_name"):
        return "Ana Prado"
    return ""


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_a_contact_under_a_real_header_is_planned_not_rejected(
    sample: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Detection alone is not enough: the detected mapping must also read the real
    # columns (a Zillow file once detected, then had every row rejected missing_key).
    header = corpus_header(sample)
    export = tmp_path / f"{sample.stem}.csv"
    with open(export, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerow([contact_value(column) for column in header])
    with pytest.raises(SystemExit) as exit_info:
        main(["plan", str(export), "--out", str(tmp_path / "run"), "--json", "--quiet"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == ExitCode.OK, err + out
