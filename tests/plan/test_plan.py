"""``rg-import plan``: every input row gets exactly one planned outcome, and rejects feed back.

The sample files carry their expected outcome per row (``*.expected.csv``), so
these tests compare the plan with them row by row. History comes from a real
run against the sandbox over loopback HTTP.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import stat
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from importer.cli.main import main
from importer.config import Credentials
from importer.mapping.apply import lead_id_for
from importer.mapping.files import load_mapping
from importer.outputs.csv_files import neutralise
from importer.outputs.report import shown_json
from importer.plan.plan_file import PlanRequest, plan_file
from importer.plan.planner import Planner
from importer.read.table import open_table
from importer.send.run import RunRequest, run_file
from tests.conftest import SAMPLE_DATA, SITE

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"
LEGACY = SAMPLE_DATA / "followupboss_legacy_cp1252.csv"
NOTES = SAMPLE_DATA / "followupboss_notes.csv"
SOURCE = "Follow Up Boss import"


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV we wrote (UTF-8 with BOM), cells exactly as in the file."""
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


def plan_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``rg-import plan ...`` in-process; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main(["plan", *args])
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def plan(input_path: Path, out: Path, mapping: str = "followupboss", **kw: Any) -> dict[str, Any]:
    return shown_json(
        plan_file(PlanRequest(input=input_path, mapping=load_mapping(mapping), out=out, **kw))
    )


def send(sandbox: Any, input_path: Path, ledger: Path, out: Path) -> dict[str, Any]:
    """A real ``run`` of a file against the sandbox; returns its report."""
    return shown_json(
        run_file(
            RunRequest(
                input=input_path,
                mapping=load_mapping("followupboss"),
                site=SITE,
                base_url=sandbox.url,
                credentials=Credentials("sandbox", "sandbox"),
                ledger=ledger,
                out=out,
            )
        )
    )


# --------------------------------------------------------------------------- the people sample


@pytest.fixture(scope="module")
def people_plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("people") / "run"
    with pytest.raises(SystemExit) as done:
        main(["plan", str(PEOPLE), "--mapping", "followupboss", "--out", str(out),
              "--site", SITE, "--quiet", "--json"])  # fmt: skip
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return {
        "code": done.value.code,
        "out": out,
        "report": report,
        "plan": read_csv(out / "plan.csv"),
        "rejects": read_csv(out / "rejects.csv"),
        "expected": read_csv(SAMPLE_DATA / "followupboss_people.expected.csv"),
    }


def test_people_sample_exits_3_with_one_plan_row_per_input_row(people_plan: dict[str, Any]) -> None:
    report = people_plan["report"]
    rows = len(people_plan["expected"])
    assert people_plan["code"] == 3 == report["exit_code"]
    assert report["input"]["rows"] == rows == 56
    assert len(people_plan["plan"]) == rows
    assert [int(r["row"]) for r in people_plan["plan"]] == list(range(2, rows + 2))
    leads = report["leads"]
    # 12 before issue 10: a bad phone on a row with an email no longer rejects it
    assert len(people_plan["rejects"]) == leads["rejected"] == 9
    assert leads["create"] + leads["rejected"] == rows
    assert leads["update"] == leads["unchanged"] == 0


def test_every_row_gets_its_expected_action_codes_and_key(people_plan: dict[str, Any]) -> None:
    for got, want in zip(people_plan["plan"], people_plan["expected"], strict=True):
        case = f"row {want['row']} ({want['case']})"
        assert got["row"] == want["row"], case
        assert got["key"] == want["key"], case
        assert got["action"] == want["action"], case
        assert set(filter(None, got["codes"].split(";"))) == set(
            filter(None, want["codes"].split(";"))
        ), case
        assert got["lead_id"] == lead_id_for(SITE, SOURCE, want["key"]), case
        assert bool(got["message"]) == (want["action"] == "reject"), case


def test_warnings_of_the_expected_file_are_in_the_report(people_plan: dict[str, Any]) -> None:
    expected = [
        (int(r["row"]), code)
        for r in people_plan["expected"]
        for code in filter(None, r["warnings"].split(";"))
    ]
    warnings = people_plan["report"]["warnings"]
    assert expected, "the sample has rows with warnings"
    assert warnings["by_code"] == dict(Counter(code for _, code in expected))
    assert warnings["total"] == len(expected)
    assert sorted((w["row"], w["code"]) for w in warnings["examples"]) == sorted(expected)


