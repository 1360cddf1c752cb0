"""``rg-import run`` on a bad day: injected faults, ambiguous failures, refused credentials.

The sandbox misbehaves on purpose (errors, timeouts, dropped connections,
requests applied and then cut off, 401s); the run must end with the sandbox
holding exactly what a fault-free run stores, count what it may have
duplicated, and stop at once, with a consistent ledger, when the API refuses
the credentials.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from importer.ledger.ledger import Ledger
from importer.ledger.store import payload_hash
from importer.sandbox.runner import Sandbox, start_sandbox
from tests.conftest import SITE
from tests.send.test_run import (
    FUB_SOURCE,
    NOTES,
    PEOPLE,
    VALUATIONS,
    assert_invariant,
    cli_exit,
    leads_by_id,
    ledger_counts,
    new_out,
    planned_payloads,
    read_csv,
    read_results,
    run,
    use_cli_env,
    write_csv,
    write_people,
)

OTHER_SITE = "5d2e4f60-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
TRANSIENT = ("500", "503-html", "429", "timeout", "reset")
# small timeouts and back-offs keep a run with many faults short
FAST_RETRIES: dict[str, Any] = {
    "read_timeout": 0.5, "max_attempts": 12, "backoff_base": 0.05, "backoff_max": 0.4,
    "not_found_delay": 0.1,
}  # fmt: skip


def edited_people(tmp_path: Path) -> Path:
    """The sample people file with five cities and one note changed (updates and a new activity)."""
    header, rows = read_csv(PEOPLE)
    for position in (0, 4, 9, 16, 20):
        rows[position]["Address 1 - City"] = "Springfield"
    rows[1]["Notes"] = "Asked for a second showing."
    return write_csv(tmp_path / "people_edited.csv", header, rows)


def import_all(
    sandbox: Sandbox, tmp_path: Path, ledger: Path, **options: Any
) -> list[dict[str, Any]]:
    """People, then their notes, then an edited people file: creates, activities and updates."""
    return [
        run(sandbox, PEOPLE, ledger, new_out(tmp_path), **options),
        run(sandbox, NOTES, ledger, new_out(tmp_path), mapping="followupboss_notes", **options),
        run(sandbox, edited_people(tmp_path), ledger, new_out(tmp_path), **options),
    ]


def activities_of(path: Path, mapping: str = "followupboss") -> set[tuple[str, str]]:
    """(lead id, activity hash) of every activity the file's valid rows carry."""
    return {
        (lead_id, payload_hash(a))
        for lead_id, payload in planned_payloads(path, mapping).items()
        for a in payload.get("activities", [])
    }


def in_doubt_activities(ledger: Path) -> set[tuple[str, str]]:
    with Ledger(ledger, run_id="t", readonly=True) as book:
        return {(a["lead_id"], a["activity_hash"]) for a in book.iter_activities(state="in_doubt")}


def canonical(activity: dict[str, Any]) -> str:
    return json.dumps(activity, sort_keys=True)


def duplicated_activities_of(leads: list[dict[str, Any]]) -> int:
    """How many stored activities are extra copies of another one on the same lead."""
    return sum(
        count - 1
        for lead in leads
        for count in Counter(canonical(a) for a in lead["activities"]).values()
    )


def duplicated_activities(sandbox: Sandbox) -> int:
    return duplicated_activities_of(sandbox.leads(SITE))


