"""Acceptance tests of ``rg-import run`` against the sandbox over real loopback HTTP.

Nothing is mocked: every run goes through the library (``run_file``) or the
click command in-process, the real client, and a sandbox on 127.0.0.1. The
tests read back what the sandbox stored and received, the ledger, the report
and the output files, and hold the run to its promises: the first run creates
exactly the valid rows, a re-run sends nothing, a changed row sends only what
changed, fixed rejects and activity files land on the right leads, and exit
codes and file modes are right. Fault, crash and signal tests live in
``test_run_faults.py`` and ``test_run_crash.py``; they share the helpers here.
"""

from __future__ import annotations

import csv
import io
import stat
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from importer.cli.main import main
from importer.config import Credentials
from importer.ledger.ledger import Ledger
from importer.mapping.apply import lead_id_for
from importer.mapping.files import load_mapping
from importer.outputs.csv_files import RESULT_COLUMNS
from importer.outputs.report import RunResult, shown_json
from importer.plan.plan_file import PlanRequest, plan_file
from importer.plan.planner import Planner
from importer.read.options import ReadOptions
from importer.read.table import open_table
from importer.sandbox.runner import Sandbox, start_sandbox
from importer.send.client_settings import ClientSettings
from importer.send.run import LEAD_RESULTS, RunRequest, run_file
from tests.conftest import SAMPLE_DATA, SITE, load_sample_generator

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"
PEOPLE_EXPECTED = SAMPLE_DATA / "followupboss_people.expected.csv"
NOTES = SAMPLE_DATA / "followupboss_notes.csv"
NOTES_EXPECTED = SAMPLE_DATA / "followupboss_notes.expected.csv"
VALUATIONS = SAMPLE_DATA / "home_valuations.csv"
FUB_SOURCE = "Follow Up Boss import"
VALUATION_SOURCE = "Home valuation import"
SANDBOX_LOGIN = Credentials("sandbox", "sandbox")
CONTACT_FIELDS = (
    "email", "second_email", "first_name", "last_name", "phone", "phone2",
    "address", "street_address", "city", "state",
)  # fmt: skip


# --------------------------------------------------------------------------- helpers


def write_people(path: Path, rows: int, *, seed: int, dirty_share: float = 0.0) -> Path:
    """A generated Follow Up Boss people export of ``rows`` rows."""
    load_sample_generator().write_fub_people(path, rows, seed=seed, dirty_share=dirty_share)
    return path


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV written by the tool or the generator (BOM tolerated)."""
    text = path.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    return header, [dict(zip(header, row, strict=True)) for row in reader]


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([[row[h] for h in header] for row in rows])
    return path


def new_out(tmp_path: Path) -> Path:
    return tmp_path / f"out-{uuid.uuid4().hex[:8]}"


def run_result(
    sandbox: Sandbox,
    input_path: Path,
    ledger: Path,
    out: Path,
    *,
    mapping: str = "followupboss",
    credentials: Credentials = SANDBOX_LOGIN,
    workers: int = 4,
    activities_at_most_once: bool = False,
    max_consecutive_failures: int = 10,
    chunk_rows: int | None = None,
    send_processes: int = 1,
    **settings: Any,
) -> RunResult:
    """One ``run_file`` against ``sandbox``; ``settings`` are ClientSettings fields."""
    settings.setdefault("read_timeout", 5.0)
    settings.setdefault("base_url", sandbox.url)
    read_options = ReadOptions(chunk_rows=chunk_rows) if chunk_rows else None
    request = RunRequest(
        input=input_path, mapping=load_mapping(mapping), site=SITE, base_url=settings["base_url"],
        credentials=credentials, ledger=ledger, out=out, workers=workers,
        activities_at_most_once=activities_at_most_once,
        max_consecutive_failures=max_consecutive_failures, read_options=read_options,
        client_settings=ClientSettings(pool_size=max(workers, 4), **settings),
        send_processes=send_processes,
    )  # fmt: skip
    return run_file(request)


def run(sandbox: Sandbox, input_path: Path, ledger: Path, out: Path, **kw: Any) -> dict[str, Any]:
    """``run_result``'s report (report.json's data, and where it was written)."""
    return shown_json(run_result(sandbox, input_path, ledger, out, **kw))


def assert_invariant(report: dict[str, Any]) -> None:
    """Every input row ended in exactly one result, and results.csv lists it there.

    results.csv has one line per row, in input order, and as many lines per
    outcome as report.json counts.
    """
    leads = report["leads"]
    assert report["input"]["rows"] == sum(leads[k] for k in LEAD_RESULTS), leads
    assert report["invariant_holds"] is True
    results = read_results(report)
    rows = [int(r["row"]) for r in results]
    assert rows == sorted(set(rows))
    assert Counter(r["outcome"] for r in results) == +Counter(leads)


def read_results(report: dict[str, Any]) -> list[dict[str, str]]:
    """The lines of a run's results.csv (none when the input had no rows)."""
    if report["results_file"] is None:
        assert report["input"]["rows"] == 0
        return []
    header, rows = read_csv(Path(report["results_file"]))
    assert tuple(header) == RESULT_COLUMNS
    return rows