def test_rejects_keep_the_original_cells_and_say_why(people_plan: dict[str, Any]) -> None:
    rejects = people_plan["rejects"]
    headers = headers_of(PEOPLE)
    assert list(rejects[0]) == [*headers, "_row", "_stage", "_code", "_message"]
    expected = {r["row"]: r for r in people_plan["expected"] if r["action"] == "reject"}
    assert [r["_row"] for r in rejects] == list(expected)
    with open_table(PEOPLE) as table:
        source = next(table.chunks())
    for reject in rejects:
        want = expected[reject["_row"]]
        assert reject["_stage"] == "validate"
        assert set(reject["_code"].split(";")) == set(want["codes"].split(";"))
        original = [str(c) for c in source.loc[int(reject["_row"])]]
        assert [reject[h] for h in headers] == [neutralise(c) for c in original]
    both = next(r for r in rejects if r["_row"] == "31")  # invalid_email_and_phone
    assert "email" in both["_message"].lower() and "phone" in both["_message"].lower()
    assert "\n" not in both["_message"]


def test_output_files_are_private(people_plan: dict[str, Any]) -> None:
    out: Path = people_plan["out"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for name in ("plan.csv", "rejects.csv", "report.json"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600, name
        if name.endswith(".csv"):
            assert (out / name).read_bytes().startswith(b"\xef\xbb\xbf"), name


# --------------------------------------------------------------------------- the legacy sample


def test_legacy_cp1252_sample_plans_without_rejects(tmp_path: Path) -> None:
    report = plan(LEGACY, tmp_path / "run", site=SITE)
    expected = read_csv(SAMPLE_DATA / "followupboss_legacy_cp1252.expected.csv")
    assert report["exit_code"] == 0
    assert report["input"]["encoding"] == "cp1252" and report["input"]["delimiter"] == ";"
    assert report["leads"] == {"create": len(expected), "update": 0, "unchanged": 0, "rejected": 0}
    assert report["rejects_file"] is None and not (tmp_path / "run" / "rejects.csv").exists()
    planned = read_csv(tmp_path / "run" / "plan.csv")
    assert [(r["row"], r["key"], r["action"]) for r in planned] == [
        (r["row"], r["key"], r["action"]) for r in expected
    ]


def test_legacy_accents_survive_into_the_payloads() -> None:
    mapping = load_mapping("followupboss")
    with open_table(LEGACY) as table:
        planner = Planner(
            mapping, table.info.columns, table.info.headers, site=SITE, payloads_needed=True
        )
        planned = planner.plan_chunk(next(table.chunks()))
    names = {p.fields["first_name"] for p in planned.plans.values() if p.fields}
    assert {"José", "Zoë", "François"} <= names
    notes = [a["description"] for p in planned.plans.values() for _, a in p.activities]
    assert any("€" in n for n in notes) and any("\u201c" in n or "\u2019" in n for n in notes)


# --------------------------------------------------------------------------- rejects fed back


# A valid value for each kind of bad value; the message names the column it is in.
GOOD_VALUES = {
    "is not a valid email address": "fixed.email@example.com",
    "is not a valid phone number": "(415) 555-0150",
    "is not a date and time": "2024-02-01 10:00:00",
}


def fix(row: dict[str, str], headers: list[str]) -> dict[str, str]:
    """The reject row with its bad cells replaced; duplicate_key rows are left as they are."""
    fixed = dict(row)
    for part in row["_message"].split("; "):
        column = next((h for h in headers if part.startswith(f"{h} '")), None)
        value = next((v for words, v in GOOD_VALUES.items() if words in part), None)
        if column and value:
            fixed[column] = value
    if "missing_contact" in row["_code"].split(";"):
        fixed["Email 1"] = f"found.later.{row['ID']}@example.org"
    return fixed


def headers_of(path: Path) -> list[str]:
    with open_table(path) as table:
        return table.info.headers


def test_fixed_rejects_plan_clean_with_the_same_lead_ids(tmp_path: Path) -> None:
    first = plan(PEOPLE, tmp_path / "first", site=SITE)
    original = {r["row"]: r for r in read_csv(tmp_path / "first" / "plan.csv")}
    rejects = read_csv(Path(first["rejects_file"]))
    fixed = [fix(row, headers_of(PEOPLE)) for row in rejects]
    untouched = [r["_row"] for f, r in zip(fixed, rejects, strict=True) if f == r]
    assert untouched == [r["_row"] for r in rejects if r["_code"] == "duplicate_key"]
    write_csv(tmp_path / "fixed.csv", fixed)

    again = plan(tmp_path / "fixed.csv", tmp_path / "again", site=SITE)
    replanned = read_csv(tmp_path / "again" / "plan.csv")
    assert len(replanned) == len(rejects)
    # Every duplicate fed back with its key unchanged stays a duplicate (its
    # _code and _message say so), even without a ledger and without the kept row.
    expected_duplicates = [r["_row"] for r in rejects if "duplicate_key" in r["_code"].split(";")]
    assert expected_duplicates, "the sample has duplicate ids among its rejects"
    old_rows = [r["_row"] for r in rejects]
    still = [
        (old, r["codes"])
        for old, r in zip(old_rows, replanned, strict=True)
        if r["action"] == "reject"
    ]
    assert still == [(row, "duplicate_key") for row in expected_duplicates]
    assert again["leads"]["rejected"] == len(expected_duplicates)
    # every row keeps its key, so its lead id, whatever its row number now
    for old_row, new in zip(old_rows, replanned, strict=True):
        assert new["key"] == original[old_row]["key"]
        assert (
            new["lead_id"] == original[old_row]["lead_id"] == lead_id_for(SITE, SOURCE, new["key"])
        )


def test_formula_cells_are_guarded_in_rejects_and_read_back_as_they_were(tmp_path: Path) -> None:
    cells = {"Formula": "=1+1", "Phone 1": "+1 (415) 555-0134", "Handle": "@x", "Delta": "-5"}
    source = tmp_path / "people.csv"
    write_csv(
        source,
        [
            {"ID": "1", "First Name": "Ana", "Email 1": "not-an-email", **cells},
            {"ID": "2", "First Name": "Bo", "Email 1": "bo@example.com", **cells},
        ],
    )
    report = plan(source, tmp_path / "first", site=SITE)
    assert report["leads"]["rejected"] == 1
    raw = Path(report["rejects_file"]).read_text(encoding="utf-8-sig")
    data_line = raw.splitlines()[1]
    for value in cells.values():
        assert f"'{value}" in data_line or f'"\'{value}"' in data_line
    written = read_csv(Path(report["rejects_file"]))[0]
    assert {k: written[k] for k in cells} == {k: "'" + v for k, v in cells.items()}

    # the reader takes exactly the guard off again
    with open_table(Path(report["rejects_file"])) as table:
        back = next(table.chunks())
    assert {k: back[k].iloc[0] for k in cells} == cells

    # ...so the same row, fixed and planned again, sends the values it had
    written["Email 1"] = "ana@example.com"
    write_csv(tmp_path / "fixed.csv", [written])
    mapping = load_mapping("followupboss")
    with open_table(tmp_path / "fixed.csv") as table:
        planner = Planner(
            mapping, table.info.columns, table.info.headers, site=SITE, payloads_needed=True
        )
        planned = planner.plan_chunk(next(table.chunks()))
    (row_plan,) = planned.plans.values()
    assert row_plan.fields is not None and row_plan.fields["phone"] == "(415) 555-0134"
    note = next(
        a["description"] for _, a in row_plan.activities if "Other details" in a["description"]
    )
    assert {"Formula: =1+1", "Handle: @x", "Delta: -5"} <= set(note.splitlines())
    # a reject written again is guarded once, not twice
    again = plan(tmp_path / "fixed.csv", tmp_path / "again", site=SITE)
    assert again["leads"] == {"create": 1, "update": 0, "unchanged": 0, "rejected": 0}


# --------------------------------------------------------------------------- plans with history


def test_plan_with_a_ledger_shows_updates_and_unchanged_rows(
    tmp_path: Path, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    sent = send(sandbox, PEOPLE, ledger, tmp_path / "run")
    assert sent["leads"]["created"] == 47 and sent["leads"]["rejected"] == 9

    rows = read_csv_raw(PEOPLE)
    changed_ids = {"48229", "48269"}
    for row in rows:
        if row["ID"] == "48229":
            row["First Name"] = "Jim"  # a lead field changes
        if row["ID"] == "48269":
            row["Notes"] = "Wants a garden."  # a new note activity
    write_csv(tmp_path / "people.csv", rows)

    code, out, _err = plan_cli(
        capsys, str(tmp_path / "people.csv"), "-m", "followupboss", "--site", SITE,
        "--ledger", str(ledger), "--out", str(tmp_path / "plan"),
    )  # fmt: skip
    assert code == 3  # the rejected rows are still rejected
    assert "update" in out and "unchanged" in out
    planned = read_csv(tmp_path / "plan" / "plan.csv")
    expected = {r["row"]: r for r in read_csv(SAMPLE_DATA / "followupboss_people.expected.csv")}
    for row in planned:
        want = expected[row["row"]]
        if want["action"] == "reject":
            assert row["action"] == "reject"
        elif row["key"] in changed_ids:
            assert row["action"] == "update", row
        else:
            assert row["action"] == "unchanged", row
    report = json.loads((tmp_path / "plan" / "report.json").read_text(encoding="utf-8"))
    assert report["leads"] == {"create": 0, "update": 2, "unchanged": 45, "rejected": 9}

    # the notes file finds its people through the same ledger
    notes = plan(NOTES, tmp_path / "notes", mapping="followupboss_notes", site=SITE, ledger=ledger)
    outcomes = [
        (r["row"], r["key"], r["action"], r["codes"])
        for r in read_csv(tmp_path / "notes" / "plan.csv")
    ]
    expected_outcomes = [
        (r["row"], r["key"], r["action"], r["codes"])
        for r in read_csv(SAMPLE_DATA / "followupboss_notes.expected.csv")
    ]
    assert outcomes == expected_outcomes
    assert notes["leads"]["rejected"] == sum(1 for r in expected_outcomes if r[2] == "reject")


def read_csv_raw(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_a_plan_with_a_ledger_but_no_site_or_no_ledger_file_stops(tmp_path: Path) -> None:
    from importer.errors import ConfigError

    with pytest.raises(ConfigError, match="does not exist"):
        plan(PEOPLE, tmp_path / "a", site=SITE, ledger=tmp_path / "none.sqlite")
    ledger = tmp_path / "ledger.sqlite"
    from importer.ledger.ledger import Ledger

    Ledger(ledger, run_id="t").close()
    with pytest.raises(ConfigError, match="--ledger needs --site"):
        plan(PEOPLE, tmp_path / "b", ledger=ledger)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- what the command prints


def test_progress_on_a_non_terminal_is_one_plain_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = plan_cli(
        capsys, str(LEGACY), "-m", "followupboss", "--out", str(tmp_path / "r")
    )
    assert code == 0
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Planning: ")
    assert "\r" not in err and "\x1b" not in err
    assert "create=8" in lines[0] and "reject=0" in lines[0]
    assert "Planned 8 rows" in out and "(no --site given: lead ids are left blank)" in out
    assert all(r["lead_id"] == "" for r in read_csv(tmp_path / "r" / "plan.csv"))


def test_quiet_prints_no_progress_and_json_prints_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = plan_cli(
        capsys, str(LEGACY), "-m", "followupboss", "--out", str(tmp_path / "r"), "-q", "--json"
    )
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["out_dir"] == str(tmp_path / "r")
    assert report == {
        **json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8")),
        "out_dir": str(tmp_path / "r"),
    }


def test_without_out_the_run_directory_is_made_under_rg_import_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(LEGACY, tmp_path / "legacy.csv")
    report = shown_json(
        plan_file(PlanRequest(input=Path("legacy.csv"), mapping=load_mapping("followupboss")))
    )
    out = Path(report["out_dir"])
    assert out.parent == Path("rg-import-runs") and out.name == report["run_id"]
    assert (tmp_path / out / "plan.csv").exists()
