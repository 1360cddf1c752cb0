"""results.csv: the receipt of a run, one line per input row, in input order.

Every run below goes to the sandbox over loopback HTTP. ``assert_invariant``
(tests.send.test_run) holds every run of the send tests to results.csv having
each row once, in order, with as many lines per outcome as report.json counts;
the tests here check what the lines say: the lead ids the sandbox holds, the
codes and statuses of rejects and doubts, the rows a stopped run never reached,
an activity file's rows, and the file's privacy and formula guard.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from importer.cli.summaries import run_summary
from importer.models import Outcome, Problem, RowWarning
from importer.outputs.csv_files import RESULT_COLUMNS
from importer.outputs.report import shown_json
from importer.plan.rows import PlannedChunk, RowPlan
from importer.read.options import ReadOptions
from importer.read.table import open_table
from importer.sandbox.runner import Sandbox, start_sandbox
from importer.send import send_loop as loop_module
from importer.send.run_pieces import PlannedPieces
from importer.send.run_results import RunResults
from importer.send.send_outcome import SendOutcome
from tests.send.test_run import (
    NOTES,
    PEOPLE,
    assert_invariant,
    leads_by_id,
    new_out,
    read_csv,
    read_results,
    run,
    run_result,
    write_csv,
    write_people,
)
from tests.send.test_run_faults import FAST_RETRIES, TRANSIENT
from tests.send.test_run_storage import invoke, needs_dev_full, run_args, to_dev_full


def by_row(lines: list[dict[str, str]]) -> dict[int, dict[str, str]]:
    return {int(line["row"]): line for line in lines}


def test_results_csv_says_how_each_row_ended_and_which_lead_it_became(tmp_path: Path) -> None:
    header, rows = read_csv(PEOPLE)
    rows[0]["ID"] = "=1+2"  # a key a spreadsheet would run as a formula
    path = write_csv(tmp_path / "people.csv", header, rows)
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0) as sandbox:
        result = run_result(sandbox, path, ledger, new_out(tmp_path), chunk_rows=7)
        stored = leads_by_id(sandbox)
    report = shown_json(result)
    assert_invariant(report)
    assert f"Results:  {result.results_file}  (how each row ended" in run_summary(result)
    results_file = Path(report["results_file"])
    assert results_file.name == "results.csv" and results_file.parent == Path(report["out_dir"])
    assert stat.S_IMODE(results_file.stat().st_mode) == 0o600
    assert results_file.read_text(encoding="utf-8").splitlines()[0] == "\ufeff" + ",".join(
        RESULT_COLUMNS
    )
    lines = by_row(read_results(report))
    assert sorted(lines) == list(range(2, len(rows) + 2))

    created = {n: line for n, line in lines.items() if line["outcome"] == "created"}
    assert {line["lead_id"] for line in created.values()} == set(stored)
    assert all(line["http_status"] == "201" for line in created.values())
    # a row sent with a warning carries its code and message, as plan.csv does
    warned = {c for line in created.values() if line["codes"] for c in line["codes"].split(";")}
    assert warned and warned <= set(report["warnings"]["by_code"])
    assert lines[2]["key"] == "'=1+2" and lines[2]["outcome"] == "created"

    _, rejects = read_csv(Path(report["rejects_file"]))
    rejected = {n: line for n, line in lines.items() if line["outcome"] == "rejected"}
    assert {n: line["codes"] for n, line in rejected.items()} == {
        int(r["_row"]): r["_code"] for r in rejects
    }
    assert all(line["message"].startswith(r["_message"]) for r in rejects
               for line in [rejected[int(r["_row"])]])  # fmt: skip
    assert all(line["lead_id"] == "" for line in rejected.values())  # they became no lead

    with start_sandbox(port=0) as again:  # a second run of the same file: nothing to send
        rerun = run(again, path, ledger, new_out(tmp_path), chunk_rows=7)
    assert_invariant(rerun)
    relines = by_row(read_results(rerun))
    for n, line in created.items():
        assert relines[n]["outcome"] == "unchanged" and relines[n]["lead_id"] == line["lead_id"]


@pytest.mark.slow
def test_results_of_a_run_with_injected_faults_list_doubts_and_retries_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no backlog allowed: each chunk waits for every row of the chunks before it
    monkeypatch.setattr(loop_module, "RESULTS_BACKLOG", 0)
    path = write_people(tmp_path / "people.csv", 150, seed=5, dirty_share=0.1)
    faults = (*TRANSIENT, "reset-after-commit", "2xx-html")
    options: dict[str, Any] = {**FAST_RETRIES, "max_attempts": 1}  # no retries: faults end rows
    with start_sandbox(port=0, fault_rate=0.3, faults=faults, seed=11, fault_delay_s=1.0,
                       retry_after_s=0) as faulty:  # fmt: skip
        report = run(faulty, path, tmp_path / "ledger.sqlite", new_out(tmp_path),
                     workers=8, chunk_rows=10, **options)  # fmt: skip
        stored = leads_by_id(faulty)
    assert_invariant(report)
    lines = by_row(read_results(report))
    ends = {line["outcome"] for line in lines.values()}
    assert {"created", "rejected", "in_doubt", "not_sent"} <= ends, report["leads"]
    created = {line["lead_id"] for line in lines.values() if line["outcome"] == "created"}
    assert created <= set(stored)
    _, doubts = read_csv(Path(report["in_doubt_file"]))
    # the row's own codes first, then those of its warnings
    assert {int(r["_row"]): r["_code"] for r in doubts} == {
        n: line["codes"].split(";")[0] for n, line in lines.items() if line["outcome"] == "in_doubt"
    }
    for line in lines.values():
        if line["outcome"] == "not_sent":
            assert line["codes"] and line["message"]


def test_results_of_a_run_stopped_early_list_the_rows_it_never_reached(tmp_path: Path) -> None:
    # more rows than a run keeps in flight (256), so the loop waits while the API is down
    path = write_people(tmp_path / "people.csv", 600, seed=9)
    with start_sandbox(port=0, fault_rate=1.0, faults=("500",)) as down:
        report = run(down, path, tmp_path / "ledger.sqlite", new_out(tmp_path),
                     max_consecutive_failures=2, chunk_rows=10, **FAST_RETRIES)  # fmt: skip
    assert report["exit_code"] == 4 and report["input"]["read_to_end"] is False
    assert report["input"]["rows"] == 600
    assert_invariant(report)
    lines = read_results(report)
    assert [int(line["row"]) for line in lines] == list(range(2, 602))
    # nothing was applied for sure: rows stopped mid-retry may be in doubt, the rest not sent
    assert {line["outcome"] for line in lines} <= {"not_sent", "in_doubt"}
    never_planned = [line for line in lines if not line["key"]]
    assert never_planned and all(line["codes"] == "not_sent" for line in never_planned)


def test_results_of_a_notes_file_call_a_row_created_when_its_note_was_sent(
    tmp_path: Path,
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0) as sandbox:
        run(sandbox, PEOPLE, ledger, new_out(tmp_path))
        before = leads_by_id(sandbox)
        report = run(sandbox, NOTES, ledger, new_out(tmp_path), mapping="followupboss_notes")
        after = leads_by_id(sandbox)
    assert_invariant(report)
    lines = read_results(report)
    created = [line for line in lines if line["outcome"] == "created"]
    assert len(created) == report["activities"]["sent"] > 0
    for line in created:
        assert line["lead_id"] in before  # the note went to a lead the people run made
        assert line["http_status"] == "200"
    gained = {k for k in after if len(after[k]["activities"]) > len(before[k]["activities"])}
    assert {line["lead_id"] for line in created} == gained


# --------------------------------------------------------------------------- ordering, no HTTP


class _Out:
    """A results.csv writer that keeps what it is given."""

    path = Path("results.csv")

    def __init__(self) -> None:
        self.text = ""
        self.rows = 0

    @property
    def written(self) -> bool:
        return self.rows > 0

    def write_text(self, text: str, rows: int) -> None:
        self.text += text
        self.rows += rows

    def close(self) -> None:
        pass


def _chunk(first_row: int, actions: list[Outcome]) -> PlannedChunk:
    import pandas as pd

    rows = list(range(first_row, first_row + len(actions)))
    planned = PlannedChunk(
        pd.DataFrame(), rows, [f"k{r}" for r in rows], [f"id{r}" for r in rows], list(actions),
        {r: [Problem("invalid_email", "bad email")] for r, a in zip(rows, actions, strict=True)
         if a is Outcome.REJECT},
        [RowWarning(rows[-1], "dropped_zip", "zip dropped")],
    )  # fmt: skip
    for r, a in zip(rows, actions, strict=True):
        if a in (Outcome.CREATE, Outcome.UPDATE):
            planned.plans[r] = RowPlan(r, f"k{r}", f"id{r}", a)
    return planned


def _end(planned: PlannedChunk, position: int, result: Outcome, status: int) -> SendOutcome:
    return SendOutcome(planned.plans[planned.rows[position]], result, http_status=status)


def test_rows_ending_out_of_order_are_written_in_input_order() -> None:
    out = _Out()
    results = RunResults(out)
    first = _chunk(2, [Outcome.CREATE, Outcome.REJECT, Outcome.CREATE])
    second = _chunk(5, [Outcome.UNCHANGED, Outcome.UPDATE])
    results.chunk(first)
    results.handed_out(first)
    results.chunk(second)
    results.handed_out(second)
    results.ended(second, 1, _end(second, 1, Outcome.UPDATE, 200))
    results.ended(first, 2, _end(first, 2, Outcome.CREATE, 201))
    assert out.text == ""  # row 2 is still out: nothing after it may be written
    assert results.backlog > 0  # the second chunk waits as text
    results.ended(first, 0, _end(first, 0, Outcome.IN_DOUBT, 503))
    assert results.backlog == 0
    assert out.rows == 5
    assert out.text.splitlines() == [
        "2,k2,id2,in_doubt,,,503",
        "3,k3,,rejected,invalid_email,bad email,",
        "4,k4,id4,created,dropped_zip,zip dropped,201",
        "5,k5,id5,unchanged,,,",
        "6,k6,id6,updated,dropped_zip,zip dropped,200",
    ]


def test_rows_never_handed_out_end_not_sent_with_the_reason() -> None:
    out = _Out()
    results = RunResults(out)
    planned = _chunk(2, [Outcome.CREATE, Outcome.CREATE, Outcome.REJECT])
    results.chunk(planned)
    results.ended(planned, 0, _end(planned, 0, Outcome.CREATE, 201))
    # the run stopped here: row 3 was never handed out, rows 5 and 6 never planned
    assert results.never_reached() == 1
    results.unreached([5, 6])
    lines = out.text.splitlines()
    assert [line.split(",")[:5] for line in lines] == [
        ["2", "k2", "id2", "created", ""],
        ["3", "k3", "id3", "not_sent", "not_sent"],
        ["4", "k4", "", "rejected", "invalid_email;dropped_zip"],
        ["5", "", "", "not_sent", "not_sent"],
        ["6", "", "", "not_sent", "not_sent"],
    ]
    assert out.rows == 5


# --------------------------------------------------------------------------- a full disk


@needs_dev_full
def test_a_results_file_that_cannot_be_written_stops_the_run_with_exit_4(
    sandbox_env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox = sandbox_env  # RG_USERNAME and RG_PASSWORD point at it
    path = write_people(tmp_path / "people.csv", 40, seed=45)
    out = tmp_path / "full"
    to_dev_full(monkeypatch, "results.csv")
    code = invoke(*run_args(sandbox, path, tmp_path / "ledger.sqlite", out))
    _, err = capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    assert code == 4 and report["exit_code"] == 4
    sent = report["leads"]["created"]
    assert err.splitlines()[-1] == (
        f"Error: disk full at {out / 'results.csv'}; {sent} rows were sent, run again to resume"
    )
    assert "Traceback" not in err


# --------------------------------------------------------------------------- a stop while planning


class _CutWhilePlanning:
    """A planner stopped by Ctrl-C part-way through its second piece (after parsing it)."""

    def __init__(self) -> None:
        self.calls = 0

    def plan_piece(self, table: Any, piece: Any) -> PlannedChunk:
        self.calls += 1
        frame = table.parse(piece)  # planning parses a piece, counting its blank rows
        if self.calls == 2:
            raise KeyboardInterrupt
        rows = [int(r) for r in frame.index.tolist()]
        return PlannedChunk(frame, rows, [""] * len(rows), [""] * len(rows),
                            [Outcome.UNCHANGED] * len(rows), {}, [])  # fmt: skip


@pytest.mark.parametrize("cut", [True, False])
def test_the_rows_of_pieces_never_planned_are_every_row_left_blank_rows_dropped(
    tmp_path: Path, cut: bool
) -> None:
    lines = ["ID,Name"]
    for n in range(1, 401):
        lines.append("" if n % 37 == 0 else f"{n},{'x' * 60}")  # blank rows are no rows
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expected = [n + 1 for n in range(1, 401) if n % 37]  # spreadsheet rows: the header is 1

    # blocks of about 50 rows (4 kB at least): the file comes in several pieces
    with open_table(path, ReadOptions(chunk_rows=50), lazy=True) as table:
        pieces = PlannedPieces(_CutWhilePlanning(), table)  # type: ignore[arg-type]
        assert pieces.first()
        planned = next(pieces)
        if cut:
            with pytest.raises(KeyboardInterrupt):
                next(pieces)
        listed = planned.rows + [row for rows in pieces.unreached() for row in rows]
        assert listed == expected
        assert table.info.rows == len(expected)
        assert table.info.dropped_rows == 400 - len(expected)