def plan_of(input_path: Path, mapping: str, out: Path) -> dict[int, dict[str, str]]:
    """The dry-run plan of a file without history: spreadsheet row -> plan.csv row."""
    report = shown_json(
        plan_file(PlanRequest(input=input_path, mapping=load_mapping(mapping), site=SITE, out=out))
    )
    _, rows = read_csv(Path(report["plan_file"]))
    return {int(r["row"]): r for r in rows}


def planned_payloads(path: Path, mapping: str = "followupboss") -> dict[str, dict[str, Any]]:
    """What a first run must send for each valid row: lead id -> request body, per the planner."""
    bodies: dict[str, dict[str, Any]] = {}
    with open_table(path, ReadOptions()) as table:
        planner = Planner(load_mapping(mapping), table.info.columns, table.info.headers,
                          site=SITE, payloads_needed=True)  # fmt: skip
        for frame in table.chunks():
            for plan in planner.plan_chunk(frame).plans.values():
                bodies[plan.lead_id] = {"id": plan.lead_id, **(plan.fields or {})}
                if plan.activities:
                    bodies[plan.lead_id]["activities"] = [a for _, a in plan.activities]
    return bodies


def leads_by_id(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {lead["id"]: lead for lead in sandbox.leads(SITE)}


def ledger_counts(path: Path) -> dict[str, dict[str, int]]:
    with Ledger(path, run_id="t", readonly=True) as book:
        return book.counts()


def ledger_records(path: Path) -> dict[str, Any]:
    with Ledger(path, run_id="t", readonly=True) as book:
        return {r.key: r for r in book.iter_leads()}


def log_since(sandbox: Sandbox, mark: int) -> list[dict[str, Any]]:
    """The API requests the sandbox received after the first ``mark`` ones."""
    return sandbox.requests_log()[mark:]


def expected_people() -> dict[int, dict[str, str]]:
    return {int(r["row"]): r for r in read_csv(PEOPLE_EXPECTED)[1]}


def people_rows() -> dict[int, dict[str, str]]:
    """The committed people file by spreadsheet row (header = row 1)."""
    return dict(enumerate(read_csv(PEOPLE)[1], start=2))


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def us_phone(raw: str) -> str:
    """How the import writes a US number: ``(415) 555-0134``."""
    d = digits(raw)[-10:]
    return f"({d[:3]}) {d[3:6]}-{d[6:]}"


def use_cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, password: str = "sandbox") -> None:
    """Sandbox credentials in the environment, no RG_SITE, and no stray .env file."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RG_USERNAME", "sandbox")
    monkeypatch.setenv("RG_PASSWORD", password)
    for name in ("RG_SITE", "RG_BASE_URL", "RG_LEDGER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    use_cli_env(monkeypatch, tmp_path)
    yield


def cli_exit(argv: list[str]) -> int:
    """``rg-import`` in-process through ``main``; returns its exit status."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0)


# --------------------------------------------------------------------------- 1. first run


