"""The pieces of a spread run made one: their counts added up, their files joined.

Every piece ends each of its rows in one place, so the sums do too:
rows = created + updated + unchanged + rejected + in doubt + not sent. A piece
that never came back (its task failed for good, or the run was stopped while
it ran) may have sent some of its rows: they are counted in doubt, and the
next run settles them from the ledger.

The files a run in one process makes from all its rows are made here from the
joined ones, as that run would: rejects.xlsx from rejects.csv and the pieces'
``reject_problems`` files, and what vanished from the file (missing.csv) from
the keys of results.csv, which lists every row.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.models import Outcome, Problem
from importer.outputs import private_files, reject_problems
from importer.outputs.csv_files import unneutralise
from importer.outputs.reasons import Reasons
from importer.outputs.report import RunResult, Warnings
from importer.read.records import record_ends
from importer.settings import REJECT_WORKBOOK_MAX_ROWS

# each piece's files, joined in input order into the run's (by their report field)
JOINED = {
    "rejects_file": "rejects.csv",
    "in_doubt_file": "in_doubt.csv",
    "held_file": "held_activities.csv",
    "results_file": "results.csv",
}
_HEAD_BYTES = 1 << 16  # enough for a header record


@dataclass
class Totals:
    """The counts of the pieces that came back, and of those that did not."""

    leads: Counter[Outcome] = field(default_factory=lambda: Counter({o: 0 for o in Outcome}))
    activities: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    attempts: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    send_processes: int = 1  # each piece's (report.json's requests.send_processes)
    rejects: Reasons = field(default_factory=Reasons)
    warnings: Warnings = field(default_factory=Warnings)
    rejects_known: int = 0
    rows: int = 0
    read_to_end: bool = True
    stopped: str | None = None  # the first piece's reason to stop, or a lost piece's

    def add(self, piece: RunResult) -> None:
        """A piece that came back, with its counts."""
        self.leads.update(piece.leads)
        self.activities.update(piece.activities)
        self.attempts += piece.requests.get("total", 0)
        self.retries += piece.requests.get("retries", 0)
        self.by_status.update(piece.requests.get("by_status", {}))
        self.send_processes = max(self.send_processes, piece.requests.get("send_processes", 1))
        self.rejects.merge(piece.rejects)
        self.warnings.total += piece.warnings.total
        self.warnings.reasons.merge(piece.warnings.reasons)
        self.rejects_known += piece.rejects_known
        self.rows += piece.input.rows
        self.read_to_end = self.read_to_end and piece.read_to_end
        self.stopped = self.stopped or piece.stopped

    def lost(self, records: int, why: str) -> None:
        """A piece of ``records`` rows that never came back: they may have been sent."""
        self.leads[Outcome.IN_DOUBT] += records
        self.rows += records
        self.read_to_end = False
        self.stopped = self.stopped or why

    @property
    def requests(self) -> dict[str, Any]:
        """report.json's ``requests``, as one client's ``stats`` would say them."""
        return {"total": self.attempts, "retries": self.retries, "by_status": dict(self.by_status),
                "send_processes": self.send_processes}  # fmt: skip


def join_files(piece_dirs: Sequence[Path], out_dir: Path) -> dict[str, Path | None]:
    """Join the pieces' CSV files into ``out_dir`` (0600), in input order, one header
    each; the pieces' copies are removed (they hold the same personal data)."""
    joined: dict[str, Path | None] = {}
    for report_field, name in JOINED.items():
        parts = [d / name for d in piece_dirs if (d / name).is_file()]
        joined[report_field] = _join(parts, out_dir / name) if parts else None
        for part in parts:
            part.unlink()
    return joined


def _join(parts: list[Path], target: Path) -> Path:
    with private_files.open_private_bytes(target) as out:
        for n, part in enumerate(parts):
            with part.open("rb") as source:
                if n:  # later pieces: their BOM and header record are the first's
                    head = source.read(_HEAD_BYTES)
                    ends = record_ends(head, final=False)
                    out.write(head[int(ends[0]) :] if len(ends) else b"")
                shutil.copyfileobj(source, out)
    return target


def gather_problems(piece_dirs: Sequence[Path]) -> dict[int, list[Problem]] | None:
    """The problems of the pieces' rejected rows, for the run's rejects.xlsx; None when
    there is to be no workbook: a piece with rejects kept none (too many for a workbook,
    or it could not write them), or all of them together are too many. The pieces'
    files are removed."""
    problems: dict[int, list[Problem]] | None = {}
    for piece in piece_dirs:
        found = piece / reject_problems.NAME
        if found.is_file():
            if problems is not None:
                problems.update(reject_problems.read_problems(found))
            found.unlink()
        elif (piece / JOINED["rejects_file"]).is_file():
            problems = None
    if problems is None or len(problems) > REJECT_WORKBOOK_MAX_ROWS:
        return None
    return problems


def file_keys(results_file: Path | None) -> set[str]:
    """The key of every row results.csv lists (none without the file: no row was read)."""
    if results_file is None:
        return set()
    with results_file.open(encoding="utf-8-sig", newline="") as f:
        return {unneutralise(row["key"]) for row in csv.DictReader(f)}
