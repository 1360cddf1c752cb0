"""What a run counts and lists as rows end: the tally, and the files of rows to look at.

rejects.csv, in_doubt.csv and results.csv are written through ``Guarded``: a write error
(a full disk) stops the run instead of crashing it, and the line that ends the
run (``write_failure``) says how many rows were sent and how to resume.
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from importer.errors import LedgerGone
from importer.mapping.spec import Mapping
from importer.models import Outcome, RowIssue, Stage
from importer.outputs import csv_files
from importer.outputs.reasons import Reasons
from importer.outputs.report import Warnings
from importer.send import run_log
from importer.send.breaker import CircuitBreaker
from importer.send.run_results import RunResults
from importer.send.send_outcome import SendOutcome
from importer.settings import REJECT_WORKBOOK_MAX_ROWS

ACTIVITY_RESULTS = ("sent", "unchanged", "rejected", "in_doubt", "not_sent")
# what the progress bar shows as rows end (in doubt and not sent are said at the end)
LIVE = (Outcome.CREATE, Outcome.UPDATE, Outcome.UNCHANGED, Outcome.REJECT)


class FileWriteError(Exception):
    """Writing one of the run's output files failed (``path``, the OSError)."""

    def __init__(self, path: Path, error: OSError):
        super().__init__(f"cannot write {path} ({error.strerror})")
        self.path = path
        self.reason = error.strerror
        self.disk_full = error.errno in _DISK_FULL


# ENOSPC: no space left; EDQUOT: over the user's quota; EFBIG: over the file size limit
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def write_failure(error: Exception, sent: int) -> str:
    """The one line that ends a run stopped by a file it could not write."""
    if isinstance(error, LedgerGone):
        return (
            f"{error}; {sent} rows were sent. Put that ledger file back, then run again to "
            "resume: a run with a new ledger sends every row again and repeats its notes"
        )
    path = getattr(error, "path", "")
    if getattr(error, "disk_full", False):
        return f"disk full at {path}; {sent} rows were sent, run again to resume"
    reason = getattr(error, "reason", None) or error.__cause__ or error
    return f"cannot write {path} ({reason}); {sent} rows were sent, fix it and run again to resume"


class Guarded:
    """A run output file whose write errors stop the run instead of crashing it.

    After the first failure the file takes no more rows: the ledger still
    knows every row, and the report counts them.
    """

    def __init__(self, writer: Any, breaker: CircuitBreaker):  # a csv_files.CsvOut
        self.writer = writer
        self.path = writer.path
        self._breaker = breaker
        self._failed = False

    @property
    def written(self) -> bool:
        return self.writer.written

    @property
    def complete(self) -> bool:
        """Whether every row given was written (no write failed)."""
        return not self._failed

    def reject(self, cells: list[str], issue: RowIssue) -> None:
        if not self._failed:
            self._do(self.writer.reject, cells, issue)

    def write_text(self, text: str, rows: int) -> None:
        if not self._failed:
            self._do(self.writer.write_text, text, rows)

    def close(self) -> None:
        self._do(self.writer.close)

    def _do(self, action: Callable[..., None], *args: Any) -> None:
        try:
            action(*args)
        except OSError as exc:
            self.fail(FileWriteError(self.path, exc))

    def fail(self, error: FileWriteError) -> None:
        """Stop the run: this file (or one made from it) could not be written."""
        self._failed = True
        self._breaker.halt(error)


