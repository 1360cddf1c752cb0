"""plan.csv finds every row: warnings beside rejects, the mapped lead fields, the
activity count, and for an update what changes (issue 12 item 2).

The field columns are checked against the payloads a run builds from the same
rows, over the sample exports of every mapping; updates come from a real run
against the sandbox over loopback HTTP, the file edited, then planned again.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest

from importer.api_contract import LEAD_TEXT_FIELDS
from importer.catalog.detect import choose
from importer.cli.main import main
from importer.mapping.files import load_mapping, read_overrides
from importer.outputs.csv_files import PLAN_COLUMNS, PLAN_FIELDS, csv_lines
from importer.plan.formatted import Formatted
from importer.plan.planner import Planner
from importer.read.headers import unwrap_cell
from importer.read.options import ReadOptions
from importer.read.table import open_table, peek_headers
from tests.conftest import ROOT, SAMPLE_DATA, SITE, load_sample_generator
from tests.plan.test_parallel import plan_with
from tests.plan.test_plan import PEOPLE, plan, read_csv, read_csv_raw, send, write_csv

CATALOG = sorted((SAMPLE_DATA / "catalog").glob("*.csv"))
SAMPLES = [
    p for p in [PEOPLE, SAMPLE_DATA / "followupboss_legacy_cp1252.csv", *CATALOG]
    if not p.name.endswith(".expected.csv")
]  # fmt: skip


def payloads(path: Path, mapping_name: str) -> dict[int, tuple[dict[str, str], int]]:
    """What a run sends per row that is sent: its lead fields and activity count."""
    mapping = load_mapping(mapping_name)
    out: dict[int, tuple[dict[str, str], int]] = {}
    with open_table(path, ReadOptions(**read_overrides(mapping))) as table:
        planner = Planner(
            mapping, table.info.columns, table.info.headers, site=SITE, payloads_needed=True
        )
        for frame in table.chunks():
            for row, p in planner.plan_chunk(frame).plans.items():
                assert p.fields is not None
                out[row] = (p.fields, len(p.activities))
    return out


def fields_of(line: dict[str, str]) -> dict[str, str]:
    """The non-empty lead fields of a plan.csv line, formula guards taken off."""
    return {f: unwrap_cell(line[f]) for f in PLAN_FIELDS if line[f]}


def test_the_columns_are_the_old_ones_then_warnings_fields_activities_and_changes() -> None:
    assert PLAN_COLUMNS[:6] == ("row", "key", "lead_id", "action", "codes", "message")
    assert PLAN_COLUMNS[6:8] == ("warnings", "warning_message")
    assert PLAN_COLUMNS[8:-2] == PLAN_FIELDS == LEAD_TEXT_FIELDS  # the contract's order
    assert PLAN_COLUMNS[-2:] == ("activities", "changes")


@pytest.mark.parametrize("path", SAMPLES, ids=[p.name for p in SAMPLES])
def test_the_fields_are_the_payload_a_run_would_send(path: Path, tmp_path: Path) -> None:
    mapping = choose(peek_headers(path)).name
    plan(path, tmp_path / "plan", mapping=mapping, site=SITE)
    lines = read_csv(tmp_path / "plan" / "plan.csv")
    sent = payloads(path, mapping)
    assert sent, "the sample has rows a run sends"
    for line in lines:
        row = int(line["row"])
        if line["action"] == "reject":
            assert row not in sent
            assert not any(line[f] for f in PLAN_FIELDS) and line["activities"] == "", row
            continue
        fields, activities = sent[row]
        assert fields_of(line) == fields, row
        assert line["activities"] == str(activities), row
        assert line["changes"] == ""  # no ledger: every row is new
    assert {int(line["row"]) for line in lines if line["action"] != "reject"} == set(sent)


def test_real_export_headers_map_names_emails_and_phones_into_their_columns(
    tmp_path: Path,
) -> None:
    # the header of a real HubSpot contacts export: tests/corpus/headers/hubspot__1.csv
    # (its first line names the public repository it was found in)
    header = (ROOT / "tests/corpus/headers/hubspot__1.csv").read_text(encoding="utf-8")
    columns = next(csv.reader(io.StringIO(header.splitlines()[1])))
    cells = dict.fromkeys(columns, "")
    cells.update({
        "Record ID": "51", "First Name": "Zoë", "Last Name": "Ñúñez", "Email": "ZOE@Example.COM",
        "Phone Number": "808-555-0100", "Street Address": "12 Kamehameha Hwy",
        "City": "Honolulu", "State/Region": "HI", "Postal Code": "96815",
    })  # fmt: skip
    write_csv(tmp_path / "hubspot.csv", [cells])
    plan(tmp_path / "hubspot.csv", tmp_path / "plan", mapping="hubspot", site=SITE)
    (line,) = read_csv(tmp_path / "plan" / "plan.csv")
    assert line["action"] == "create", line
    shown = fields_of(line)
    assert (shown["first_name"], shown["last_name"]) == ("Zoë", "Ñúñez")
    assert shown["email"] == "zoe@example.com"
    assert shown["phone"] == "(808) 555-0100"
    assert (shown["street_address"], shown["city"], shown["state"], shown["zip"]) == (
        "12 Kamehameha Hwy", "Honolulu", "HI", "96815",
    )  # fmt: skip


def test_warnings_are_in_their_own_columns_and_codes_keeps_the_reject_codes(
    tmp_path: Path,
) -> None:
    plan(PEOPLE, tmp_path / "plan", site=SITE)
    lines = read_csv(tmp_path / "plan" / "plan.csv")
    expected = read_csv(SAMPLE_DATA / "followupboss_people.expected.csv")
    assert any(e["warnings"] for e in expected) and any(e["codes"] for e in expected)
    for line, want in zip(lines, expected, strict=True):
        assert line["warnings"] == want["warnings"], line["row"]
        assert bool(line["warning_message"]) == bool(want["warnings"]), line["row"]
        assert set(filter(None, line["codes"].split(";"))) == set(
            filter(None, want["codes"].split(";"))
        ), line["row"]
    dropped = [line for line in lines if "dropped_zip" in line["warnings"]]
    assert dropped and all(line["action"] == "create" and not line["zip"] for line in dropped)
    assert "left out" in dropped[0]["warning_message"]


def test_mapped_values_that_look_like_formulas_are_guarded(tmp_path: Path) -> None:
    rows = read_csv_raw(PEOPLE)[:1]
    rows[0].update({
        "First Name": '=HYPERLINK("http://evil.example","click")', "Last Name": "-Smith",
        "Address 1 - City": "@SUM(A1)", "Address 1 - Street": "+1 808 555 0100 Kam Hwy",
        "Phone 1": "+44 20 7946 0958", "Address 1 - Country": "United Kingdom",
    })  # fmt: skip
    write_csv(tmp_path / "formulas.csv", rows)
    plan(tmp_path / "formulas.csv", tmp_path / "plan", site=SITE)
    path = tmp_path / "plan" / "plan.csv"
    (line,) = read_csv(path)
    assert line["first_name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert line["last_name"] == "'-Smith"
    assert line["city"] == "'@SUM(A1)"
    assert line["street_address"] == "'+1 808 555 0100 Kam Hwy"
    assert line["phone"] == "'+44 20 7946 0958"
    for name in PLAN_COLUMNS:  # no cell of the file starts like a formula
        assert not line[name].startswith(("=", "+", "-", "@")), name
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_plan_csv_given_as_input_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan(PEOPLE, tmp_path / "plan", site=SITE)
    given = str(tmp_path / "plan" / "plan.csv")
    # with its lead fields, a plan would fit the generic mapping: refused, whatever the mapping
    for extra in (["-m", "generic"], []):
        with pytest.raises(SystemExit) as done:
            main(["plan", given, *extra, "--out", str(tmp_path / "again"), "--quiet"])
        err = capsys.readouterr().err
        assert done.value.code == 2, err
        assert "plan.csv that rg-import plan wrote" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "again").exists()


def test_csv_lines_write_what_the_csv_writer_writes() -> None:
    cells = ["", "a", "a,b", 'say "hi"', "two\nlines", "cr\r", "=1+2", "'=x", "-", " +1", "ü"]
    columns = [cells, list(reversed(cells)), ["x"] * len(cells)]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(
        zip(*([guarded(c) for c in col] for col in columns), strict=True)
    )
    assert "".join(csv_lines(*columns)) == out.getvalue()
    assert csv_lines([""]) == ['""\r\n']  # a lone empty cell is quoted, as the writer does


def guarded(value: str) -> str:
    """``neutralise``, written out: what the CSV should hold for ``value``."""
    return "'" + value if value.lstrip("'").startswith(("=", "+", "-", "@", "\t", "\r")) else value


# --------------------------------------------------------------------------- with a ledger


@pytest.fixture()
def sent_people(tmp_path: Path, sandbox: Any) -> dict[str, Any]:
    """The people sample sent to the sandbox once, and its plan before sending."""
    ledger = tmp_path / "ledger.sqlite"
    plan(PEOPLE, tmp_path / "before", site=SITE)
    report = send(sandbox, PEOPLE, ledger, tmp_path / "run")
    assert report["leads"]["created"] == 47
    before = {line["row"]: line for line in read_csv(tmp_path / "before" / "plan.csv")}
    return {"ledger": ledger, "before": before}


def test_an_edited_row_shows_its_changes_and_unchanged_rows_what_they_were_sent_as(
    tmp_path: Path, sent_people: dict[str, Any]
) -> None:
    rows = read_csv_raw(PEOPLE)
    for row in rows:
        if row["ID"] == "48229":  # James Shah: a new phone, the email emptied
            row["Phone 1"], row["Email 1"] = "(201) 555-0199", ""
        if row["ID"] == "48269":  # a new note only
            row["Notes"] = "Wants a garden."
    write_csv(tmp_path / "edited.csv", rows)
    plan(tmp_path / "edited.csv", tmp_path / "plan", site=SITE, ledger=sent_people["ledger"])
    planned = read_csv(tmp_path / "plan" / "plan.csv")
    # (a key repeated by a rejected duplicate row keeps the line of the row sent)
    lines = {line["key"]: line for line in reversed(planned)}

    james = lines["48229"]
    assert james["action"] == "update"
    assert james["changes"] == (
        "email: james.shah@example.net → (empty); phone: (201) 555-0138 → (201) 555-0199"
    )
    assert james["email"] == "" and james["phone"] == "(201) 555-0199"
    # the default update API (v1) cannot empty a field: the warning says so on the same line
    assert "not_cleared" in james["warnings"]
    assert lines["48269"]["action"] == "update"
    assert lines["48269"]["changes"] == "activities: 1 to send"

    before = sent_people["before"]
    unchanged = [line for line in planned if line["action"] == "unchanged"]
    assert len(unchanged) == 45
    for line in unchanged:
        # never mapped (recognised by their bytes): shown as the ledger says they were sent
        assert fields_of(line) == fields_of(before[line["row"]]), line["row"]
        assert line["activities"] == before[line["row"]]["activities"], line["row"]
        assert line["changes"] == ""


def test_an_update_that_empties_a_field_with_v2_shows_it_cleared(
    tmp_path: Path, sent_people: dict[str, Any]
) -> None:
    rows = read_csv_raw(PEOPLE)
    for row in rows:
        if row["ID"] == "48229":
            row["Address 1 - City"] = ""
    write_csv(tmp_path / "edited.csv", rows)
    plan(
        tmp_path / "edited.csv", tmp_path / "plan", site=SITE, ledger=sent_people["ledger"],
        update_api="v2",
    )  # fmt: skip
    (james,) = [line for line in read_csv(tmp_path / "plan" / "plan.csv") if line["key"] == "48229"]
    assert james["action"] == "update" and james["warnings"] == ""
    assert james["changes"] == "city: Hoboken → (empty)"


# --------------------------------------------------------------------------- checked on several cores


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_lines_redone_after_the_duplicates_across_the_file_keep_or_empty_their_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "people.csv"
    # three pieces of over 5,000 rows: two checked in children (see importer.plan.parallel)
    load_sample_generator().write_fub_people(path, 16_000, seed=5, dirty_share=0.0)
    rows = read_csv_raw(path)
    again = dict(rows[0])  # the first person again, two chunks later: a duplicate key
    other = dict(rows[1], ID="999999")  # the second one's email under another key
    write_csv(path, [*rows, again, other])

    one = plan_with(path, tmp_path / "one", processes=1)
    redone: list[int] = []
    replace = Formatted.replace_plan_lines

    def spy(self: Formatted, lines: dict[int, str]) -> None:
        redone.append(len(lines))
        replace(self, lines)

    monkeypatch.setattr(Formatted, "replace_plan_lines", spy)
    two = plan_with(path, tmp_path / "two", processes=2)
    assert redone == [2]  # both rows were in a piece a child had formatted
    assert (tmp_path / "one" / "plan.csv").read_bytes() == (
        tmp_path / "two" / "plan.csv"
    ).read_bytes()
    assert one["leads"] == two["leads"]
    *_, duplicate, shared = read_csv(tmp_path / "two" / "plan.csv")
    assert duplicate["action"] == "reject" and duplicate["codes"] == "duplicate_key"
    assert not any(duplicate[f] for f in PLAN_FIELDS) and duplicate["activities"] == ""
    assert shared["action"] == "create" and shared["warnings"] == "shared_email"
    assert shared["email"] == rows[1]["Email 1"].lower() and shared["activities"] != ""
