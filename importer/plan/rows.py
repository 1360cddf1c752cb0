"""What planning decides, as data: ``RowPlan`` per row, ``PlannedChunk`` per chunk.

``Checked`` is a chunk mapped and validated in a checking process, small
enough to pass back to the parent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from importer import codes
from importer.models import Outcome, Problem, RowIssue, RowWarning, Stage
from importer.plan.formatted import Formatted


@dataclass
class RowPlan:
    """What happens to one input row."""

    row: int
    key: str
    lead_id: str
    action: Outcome
    problems: list[Problem] = field(default_factory=list)
    fields: dict[str, str] | None = None  # the full lead fields (create/update)
    changed: dict[str, str] | None = None  # fields to PATCH (update)
    cleared: list[str] = field(default_factory=list)  # fields that became empty (update)
    previous: dict[str, str] | None = None  # the lead fields last confirmed (known rows)
    # (hash, activity) pairs still to send
    activities: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    activities_unchanged: int = 0
    # hashes whose earlier send is unknown, and hashes already confirmed sent
    activities_in_doubt: list[str] = field(default_factory=list)
    activities_done: list[str] = field(default_factory=list)
    resend: bool = False  # an earlier attempt failed or is in doubt
    refresh: bool = False  # unchanged, but the ledger's digest of the row needs rewriting
    digest: str | None = None  # the row's fingerprint, kept by the ledger once confirmed

    def issue(self, stage: Stage = Stage.VALIDATE) -> RowIssue:
        return RowIssue(self.row, stage, list(self.problems))


@dataclass
class PlannedChunk:
    """A chunk of input rows with what happens to each, in input order.

    Kept columnar: rows that need nothing (unchanged) or cannot be sent
    (rejected) cost no objects; ``plans`` holds the details of the rows that
    have something to send.
    """

    frame: pd.DataFrame  # raw cells of the rows read (index: row numbers), for reject files
    rows: list[int]
    keys: list[str]
    lead_ids: list[str]
    actions: list[Outcome]
    problems: dict[int, list[Problem]]  # rejected rows only
    warnings: list[RowWarning]
    plans: dict[int, RowPlan] = field(default_factory=dict)
    activities_unchanged: int = 0  # activities of unchanged rows, already sent
    # reads the cells of rows missing from ``frame`` (recognised without reading them)
    read_rows: Callable[[list[int]], pd.DataFrame] | None = None
    formatted: Formatted | None = None  # output lines made by a checking process
    # each row's digest (see importer.plan.payloads), when planned with a ledger or for a run
    digests: list[str] | None = None
    # for plan.csv: the lead fields of the rows mapped here (index: rows), the
    # row of each of their activities, and what rows unchanged since sent were
    # sent as (their lead fields and activities; ``Planner(shows_fields=True)``)
    leads: pd.DataFrame | None = None
    activity_rows: np.ndarray | None = None
    sent: dict[int, tuple[dict[str, Any], int]] = field(default_factory=dict)

    def rejects_at(self, positions: list[int]) -> list[tuple[str | None, str, list[Problem]]]:
        """(digest, key, problems) of the rejected rows at ``positions``, for known rejects."""
        digests = self.digests
        return [
            (digests[i] if digests else None, self.keys[i], self.problems.get(self.rows[i], []))
            for i in positions
        ]

    def issue(self, row: int, stage: Stage = Stage.VALIDATE) -> RowIssue:
        problems = list(self.problems.get(row, []))
        if problems and all(p.code == codes.RAGGED_ROW for p in problems):
            stage = Stage.READ  # the reader refused the row: it was never mapped
        return RowIssue(row, stage, problems)

    def cells(self, position: int) -> list[str]:
        """The raw cells of the row at ``position`` in the chunk."""
        return self.cells_at([position])[0]

    def cells_at(self, positions: list[int]) -> list[list[str]]:
        """The raw cells of many rows at once (much faster than ``cells`` one by one)."""
        if not positions:
            return []
        wanted = [self.rows[i] for i in positions]
        frame = self.frame
        missing = [r for r in wanted if r not in frame.index]
        if missing:
            assert self.read_rows is not None, "rows outside the frame need read_rows"
            extra = self.read_rows(missing)
            frame = extra if frame.empty else pd.concat([frame, extra])
        return [[str(v) for v in row] for row in frame.loc[wanted].to_numpy(dtype=object).tolist()]

    def reject(self, position: int, problem: Problem) -> None:
        row = self.rows[position]
        self.actions[position] = Outcome.REJECT
        self.problems.setdefault(row, []).append(problem)
        self.plans.pop(row, None)


@dataclass
class Checked:
    """A chunk mapped and validated for a dry run: small enough to pass between processes."""

    keys: list[str]
    lead_ids: list[str]
    problems: dict[int, list[Problem]]
    warnings: list[RowWarning]
    emails: pd.Series | None
    # hashes of the keys and emails, for judging duplicates (see importer.plan.dedupe)
    key_hashes: np.ndarray | None = None
    email_hashes: np.ndarray | None = None
    # the mapped lead fields and activity rows, for the plan.csv lines made
    # where the chunk is checked (never sent back: see importer.plan.parallel)
    leads: pd.DataFrame | None = None
    activity_rows: np.ndarray | None = None
