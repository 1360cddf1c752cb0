"""A rejects.xlsx fixed by a person runs back through ``run`` as the leads of its keys.

Over real loopback HTTP (the sandbox): the workbook of a run's rejects is
edited with openpyxl the way a person edits it in a spreadsheet (three cells
fixed, one row deleted, saved), then run with the same ledger. The fixed rows
become the leads of their keys (the lead ids the ledger keeps for them),
nothing is sent twice, and the rows still wrong are rejected again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import openpyxl

from importer import codes
from importer.mapping.apply import lead_id_for
from importer.mapping.files import load_mapping
from importer.sandbox.runner import Sandbox
from tests.conftest import SITE
from tests.send.test_run import (
    assert_invariant,
    leads_by_id,
    ledger_records,
    log_since,
    new_out,
    read_csv,
    run,
)

HEADER = "First Name,Last Name,Email 1,Phone 1,Address 1 - Zip,ID"
ROWS = [
    "Ann,Lee,ann@example.com,,02134,100",
    "Ben,Kay,ben@example.com,,,101",
    "Cat,Ode,cat@@example.com,,02134,201",  # the three fixed in the workbook
    "Dan,Poe,dan.example.com,,,202",
    "Eve,Ray,eve@,,,203",
    "Fay,Sun,fay@@example.com,,,204",  # deleted from the workbook
    "Gus,Tam,gus@@example.com,,,205",  # left as it is: rejected again
    "Hal,Ure,hal@example.com,,,100",  # ID of row 2: a duplicate, rejected again
]
FIXED = {"201": "cat@example.com", "202": "dan@example.com", "203": "eve@example.com"}


def test_a_fixed_rejects_xlsx_sends_its_rows_as_the_leads_of_their_keys(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    export = tmp_path / "export.csv"
    export.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    first = run(sandbox, export, ledger, new_out(tmp_path))
    assert first["leads"]["created"] == 2 and first["leads"]["rejected"] == 6
    workbook = Path(first["rejects_workbook"])
    assert workbook == Path(first["rejects_file"]).with_suffix(".xlsx")
    before = leads_by_id(sandbox)

    # a person fixes three email cells, deletes Fay's row, and saves the workbook
    book = openpyxl.load_workbook(workbook)
    sheet = book["Rejects"]
    columns = {cell.value: cell.column for cell in sheet[1]}
    for row in sheet.iter_rows(min_row=2):
        key = row[columns["ID"] - 1].value
        if key in FIXED:
            row[columns["Email 1"] - 1].value = FIXED[key]
    fay = next(r[0].row for r in sheet.iter_rows(min_row=2) if r[columns["ID"] - 1].value == "204")
    sheet.delete_rows(fay)
    book.save(workbook)
    mark = len(sandbox.requests_log())

    again = run(sandbox, workbook, ledger, new_out(tmp_path))
    assert_invariant(again)
    assert again["input"]["rows"] == 5 and again["leads"]["created"] == 3
    assert again["leads"]["rejected"] == 2 and again["leads"]["updated"] == 0
    _, rejects = read_csv(Path(again["rejects_file"]))
    assert sorted((r["ID"], r["_code"]) for r in rejects) == [
        ("100", codes.DUPLICATE_KEY), ("205", codes.INVALID_EMAIL),
    ]  # fmt: skip
    assert Path(again["rejects_workbook"]).exists()  # the rows still wrong, marked again

    # exactly three requests, one per fixed row, each creating the lead of its key
    sent = log_since(sandbox, mark)
    assert len(sent) == 3
    source = load_mapping("followupboss").source
    records = ledger_records(ledger)
    leads = leads_by_id(sandbox)
    for key, email in FIXED.items():
        lead_id = lead_id_for(SITE, source, key)
        assert records[key].lead_id == lead_id
        assert leads[lead_id]["email"] == email
    # nothing duplicated: one lead per key and per email; the first run's leads untouched
    assert len(leads) == 5 and set(leads) == {records[k].lead_id for k in ("100", "101", *FIXED)}
    assert Counter(lead["email"] for lead in leads.values()).most_common(1)[0][1] == 1
    assert {k: v for k, v in leads.items() if k in before} == before

    # run once more as it is: nothing sent, the same two rejected
    third = run(sandbox, workbook, ledger, new_out(tmp_path))
    assert third["leads"]["unchanged"] == 3 and third["leads"]["rejected"] == 2
    assert len(log_since(sandbox, mark)) == 3
