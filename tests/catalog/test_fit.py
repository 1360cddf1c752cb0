"""A --mapping that does not fit the file stops with exit 2 before anything is planned or sent."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from importer.catalog.fit import check_fit, expected_columns
from importer.cli.main import main
from importer.errors import ConfigError, ExitCode
from importer.mapping.files import load_mapping
from importer.mapping.parse import parse_mapping
from tests.conftest import MAPPINGS

SITE = "7e57c0de-5a4d-4b0c-8000-000000000001"
CORPUS = Path(__file__).parents[1] / "corpus" / "headers"


def invoke(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def write(path: Path, header: list[str], row: list[str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, row])
    return path


def test_plan_with_a_mapping_none_of_whose_columns_is_in_the_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write(tmp_path / "foo.csv", ["foo", "bar"], ["1", "2"])
    code, out, err = invoke(
        capsys, "plan", str(export), "--mapping", "followupboss", "--out", str(tmp_path / "run")
    )
    assert code == ExitCode.USAGE and out == ""
    (line,) = err.splitlines()
    assert str(MAPPINGS / "followupboss.yaml") in line and str(export) in line
    assert "'ID'" in line and "'Email 1' (2, 3, ...)" in line  # what it expects
    assert "'foo', 'bar'" in line  # what the file has
    assert "no mapping recognises" in line and "mappings suggest" in line
    assert not (tmp_path / "run").exists()


def test_the_message_names_the_layout_detection_picks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_env: Any
) -> None:
    # a real HubSpot header (tests/corpus/headers/hubspot__3.csv) run with Pipedrive's mapping
    header = (CORPUS / "hubspot__3.csv").read_text("utf-8").splitlines()[1].split(",")
    export = write(tmp_path / "hubspot.csv", header, ["1", "Ana", "Prado", "ana@example.com"]
                   + [""] * (len(header) - 4))  # fmt: skip
    code, _, err = invoke(
        capsys, "run", str(export), "--mapping", "pipedrive_persons", "--site", SITE, "--yes",
        "--ledger", str(tmp_path / "ledger.sqlite"), "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert code == ExitCode.USAGE
    assert "detection picks 'hubspot'" in err and "--mapping hubspot" in err
    assert sandbox_env.requests_log() == []  # nothing sent
    assert not (tmp_path / "run").exists()


def test_one_key_or_contact_column_is_enough_to_fit() -> None:
    mapping = load_mapping("followupboss")
    check_fit(mapping, ["Something", "email 2"], "f.csv")  # "Email {n}", any case
    check_fit(mapping, ["ID"], "f.csv")
    with pytest.raises(ConfigError):
        check_fit(mapping, ["Stage", "Tags"], "f.csv")  # read, but no contact in them


def test_the_expected_columns_are_the_key_link_and_contact_ones() -> None:
    mapping = parse_mapping({
        "name": "m", "source": "S", "key": ["Ref"],
        "fields": {"first_name": ["Given"], "city": ["Town"],
                   "last_name": {"from": ["Surname"], "fallback": {"from": ["Name"],
                                                                   "transform": "last_name"}}},
        "groups": [{"fields": ["email", "second_email"], "columns": ["Mail {n}"]}],
    })  # fmt: skip
    assert expected_columns(mapping) == ("Ref", "Given", "Surname", "Name", "Mail {n}")
    notes = load_mapping("followupboss_notes")
    assert expected_columns(notes)  # activity files are linked by the lead's key
