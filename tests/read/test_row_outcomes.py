"""Every row judged, before anything is sent: ragged rows and fed-back duplicates.

Over real loopback HTTP (the sandbox): a row with fewer or more fields than
the header is a ``ragged_row`` reject at the read stage, never padded into a
lead and never a reason to stop a run half-way; what stops reading stops a
run before its first request; a duplicate fed back from rejects.csv stays
rejected while its key is the one it repeated.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.errors import InputError
from importer.mapping.files import load_mapping
from importer.outputs.report import shown_json
from importer.plan.plan_file import PlanRequest, plan_file
from importer.sandbox.runner import Sandbox
from tests.send.test_run import (
    assert_invariant,
    leads_by_id,
    log_since,
    new_out,
    read_csv,
    run,
    write_csv,
)

HEADER = "First Name,Last Name,Email 1,ID"


def people(n: int, start: int = 0) -> list[str]:
    return [f"P{i},Lee,p{i}@example.com,{100 + i}" for i in range(start, start + n)]


def write(path: Path, lines: list[str], *, final_newline: bool = True) -> Path:
    path.write_text("\n".join([HEADER, *lines]) + ("\n" if final_newline else ""), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- ragged rows


def test_a_row_cut_short_is_rejected_instead_of_becoming_a_second_lead(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    # a download cut mid-line: the last row lost its ID (the key), so its email would key it
    cut = write(tmp_path / "cut.csv", [*people(2), "Cy,Park,cy@example.com"], final_newline=False)
    first = run(sandbox, cut, ledger, new_out(tmp_path))
    assert first["exit_code"] == 3 and first["leads"]["created"] == 2
    assert first["leads"]["rejected"] == 1
    _, rejects = read_csv(Path(first["rejects_file"]))
    assert [(r["_row"], r["_stage"], r["_code"]) for r in rejects] == [("4", "read", "ragged_row")]
    assert "3 fields but the header row has 4: 'Cy,Park,cy@example.com'" in rejects[0]["_message"]
    assert_invariant(first)
    # the complete download the next night: Cy becomes one lead, not a second one
    whole = write(tmp_path / "whole.csv", [*people(2), "Cy,Park,cy@example.com,200"])
    second = run(sandbox, whole, ledger, new_out(tmp_path))
    assert second["leads"]["created"] == 1 and second["exit_code"] == 0
    emails = sorted(lead["email"] for lead in leads_by_id(sandbox).values())
    assert emails == ["cy@example.com", "p0@example.com", "p1@example.com"]


def test_a_late_row_with_extra_fields_is_a_reject_and_the_run_ends_with_its_report(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    lines = people(30)
    lines[24] = "Una,Lee,una@example.com,124,an unquoted, note"  # row 26
    path = write(tmp_path / "late.csv", lines)
    out = new_out(tmp_path)
    report = run(sandbox, path, tmp_path / "ledger.sqlite", out, chunk_rows=5)
    assert report["exit_code"] == 3
    assert report["leads"]["created"] == 29 and report["leads"]["rejected"] == 1
    assert report["input"]["read_to_end"] is True
    assert_invariant(report)
    assert (out / "report.json").exists()
    _, rejects = read_csv(out / "rejects.csv")
    assert [(r["_row"], r["_stage"], r["_code"]) for r in rejects] == [("26", "read", "ragged_row")]
    assert "6 fields but the header row has 4" in rejects[0]["_message"]
    # nothing of the row is lost: the fields past the last column are in its cell
    assert rejects[0]["ID"] == "124,an unquoted, note"
    assert len(leads_by_id(sandbox)) == 29


def test_a_quote_never_closed_late_in_the_file_stops_the_run_before_its_first_request(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    lines = people(30)
    lines[27] = 'Una,"Lee,una@example.com,127'  # row 29: the rest of the file is one cell
    path = write(tmp_path / "unclosed.csv", lines)
    out = new_out(tmp_path)
    with pytest.raises(InputError, match="never closed, starting in row 29"):
        run(sandbox, path, tmp_path / "ledger.sqlite", out, chunk_rows=5)
    assert sandbox.requests_log() == []
    assert not out.exists()


def test_ragged_rows_are_judged_in_the_checking_processes_too(tmp_path: Path) -> None:
    lines = people(12_000)
    lines[1] = "Bo,Kim"  # row 3, cut short
    lines[11_000] = "X,Y,x@example.com,11100,extra"  # row 11002, one field too many
    path = write(tmp_path / "big.csv", lines)
    report = shown_json(
        plan_file(
            PlanRequest(
                input=path, mapping=load_mapping("followupboss"), out=tmp_path / "p", processes=2
            )
        )
    )
    assert report["leads"]["rejected"] == 2 and report["leads"]["create"] == 11_998
    _, rejects = read_csv(Path(report["rejects_file"]))
    assert [(r["_row"], r["_stage"], r["_code"]) for r in rejects] == [
        ("3", "read", "ragged_row"),
        ("11002", "read", "ragged_row"),
    ]
    _, plan = read_csv(Path(report["plan_file"]))
    assert plan[1]["action"] == "reject" and plan[1]["key"] == ""


# --------------------------------------------------------------------------- fed-back duplicates


def test_a_duplicate_fed_back_from_rejects_stays_rejected_and_names_the_kept_row(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    path = write(
        tmp_path / "dup.csv", [*people(2), "Ann,Other,ann@example.com,100"]
    )  # row 4: ID of row 2
    first = run(sandbox, path, ledger, new_out(tmp_path))
    assert first["leads"]["created"] == 2 and first["leads"]["rejected"] == 1
    kept = {
        lead["id"]: lead
        for lead in leads_by_id(sandbox).values()
        if lead["email"] == "p0@example.com"
    }
    rejects_file = Path(first["rejects_file"])
    mark = len(sandbox.requests_log())

    # fed back unchanged, as the README suggests for fixed rejects
    again = run(sandbox, rejects_file, ledger, new_out(tmp_path))
    assert again["exit_code"] == 3 and again["leads"]["rejected"] == 1
    assert again["leads"]["updated"] == 0 and log_since(sandbox, mark) == []
    _, rejects = read_csv(Path(again["rejects_file"]))
    assert rejects[0]["_code"] == "duplicate_key"
    message = rejects[0]["_message"]
    assert "same key '100' as row 2 of the file it was rejected from" in message
    assert f"lead {next(iter(kept))}" in message
    assert "merge it into that row, or give it its own ID" in message
    assert {k: v for k, v in leads_by_id(sandbox).items() if k in kept} == kept

    # and again (its own reject file now): still rejected
    third = run(sandbox, Path(again["rejects_file"]), ledger, new_out(tmp_path))
    assert third["leads"]["rejected"] == 1 and log_since(sandbox, mark) == []

    # a plan without history says so too
    planned = shown_json(
        plan_file(
            PlanRequest(
                input=rejects_file, mapping=load_mapping("followupboss"), out=tmp_path / "p"
            )
        )
    )
    assert planned["leads"]["rejected"] == 1

    # given its own ID, it is a new row and a new lead
    header, rows = read_csv(rejects_file)
    rows[0]["ID"] = "999"
    fixed = write_csv(tmp_path / "fixed.csv", header, rows)
    last = run(sandbox, fixed, ledger, new_out(tmp_path))
    assert last["leads"]["created"] == 1 and last["exit_code"] == 0
    assert {lead["email"] for lead in leads_by_id(sandbox).values()} >= {"ann@example.com"}
    assert {k: v for k, v in leads_by_id(sandbox).items() if k in kept} == kept