def test_first_run_creates_exactly_the_valid_rows(sandbox: Sandbox, tmp_path: Path) -> None:
    plan = plan_of(PEOPLE, "followupboss", tmp_path / "plan")
    expected = expected_people()
    raw = people_rows()
    report = run(sandbox, PEOPLE, tmp_path / "ledger.sqlite", tmp_path / "out")

    creates = {r: p for r, p in plan.items() if p["action"] == "create"}
    # the plan agrees with the hand-labelled outcomes, so the comparison below means something
    assert {r for r, e in expected.items() if e["action"] == "create"} == set(creates)
    wanted = {lead_id_for(SITE, FUB_SOURCE, expected[r]["key"]): r for r in creates}
    assert {p["lead_id"] for p in creates.values()} == set(wanted)

    stored = leads_by_id(sandbox)
    assert set(stored) == set(wanted)
    assert all(lead["ids"] == [lead_id] for lead_id, lead in stored.items())  # no merges
    # each lead holds exactly what its row maps to: no field lost, none added
    bodies = planned_payloads(PEOPLE)
    assert {k: {f: v for f, v in lead.items() if f != "ids"} for k, lead in stored.items()} == {
        k: {"activities": [], **body} for k, body in bodies.items()
    }
    assert all(lead["source"] == FUB_SOURCE for lead in stored.values())
    assert sandbox.stats()["requests"] == {"create_lead": {"201": len(creates)}}

    def lead_of(case: str) -> tuple[dict[str, Any], dict[str, str]]:
        row = next(r for r, e in expected.items() if e["case"] == case)
        return stored[lead_id_for(SITE, FUB_SOURCE, expected[row]["key"])], raw[row]

    lead, cells = lead_of("email_spaces_upper_case")
    assert lead["email"] == cells["Email 1"].strip().lower() != cells["Email 1"]
    for case in ("phone_dashes", "phone_dots", "phone_plus1_parens", "phone_1_dashes"):
        lead, cells = lead_of(case)
        assert lead["phone"] == us_phone(cells["Phone 1"]), case
    lead, cells = lead_of("phone_uk")
    assert lead["phone"] == "+44 20 7946 " + digits(cells["Phone 1"])[-4:]
    lead, cells = lead_of("zip_lost_leading_zero")
    assert len(cells["Address 1 - Zip"]) == 4 and lead["zip"] == "0" + cells["Address 1 - Zip"]
    lead, cells = lead_of("zip_plus4_bare")
    assert lead["zip"] == f"{cells['Address 1 - Zip'][:5]}-{cells['Address 1 - Zip'][5:]}"
    lead, cells = lead_of("state_full_name")
    names = {name: code for code, name in load_sample_generator().STATE_NAMES.items()}
    assert lead["state"] == names[cells["Address 1 - State"]]
    lead, cells = lead_of("accented_name")
    assert (lead["first_name"], lead["last_name"]) == (cells["First Name"], cells["Last Name"])
    lead, cells = lead_of("no_id_email_key")
    assert cells["ID"] == "" and lead["email"] == cells["Email 1"].strip().lower()

    lead, cells = lead_of("property_inquiry")
    viewed = [a for a in lead["activities"] if a["type"] == "property_viewed"]
    assert len(viewed) == 1
    assert viewed[0]["property"]["street_address"] == cells["Property Address"]
    assert viewed[0]["property"]["price"] == int(digits(cells["Property Price"]))
    lead, cells = lead_of("multiline_note")
    assert "\n" in cells["Notes"]
    assert {"type": "note", "source": FUB_SOURCE, "description": "Notes:\n" + cells["Notes"],
            "created": lead["created"]} in lead["activities"]  # fmt: skip

    stored_activities = sum(len(lead["activities"]) for lead in stored.values())
    assert report["activities"]["sent"] == stored_activities > len(stored)
    assert report["leads"] == {"created": len(creates), "updated": 0, "unchanged": 0,
                               "rejected": len(plan) - len(creates), "in_doubt": 0, "not_sent": 0}  # fmt: skip
    assert report["requests"]["total"] == len(creates) and report["exit_code"] == 3
    assert_invariant(report)

    _, rejects = read_csv(Path(report["rejects_file"]))
    assert len(rejects) == report["leads"]["rejected"]
    assert {int(r["_row"]): r["_code"] for r in rejects} == {
        r: e["codes"] for r, e in expected.items() if e["action"] == "reject"
    }
    counts = ledger_counts(tmp_path / "ledger.sqlite")["leads"]
    assert counts == {"sending": 0, "sent": len(creates), "failed": 0, "in_doubt": 0}