def stored_state(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """Each lead's fields, and its activities as a multiset (arrival order may differ)."""
    return {
        lead_id: {**lead, "activities": sorted(canonical(a) for a in lead["activities"])}
        for lead_id, lead in leads_by_id(sandbox).items()
    }


# --------------------------------------------------------------------------- 7. transient faults


@pytest.mark.slow
def test_transient_faults_end_like_a_fault_free_run(tmp_path: Path) -> None:
    with start_sandbox(port=0) as clean:
        clean_reports = import_all(clean, tmp_path, tmp_path / "clean.sqlite")
        expected = stored_state(clean)
    with start_sandbox(port=0, fault_rate=0.3, faults=TRANSIENT, seed=7, fault_delay_s=1.0,
                       retry_after_s=0) as faulty:  # fmt: skip
        reports = import_all(faulty, tmp_path, tmp_path / "faulty.sqlite", **FAST_RETRIES)
        assert stored_state(faulty) == expected
        assert duplicated_activities(faulty) == 0
        faults = faulty.stats()["faults"]

    assert set(faults) == set(TRANSIENT), faults  # every kind was met at least once
    for report, reference in zip(reports, clean_reports, strict=True):
        assert report["leads"] == reference["leads"]
        assert report["activities"]["sent"] == reference["activities"]["sent"]
        assert_invariant(report)
    assert sum(r["requests"]["retries"] for r in reports) >= sum(faults.values())
    assert reports[0]["requests"]["retries"] > 0
    assert ledger_counts(tmp_path / "faulty.sqlite") == ledger_counts(tmp_path / "clean.sqlite")
    assert ledger_counts(tmp_path / "faulty.sqlite")["leads"]["in_doubt"] == 0


# --------------------------------------------------------------------------- 8. applied, then cut off


def test_reset_after_commit_counts_its_possible_duplicates(tmp_path: Path) -> None:
    with start_sandbox(port=0) as clean:
        import_all(clean, tmp_path, tmp_path / "clean.sqlite")
        expected = stored_state(clean)
    with start_sandbox(port=0, fault_rate=0.3, faults=("reset-after-commit",), seed=3) as sandbox:
        reports = import_all(sandbox, tmp_path, tmp_path / "ledger.sqlite", **FAST_RETRIES)
        stored = stored_state(sandbox)
        duplicates = duplicated_activities(sandbox)
        assert sandbox.stats()["faults"]["reset-after-commit"] > 5
        assert all(lead["ids"] == [lead_id] for lead_id, lead in leads_by_id(sandbox).items())

    # leads are exact: same ids and fields; only activities may have been added twice
    assert set(stored) == set(expected)
    for lead_id, lead in stored.items():
        assert {k: v for k, v in lead.items() if k != "activities"} == {
            k: v for k, v in expected[lead_id].items() if k != "activities"
        }
        assert set(lead["activities"]) == set(expected[lead_id]["activities"])
    possible = sum(r["activities"]["possible_duplicates"] for r in reports)
    assert 0 < duplicates <= possible
    for report in reports:
        assert_invariant(report)
        assert report["leads"]["in_doubt"] == 0


def test_activities_at_most_once_never_duplicates(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    options: dict[str, Any] = {"activities_at_most_once": True, **FAST_RETRIES}
    with start_sandbox(port=0) as clean:
        import_all(clean, tmp_path, tmp_path / "clean.sqlite")
        expected = stored_state(clean)
    with start_sandbox(port=0, fault_rate=0.3, faults=("reset-after-commit",), seed=3) as sandbox:
        people = run(sandbox, PEOPLE, ledger, new_out(tmp_path), **options)
        notes = run(
            sandbox, NOTES, ledger, new_out(tmp_path), mapping="followupboss_notes", **options
        )
        after_notes = ledger_counts(ledger)["activities"]
        edited_file = edited_people(tmp_path)
        edited = run(sandbox, edited_file, ledger, new_out(tmp_path), **options)
        assert duplicated_activities(sandbox) == 0
        stored = stored_state(sandbox)
        # re-running the files as they are now resends nothing it holds, and
        # nothing else is left to send
        total = sandbox.stats()["total"]
        again = [
            run(sandbox, NOTES, ledger, new_out(tmp_path), mapping="followupboss_notes", **options),
            run(sandbox, edited_file, ledger, new_out(tmp_path), **options),
        ]
        assert sandbox.stats()["total"] == total
        assert duplicated_activities(sandbox) == 0

    # this fault always applies the request, so every activity arrived exactly once
    assert stored == expected
    assert people["activities"]["in_doubt"] > 0 and notes["activities"]["in_doubt"] > 0
    held = people["activities"]["in_doubt"] + notes["activities"]["in_doubt"]
    assert after_notes["in_doubt"] == held
    assert ledger_counts(ledger)["activities"]["sending"] == 0
    for report in (people, notes, edited, *again):
        assert_invariant(report)
        assert report["activities"]["possible_duplicates"] == 0
    _, doubts = read_csv(Path(notes["in_doubt_file"]))
    assert len(doubts) == notes["leads"]["in_doubt"] == notes["activities"]["in_doubt"]
    assert {d["_code"] for d in doubts} == {"in_doubt"}
    assert people["leads"]["in_doubt"] == 0  # the leads themselves were confirmed
    # held activities are reported in doubt again, and their rows are not counted as sent
    assert again[0]["activities"]["in_doubt"] == notes["activities"]["in_doubt"]
    assert again[0]["leads"]["in_doubt"] == notes["leads"]["in_doubt"]
    in_doubt = in_doubt_activities(ledger)
    assert again[1]["activities"]["in_doubt"] == len(in_doubt & activities_of(edited_file)) > 0
    assert sum(r["leads"]["created"] + r["leads"]["updated"] for r in again) == 0


# --------------------------------------------------------------------------- 10. refused credentials


@pytest.mark.parametrize("refusal", ["password", "site"])
def test_refused_credentials_stop_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: str
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    workers = 4
    if refusal == "password":
        use_cli_env(monkeypatch, tmp_path, password="not-the-password")
        refusing = start_sandbox(port=0)
    else:
        use_cli_env(monkeypatch, tmp_path)
        refusing = start_sandbox(port=0, sites=(OTHER_SITE,))
    out = tmp_path / "refused"
    # (--assign off: these refusals are of writes; a refused users listing is
    # tests/send/test_assign_run.py's)
    args = ["run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--ledger", str(ledger),
            "--yes", "-q", "--workers", str(workers), "--assign", "off"]  # fmt: skip
    with refusing:
        code = cli_exit([*args, "--base-url", refusing.url, "--out", str(out)])
        seen = refusing.stats()

    assert code == 4
    # No retries and no back-off: a refusal of the credentials is final.
    assert 1 <= seen["total"] <= workers and set(seen["requests"]["create_lead"]) == {"401"}
    report = json.loads((out / "report.json").read_text())
    assert report["exit_code"] == 4 and "credentials" in report["stopped"]
    assert report["requests"]["retries"] == 0
    assert report["leads"]["created"] == report["leads"]["updated"] == 0
    assert report["leads"]["not_sent"] >= 40
    assert_invariant(report)
    counts = ledger_counts(ledger)["leads"]
    assert counts["sending"] == counts["sent"] == counts["in_doubt"] == 0
    assert counts["failed"] == seen["total"]

    monkeypatch.setenv("RG_PASSWORD", "sandbox")
    with start_sandbox(port=0) as sandbox:
        code = cli_exit([*args, "--base-url", sandbox.url, "--out", str(tmp_path / "after")])
        assert len(sandbox.leads(SITE)) == 47
        assert all(lead["source"] == FUB_SOURCE for lead in sandbox.leads(SITE))
    assert code == 3  # the sample file has rejects
    final = json.loads((tmp_path / "after" / "report.json").read_text())
    assert final["leads"]["created"] == 47 and final["stopped"] is None
    assert ledger_counts(ledger)["leads"] == {"sending": 0, "sent": 47, "failed": 0, "in_doubt": 0}


# --------------------------------------------------------------------------- circuit breaker


def test_api_going_down_mid_update_stops_with_a_consistent_ledger(tmp_path: Path) -> None:
    """Rows waiting to retry when the breaker opens end in doubt, whatever step they were at."""
    ledger = tmp_path / "ledger.sqlite"
    header, rows = read_csv(PEOPLE)
    valid = [i for i, r in enumerate(rows) if r["ID"] and r["ID"] not in ("48327",)][:30]
    for n, position in enumerate(valid[:24]):
        if n % 3 == 0:
            rows[position]["Address 1 - City"] = "Springfield"  # a PATCH
        if n % 3 in (0, 1):
            rows[position]["Notes"] = f"Follow-up call {n} went well."  # an activities POST
    edited = write_csv(tmp_path / "edited.csv", header, rows)

    with start_sandbox(port=0) as sandbox:
        run(sandbox, PEOPLE, ledger, new_out(tmp_path))
        with start_sandbox(port=0, fault_rate=1.0, faults=("500",)) as down:
            stopped = run(down, edited, ledger, new_out(tmp_path), max_consecutive_failures=2,
                          read_timeout=0.5, max_attempts=4, backoff_base=0.3, backoff_max=0.6)  # fmt: skip
            assert down.leads(SITE) == []
        assert stopped["exit_code"] == 4 and "in a row failed" in stopped["stopped"]
        assert_invariant(stopped)
        assert stopped["leads"]["in_doubt"] + stopped["leads"]["rejected"] > 0
        counts = ledger_counts(ledger)
        assert counts["leads"]["sending"] == counts["activities"]["sending"] == 0

        resumed = run(sandbox, edited, ledger, new_out(tmp_path))
        assert resumed["exit_code"] == 3 and resumed["stopped"] is None
        assert_invariant(resumed)
        final = stored_state(sandbox)
    with start_sandbox(port=0) as reference:
        run(reference, edited, tmp_path / "reference.sqlite", new_out(tmp_path))
        expected = stored_state(reference)
    assert set(final) == set(expected)
    # the old notes stay on the server, the new ones arrive once
    for lead_id, lead in final.items():
        assert {k: v for k, v in lead.items() if k != "activities"} == {
            k: v for k, v in expected[lead_id].items() if k != "activities"
        }
        assert set(expected[lead_id]["activities"]) <= set(lead["activities"])
        assert len(lead["activities"]) == len(set(lead["activities"]))


def test_refused_run_leaves_the_rest_of_a_big_file_unplanned(tmp_path: Path) -> None:
    """A 401 on the first rows ends the run without planning the rest of the file.

    Every row still ends somewhere: the rows never reached are listed in
    results.csv by row number, as not sent.
    """
    path = write_people(tmp_path / "people.csv", 500, seed=31)
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0, password="something-else") as refusing:
        report = run(refusing, path, ledger, new_out(tmp_path), chunk_rows=25)
        assert refusing.stats()["total"] <= 4
    assert report["exit_code"] == 4
    assert report["input"]["read_to_end"] is False
    assert report["input"]["rows"] == 500
    assert_invariant(report)
    assert report["leads"]["not_sent"] == 500  # the refused ones included
    results = read_results(report)
    assert [int(r["row"]) for r in results] == list(range(2, 502))
    planned = [r for r in results if r["key"]]  # a block or a few, of about 25 rows each
    assert 0 < len(planned) < 500
    assert all(r["codes"] == "not_sent" for r in results if not r["key"])
    assert ledger_counts(ledger)["leads"]["failed"] == report["requests"]["total"]

    with start_sandbox(port=0) as sandbox:
        resumed = run(sandbox, path, ledger, new_out(tmp_path), chunk_rows=25)
        assert len(sandbox.leads(SITE)) == 500
    assert resumed["input"]["read_to_end"] is True and resumed["input"]["rows"] == 500
    assert resumed["leads"]["created"] == 500 and resumed["exit_code"] == 0


def test_potential_sellers_at_most_once_are_never_sent_without_their_property(
    tmp_path: Path,
) -> None:
    """An anonymous lead *is* its property_viewed activity: when that is in doubt, hold the row."""
    ledger = tmp_path / "ledger.sqlite"
    options: dict[str, Any] = {"activities_at_most_once": True, "mapping": "home_valuations",
                               **FAST_RETRIES}  # fmt: skip
    with start_sandbox(port=0, fault_rate=0.5, faults=("reset-after-commit",), seed=4) as sandbox:
        first = run(sandbox, VALUATIONS, ledger, new_out(tmp_path), **options)
        total = sandbox.stats()["total"]
        again = run(sandbox, VALUATIONS, ledger, new_out(tmp_path), **options)
        assert sandbox.stats()["total"] == total  # held rows are not resent
        stored = sandbox.leads(SITE)
        log = sandbox.requests_log()

    # the fault applies every request it cuts off, so all nine arrived, once each
    assert len(stored) == 9 and duplicated_activities_of(stored) == 0
    assert all(len(lead["activities"]) == 1 for lead in stored)
    assert all(r["status"] in ("201", "reset") for r in log)  # never sent without its property
    assert first["leads"]["rejected"] == again["leads"]["rejected"] == 1  # only the invalid row
    assert first["leads"]["in_doubt"] > 0
    assert again["leads"]["in_doubt"] == first["leads"]["in_doubt"]
    assert again["leads"]["unchanged"] == first["leads"]["created"]
    for report in (first, again):
        assert_invariant(report)


def test_a_wrong_address_stops_at_the_first_404_on_a_new_lead(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Every create would get the same 404: stop at once, like a 401, and resume later."""
    path = write_people(tmp_path / "people.csv", 200, seed=41)
    ledger = tmp_path / "ledger.sqlite"
    wrong = run(sandbox, path, ledger, new_out(tmp_path), base_url=sandbox.root_url)
    assert wrong["exit_code"] == 4
    assert "404" in wrong["stopped"] and "--base-url" in wrong["stopped"]
    assert wrong["requests"]["total"] <= 4  # one per worker at most, no retries
    assert wrong["leads"]["created"] == 0
    assert_invariant(wrong)
    right = run(sandbox, path, ledger, new_out(tmp_path))
    assert right["exit_code"] == 0 and right["leads"]["created"] == 200