class RunFiles:
    """rejects.csv (with rejects.xlsx), in_doubt.csv, held_activities.csv and results.csv of
    one run directory.

    ``workbook_mapping``: the run's mapping, to mark the cells of rejects.xlsx;
    None writes no workbook (``--no-xlsx``). ``piece``: the run is a piece of a run
    spread over tasks, whose one workbook is made from its pieces' files: a piece
    writes its rejected rows' problems (``reject_problems``) instead of a workbook.
    """

    def __init__(
        self, out_dir: Path, headers: list[str], breaker: CircuitBreaker,
        workbook_mapping: Mapping | None = None, *, piece: bool = False,
    ):  # fmt: skip
        self.out_dir = out_dir
        self.headers = headers
        self.workbook_mapping = workbook_mapping
        self.piece = piece
        rejects = csv_files.RejectWriter(
            out_dir / "rejects.csv", headers, send_columns=True,
            workbook_rows=REJECT_WORKBOOK_MAX_ROWS if workbook_mapping else 0,
        )  # fmt: skip
        self.rejects = Guarded(rejects, breaker)
        self.doubts = Guarded(
            csv_files.RejectWriter(out_dir / "in_doubt.csv", headers, send_columns=True), breaker
        )
        self.held = csv_files.HeldWriter(out_dir / "held_activities.csv")
        self.workbook: Path | None = None
        results = csv_files.CsvOut(out_dir / "results.csv", csv_files.RESULT_COLUMNS)
        self.results = RunResults(Guarded(results, breaker))

    def close(self) -> None:
        self.rejects.close()
        self.doubts.close()
        self.held.close()
        self.results.close()
        if self.workbook is None and self.rejects.complete and self.rejects.writer.wants_workbook:
            if self.piece:
                self._write_problems()
            else:
                self._write_workbook()

    def _write_problems(self) -> None:
        from importer.outputs.reject_problems import NAME, write_problems

        path = self.out_dir / NAME
        try:
            write_problems(path, self.rejects.writer.problems)
        except OSError as exc:
            self.rejects.fail(FileWriteError(path, exc))

    def _write_workbook(self) -> None:
        from importer.outputs.problem_cells import ProblemCells
        from importer.outputs.reject_workbook import write_reject_workbook

        writer = self.rejects.writer
        path = writer.path.with_suffix(".xlsx")
        try:
            self.workbook = write_reject_workbook(
                writer.path,
                path,
                writer.problems,
                ProblemCells(self.headers, self.workbook_mapping),
            )
        except OSError as exc:  # a full disk: said like any other file of the run
            self.rejects.fail(FileWriteError(path, exc))

    def written(self) -> dict[str, Path | None]:
        """The files that got rows, by their report field."""
        return {
            "rejects_file": self.rejects.path if self.rejects.written else None,
            "rejects_workbook": self.workbook,
            "in_doubt_file": self.doubts.path if self.doubts.written else None,
            "held_file": self.held.path if self.held.written else None,
            "results_file": self.results.path if self.results.written else None,
        }


class Tally:
    """Counts of how rows and activities ended; lists rejected and in-doubt rows and held activities.

    ``held_only``: the run sends activities at most once, so every activity it
    leaves in doubt is held (never resent on its own) and listed in the held file.
    """

    def __init__(self, *, held_only: bool = False) -> None:
        self.leads: Counter[Outcome] = Counter({o: 0 for o in Outcome})
        self.activities: Counter[str] = Counter(
            {k: 0 for k in (*ACTIVITY_RESULTS, "held", "possible_duplicates")}
        )
        self.warnings = Warnings()
        self.rejects = Reasons()  # rejected rows per code, planned or refused by the server
        self.held_only = held_only
        # the run's log hears of every row the sender ends; off without a log: one check a row
        self.on_row = run_log.row_sent if run_log.enabled() else None

    def total(self) -> int:
        return sum(self.leads.values())

    def live(self) -> dict[str, int]:
        return {o.done: self.leads[o] for o in LIVE if self.leads[o]}

    def add(self, outcome: SendOutcome, cells: Callable[[], list[str]], files: RunFiles) -> None:
        self.leads[outcome.result] += 1
        if self.on_row is not None:
            self.on_row(outcome)
        self.activities["sent"] += outcome.activities_sent
        self.activities["rejected"] += outcome.activities_rejected
        self.activities["in_doubt"] += outcome.activities_in_doubt
        self.activities["not_sent"] += outcome.activities_not_sent
        self.activities["possible_duplicates"] += outcome.possible_duplicates
        if self.held_only and outcome.in_doubt_hashes:
            self._held(outcome, files.held)
        self.activities["unchanged"] += outcome.plan.activities_unchanged
        if outcome.result in (Outcome.REJECT, Outcome.IN_DOUBT):
            issue = RowIssue(
                outcome.plan.row,
                Stage.SEND,
                outcome.problems,
                outcome.http_status,
                outcome.attempts,
            )
            if outcome.result is Outcome.REJECT:
                self.rejects.add_row(issue.row, issue.problems)
            listed = files.rejects if outcome.result is Outcome.REJECT else files.doubts
            listed.reject(cells(), issue)

    def _held(self, outcome: SendOutcome, held_file: csv_files.HeldWriter) -> None:
        plan = outcome.plan
        activities = dict(plan.activities)
        for digest in outcome.in_doubt_hashes:
            self.activities["held"] += 1
            held_file.held(plan.row, plan.key, plan.lead_id, digest, activities.get(digest, {}))