# --------------------------------------------------------------------------- 2. re-run


def test_second_run_of_the_same_file_sends_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    first = run(sandbox, PEOPLE, ledger, new_out(tmp_path))
    total = sandbox.stats()["total"]
    before = ledger_records(ledger)

    second = run(sandbox, PEOPLE, ledger, new_out(tmp_path))

    assert sandbox.stats()["total"] == total == first["leads"]["created"]
    assert second["requests"]["total"] == 0
    assert second["leads"]["unchanged"] == first["leads"]["created"]
    assert second["leads"]["rejected"] == first["leads"]["rejected"]
    assert second["leads"]["created"] == second["leads"]["updated"] == 0
    assert second["activities"]["unchanged"] == first["activities"]["sent"]
    assert second["activities"]["sent"] == 0
    assert_invariant(second)
    # a no-op re-run leaves the ledger as it was: no attempt counted, no row rewritten
    assert ledger_records(ledger) == before


def test_rerun_reads_no_row_it_recognises_and_reports_the_same_rejects(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    first = run(sandbox, PEOPLE, ledger, new_out(tmp_path))
    with Ledger(ledger, run_id="t", readonly=True) as book:
        remembered = book.store.query("SELECT count(*) FROM rejected_rows")[0][0]
    _, first_rejects = read_csv(Path(first["rejects_file"]))
    duplicates = sum(r["_code"] == "duplicate_key" for r in first_rejects)
    assert remembered == first["leads"]["rejected"] - duplicates > 0

    # sent rows are known by their bytes, invalid rows too: only the duplicates
    # (judged against the other rows every time) are mapped again
    import importer.plan.planner

    mapped_rows: list[int] = []
    map_chunk = importer.plan.planner.map_chunk

    def counting(bound: Any, frame: Any, **kwargs: Any) -> Any:
        mapped_rows.extend(frame.index.tolist())
        return map_chunk(bound, frame, **kwargs)

    monkeypatch.setattr(importer.plan.planner, "map_chunk", counting)
    second = run(sandbox, PEOPLE, ledger, new_out(tmp_path))
    assert 0 < len(mapped_rows) <= 2 * duplicates
    assert second["requests"]["total"] == 0
    assert second["leads"]["rejected"] == first["leads"]["rejected"]
    assert read_csv(Path(second["rejects_file"]))[1] == first_rejects
    assert_invariant(second)


def test_a_copy_of_a_sent_row_is_a_duplicate_with_its_cells(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = write_people(tmp_path / "people.csv", 30, seed=5)
    ledger = tmp_path / "ledger.sqlite"
    first = run(sandbox, path, ledger, new_out(tmp_path))
    assert first["leads"]["created"] == 30
    lines = path.read_bytes().splitlines(keepends=True)
    (tmp_path / "again.csv").write_bytes(b"".join(lines) + lines[3])  # row 4, once more
    second = run(sandbox, tmp_path / "again.csv", ledger, new_out(tmp_path))
    assert second["requests"]["total"] == 0
    assert (second["leads"]["unchanged"], second["leads"]["rejected"]) == (30, 1)
    _, rejects = read_csv(Path(second["rejects_file"]))
    original = read_csv(path)[1][2]  # row 4 of the sheet
    assert rejects[0]["_row"] == "32" and rejects[0]["_code"] == "duplicate_key"
    assert {h: rejects[0][h] for h in original} == original
    assert_invariant(second)


# --------------------------------------------------------------------------- 3. edits


def test_edited_rows_send_only_the_changed_fields(sandbox: Sandbox, tmp_path: Path) -> None:
    path = write_people(tmp_path / "people.csv", 80, seed=11)
    ledger = tmp_path / "ledger.sqlite"
    first = run(sandbox, path, ledger, new_out(tmp_path))
    assert first["leads"]["created"] == 80
    header, rows = read_csv(path)

    edits = [("Address 1 - City", "city", "Springfield"), ("First Name", "first_name", "Zed"),
             ("Phone 1", "phone", "907-555-0150")]  # fmt: skip
    wanted: dict[str, dict[str, str]] = {}
    for n, position in enumerate(range(3, 63, 6)):  # 10 rows spread over the file
        column, field, value = edits[n % 3]
        assert rows[position][column] != value
        rows[position][column] = value
        stored = value if field != "phone" else us_phone(value)
        wanted[lead_id_for(SITE, FUB_SOURCE, rows[position]["ID"])] = {field: stored}
    write_csv(path, header, rows)
    mark = sandbox.stats()["total"]

    second = run(sandbox, path, ledger, new_out(tmp_path))

    log = log_since(sandbox, mark)
    assert [r["method"] for r in log] == ["PATCH"] * 10
    assert {r["path"].rsplit("/", 1)[1]: r["body"] for r in log} == wanted
    assert all(r["status"] == "200" for r in log)
    assert second["leads"] == {"created": 0, "updated": 10, "unchanged": 70, "rejected": 0,
                               "in_doubt": 0, "not_sent": 0}  # fmt: skip
    assert_invariant(second)

    # a row whose only change is a new note: one activities POST, no PATCH
    target = rows[70]
    target["Notes"] = "Prefers a corner lot; call after 6pm."
    write_csv(path, header, rows)
    mark = sandbox.stats()["total"]
    third = run(sandbox, path, ledger, new_out(tmp_path))
    lead_id = lead_id_for(SITE, FUB_SOURCE, target["ID"])
    log = log_since(sandbox, mark)
    assert [(r["method"], r["route"]) for r in log] == [("POST", "add_activities")]
    assert log[0]["path"].endswith(f"/leads/{lead_id}/activities")
    assert [a["description"] for a in log[0]["body"]] == ["Notes:\n" + target["Notes"]]
    assert third["leads"]["updated"] == 1 and third["leads"]["unchanged"] == 79
    assert third["activities"]["sent"] == 1

    newest = leads_by_id(sandbox)[lead_id]["activities"][-1]
    assert newest["description"] == "Notes:\n" + target["Notes"]
    mark = sandbox.stats()["total"]
    fourth = run(sandbox, path, ledger, new_out(tmp_path))
    assert sandbox.stats()["total"] == mark and fourth["leads"]["unchanged"] == 80


def test_a_field_emptied_in_the_file_is_kept_by_v1_and_cleared_by_v2(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = write_people(tmp_path / "people.csv", 30, seed=13)
    ledger = tmp_path / "ledger.sqlite"
    run(sandbox, path, ledger, new_out(tmp_path))
    header, rows = read_csv(path)
    emptied = [r for r in rows if r["Address 1 - City"]][:3]
    for row in emptied:
        row["Address 1 - City"] = ""
    write_csv(path, header, rows)
    ids = {lead_id_for(SITE, FUB_SOURCE, r["ID"]) for r in emptied}

    def planned(update_api: str) -> dict[str, Any]:
        request = PlanRequest(input=path, mapping=load_mapping("followupboss"), site=SITE,
                              ledger=ledger, out=new_out(tmp_path), update_api=update_api)  # fmt: skip
        return shown_json(plan_file(request))

    # v1 cannot clear: plan and run agree that nothing is sent, and say why
    v1_plan = planned("v1")
    assert v1_plan["leads"]["update"] == 0 and v1_plan["leads"]["unchanged"] == 30
    assert v1_plan["warnings"]["by_code"].get("not_cleared") == 3
    mark = sandbox.stats()["total"]
    v1 = run(sandbox, path, ledger, new_out(tmp_path))
    assert sandbox.stats()["total"] == mark
    assert v1["leads"]["unchanged"] == 30 and v1["warnings"]["by_code"].get("not_cleared") == 3
    assert all(leads_by_id(sandbox)[i]["city"] for i in ids)

    # v2 clears them: the plan says so, the run sends "" and the leads lose the city
    assert planned("v2")["leads"]["update"] == 3
    v2 = run(sandbox, path, ledger, new_out(tmp_path), update_api="v2")
    log = log_since(sandbox, mark)
    assert sorted(r["route"] for r in log) == ["update_lead_v2"] * 3
    assert all(r["body"] == {"city": ""} for r in log)
    assert v2["leads"]["updated"] == 3 and "not_cleared" not in v2["warnings"]["by_code"]
    assert not any(leads_by_id(sandbox)[i].get("city") for i in ids)
    mark = sandbox.stats()["total"]
    again = run(sandbox, path, ledger, new_out(tmp_path), update_api="v2")
    assert sandbox.stats()["total"] == mark and again["leads"]["unchanged"] == 30


# --------------------------------------------------------------------------- 4. fixed rejects


def fix_reject(row: dict[str, str], n: int) -> None:
    """Repair the cells a reject code names, the way a person would in a spreadsheet."""
    codes = set(row["_code"].split(";"))
    if "invalid_email" in codes:
        row["Email 1"] = f"fixed.person{n}@example.com"
    if "invalid_phone" in codes:
        row["Phone 1"] = f"(415) 555-01{n:02d}"
    if "invalid_date" in codes:
        row["Date Added"] = "2024-02-02 10:00:00"


def test_fixed_reject_file_creates_the_leads_with_their_original_ids(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    plan = plan_of(PEOPLE, "followupboss", tmp_path / "plan")
    ledger = tmp_path / "ledger.sqlite"
    first = run(sandbox, PEOPLE, ledger, new_out(tmp_path))
    before = leads_by_id(sandbox)
    header, rejects = read_csv(Path(first["rejects_file"]))

    fixable = {"invalid_email", "invalid_phone", "invalid_date"}
    kept = []
    for n, row in enumerate(rejects):
        codes = set(row["_code"].split(";"))
        if "duplicate_key" in codes:
            continue  # a person deletes repeated rows rather than fixing them
        if codes <= fixable:
            fix_reject(row, n)
        kept.append(row)
    fixed_rows = {int(r["_row"]) for r in kept if set(r["_code"].split(";")) <= fixable}
    # two missing_contact rows stay broken; the bad phones of rows with an email
    # are sent (in the note, with a warning) since issue 10, not rejected
    assert len(fixed_rows) == 5 and len(kept) == 7
    fixed = write_csv(tmp_path / "rejects_fixed.csv", header, kept)
    mark = sandbox.stats()["total"]

    second = run(sandbox, fixed, ledger, new_out(tmp_path))

    wanted = {plan[r]["lead_id"] for r in fixed_rows}
    assert all(plan[r]["action"] == "reject" and plan[r]["lead_id"] for r in fixed_rows)
    assert wanted == {lead_id_for(SITE, FUB_SOURCE, plan[r]["key"]) for r in fixed_rows}
    log = log_since(sandbox, mark)
    assert sorted(r["body"]["id"] for r in log) == sorted(wanted)
    assert {r["route"] for r in log} == {"create_lead"}
    after = leads_by_id(sandbox)
    assert set(after) == set(before) | wanted and not set(before) & wanted
    assert {k: v for k, v in after.items() if k in before} == before  # nobody else touched
    assert second["leads"]["created"] == 5 and second["leads"]["rejected"] == 2
    assert_invariant(second)
    _, again = read_csv(Path(second["rejects_file"]))
    assert [r["_code"] for r in again] == ["missing_contact", "missing_contact"]


# --------------------------------------------------------------------------- 5. activity file


def note_description(row: dict[str, str]) -> str:
    parts = [row["Subject"].strip(), row["Body"].strip(), f"(by {row['Created By']})"]
    return "\n".join(p for p in parts if p)


def test_activity_file_links_notes_through_the_ledger(sandbox: Sandbox, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    run(sandbox, PEOPLE, ledger, new_out(tmp_path))
    people = leads_by_id(sandbox)
    mark = sandbox.stats()["total"]

    report = run(sandbox, NOTES, ledger, new_out(tmp_path), mapping="followupboss_notes")

    expected = {int(r["row"]): r for r in read_csv(NOTES_EXPECTED)[1]}
    notes = dict(enumerate(read_csv(NOTES)[1], start=2))
    created = {r: notes[r] for r, e in expected.items() if e["action"] == "create"}
    per_lead: dict[str, list[str]] = {}
    for row in created.values():
        per_lead.setdefault(lead_id_for(SITE, FUB_SOURCE, row["Person ID"]), []).append(
            note_description(row)
        )
    assert set(per_lead) <= set(people)
    log = log_since(sandbox, mark)
    assert {r["route"] for r in log} == {"add_activities"}
    received: dict[str, list[str]] = {}
    for r in log:
        lead_id = r["path"].split("/leads/")[1].split("/")[0]
        received.setdefault(lead_id, []).extend(a["description"] for a in r["body"])
    assert {k: sorted(v) for k, v in received.items()} == {
        k: sorted(v) for k, v in per_lead.items()
    }
    now = leads_by_id(sandbox)
    for lead_id, lead in now.items():  # the notes follow the lead's own activities
        own = people[lead_id]["activities"]
        assert lead["activities"][: len(own)] == own
        added = [a["description"] for a in lead["activities"][len(own) :]]
        assert sorted(added) == sorted(per_lead.get(lead_id, []))

    assert report["leads"]["created"] == len(created)
    assert report["leads"]["rejected"] == len(expected) - len(created)
    assert report["activities"]["sent"] == len(created)
    assert_invariant(report)
    _, rejects = read_csv(Path(report["rejects_file"]))
    assert {int(r["_row"]): r["_code"] for r in rejects} == {
        r: e["codes"] for r, e in expected.items() if e["action"] == "reject"
    }
    assert Counter(r["_code"] for r in rejects)["unknown_lead"] == 4

    mark = sandbox.stats()["total"]
    again = run(sandbox, NOTES, ledger, new_out(tmp_path), mapping="followupboss_notes")
    assert sandbox.stats()["total"] == mark
    assert again["leads"]["unchanged"] == again["activities"]["unchanged"] == len(created)
    assert_invariant(again)


# --------------------------------------------------------------------------- 6. potential sellers


def test_potential_sellers_go_to_their_own_route(sandbox: Sandbox, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    _, rows = read_csv(VALUATIONS)
    report = run(sandbox, VALUATIONS, ledger, new_out(tmp_path), mapping="home_valuations")

    invalid = [r for r in rows if not r["Property Address"]]
    assert len(rows) == 10 and len(invalid) == 1
    valid_ids = {
        lead_id_for(SITE, VALUATION_SOURCE, r["Request ID"]) for r in rows if r not in invalid
    }
    log = sandbox.requests_log()
    assert {(r["method"], r["route"], r["status"]) for r in log} == {
        ("POST", "create_potential_seller_lead", "201")
    }
    assert sorted(r["body"]["id"] for r in log) == sorted(valid_ids)
    stored = leads_by_id(sandbox)
    assert set(stored) == valid_ids
    for lead in stored.values():
        assert lead["role"] == "Potential Seller"
        assert not any(lead.get(f) for f in CONTACT_FIELDS)
        (activity,) = lead["activities"]
        assert activity["type"] == "property_viewed" and activity["property"]["street_address"]
    by_request = {lead_id_for(SITE, VALUATION_SOURCE, r["Request ID"]): r for r in rows}
    for lead_id, lead in stored.items():
        cells = by_request[lead_id]
        prop = lead["activities"][0]["property"]
        assert prop["sqft"] == int(digits(cells["Sq Ft"]))
        assert prop["price"] == int(digits(cells["Estimated Value"]))
        assert prop["full_baths"] == int(float(cells["Baths"]))
    assert report["leads"]["created"] == 9 and report["leads"]["rejected"] == 1
    assert_invariant(report)
    _, rejects = read_csv(Path(report["rejects_file"]))
    assert [(r["Request ID"], r["_stage"], r["_code"]) for r in rejects] == [
        (invalid[0]["Request ID"], "validate", "missing_property")
    ]

    mark = sandbox.stats()["total"]
    again = run(sandbox, VALUATIONS, ledger, new_out(tmp_path), mapping="home_valuations")
    assert sandbox.stats()["total"] == mark and again["leads"]["unchanged"] == 9
    assert_invariant(again)


# --------------------------------------------------------------------------- 12. exit codes


def test_exit_codes(sandbox: Sandbox, tmp_path: Path, cli_env: None) -> None:
    base = ["run", "--base-url", sandbox.url, "--ledger", str(tmp_path / "ledger.sqlite"), "-q"]
    clean = write_people(tmp_path / "clean.csv", 40, seed=3)
    people = [str(clean), "-m", "followupboss"]
    with_site = [*people, "--site", SITE]

    assert cli_exit([*base, str(tmp_path / "missing.csv"), *with_site[1:], "--yes"]) == 2
    assert cli_exit([*base, *with_site, "--workers", "0"]) == 2
    assert cli_exit([*base, *with_site, "--no-such-flag"]) == 2
    assert cli_exit([*base, *people, "--yes"]) == 2  # no --site, no RG_SITE
    assert cli_exit([*base, str(clean), "-m", "no_such_mapping", "--site", SITE, "--yes"]) == 2
    # the first write to a site needs --yes when nobody can be asked
    assert cli_exit([*base, *with_site]) == 2
    assert sandbox.stats()["total"] == 0

    out = tmp_path / "clean-out"
    assert cli_exit([*base, *with_site, "--yes", "--out", str(out)]) == 0
    assert len(sandbox.leads(SITE)) == 40
    assert not (out / "rejects.csv").exists()
    dirty = [str(PEOPLE), "-m", "followupboss", "--site", SITE, "--yes"]
    assert cli_exit([*base, *dirty, "--out", str(tmp_path / "dirty-out")]) == 3
    assert (tmp_path / "dirty-out" / "rejects.csv").exists()


# --------------------------------------------------------------------------- 13. files and secrets


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_output_files_are_private_and_hold_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    password = "Zq7-unmistakable-pa55word-4Xv"
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RG_SITE", raising=False)
    monkeypatch.setenv("RG_USERNAME", "importer")
    monkeypatch.setenv("RG_PASSWORD", password)
    out = tmp_path / "runs" / "first"
    ledger = tmp_path / "ledger.sqlite"
    # some 500s with a single attempt leave rows in doubt, so in_doubt.csv is written too
    with start_sandbox(port=0, username="importer", password=password, fault_rate=0.3,
                       faults=("500",), seed=5) as sandbox:  # fmt: skip
        code = cli_exit([
            "run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--base-url", sandbox.url,
            "--ledger", str(ledger), "--out", str(out), "--yes", "--max-attempts", "1",
        ])  # fmt: skip
        assert len(sandbox.leads(SITE)) > 0
    printed = capsys.readouterr()

    assert code == 3, printed
    files = [out / "report.json", out / "rejects.csv", out / "in_doubt.csv", ledger,
             Path(f"{ledger}.lock")]  # fmt: skip
    for path in files:
        assert path.exists(), path
        assert mode(path) == 0o600, (path, oct(mode(path)))
    for suffix in ("-wal", "-shm"):  # SQLite removes them on a clean close
        side = Path(f"{ledger}{suffix}")
        if side.exists():
            assert mode(side) == 0o600, side
    assert mode(out) == 0o700
    secret = password.encode()
    for path in {*files, *tmp_path.glob("ledger.sqlite*")}:
        assert secret not in path.read_bytes(), path
    assert password not in printed.out and password not in printed.err
    assert "Report:" in printed.out and "In doubt:" in printed.out
