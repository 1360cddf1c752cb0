"""What plan.csv shows of a row besides its action: its warnings, and what a run sends.

The head of a plan.csv line says what happens to the row and why: its reject
codes and message, then its warning codes and messages (a row sent with a
warning is as easy to filter for as a rejected one). The tail shows what a run
sends for it, so a mapping can be checked in a spreadsheet before anything is
sent: the lead fields in the contract's order (``PLAN_FIELDS``), how many
activities the row carries, and for an update what changes since the ledger
last confirmed the lead. A rejected row sends nothing and its tail is empty
(its cells are in rejects.csv); a row the planner recognised as unchanged
without mapping it shows what it was sent as, read back from the ledger
(``Planner(shows_fields=True)``).
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from importer.models import Outcome, RowWarning
from importer.outputs.csv_files import PLAN_FIELDS, csv_cells
from importer.plan.rows import PlannedChunk, RowPlan

EMPTY = "(empty)"  # how a changes cell shows a field without a value


def warning_cells(
    rows: Sequence[int], warnings: Sequence[RowWarning]
) -> tuple[list[str], list[str], dict[int, int]]:
    """Per row, its warning codes (each once, in order) and messages, and how
    many warnings each row with some has."""
    by_row: dict[int, list[RowWarning]] = {}
    for w in warnings:
        if w.row is not None:
            by_row.setdefault(w.row, []).append(w)
    codes, messages = [""] * len(rows), [""] * len(rows)
    counts: dict[int, int] = {}
    for row, found in by_row.items():
        # rows ascend: each warned row is found by bisection, not by a test per row
        i = bisect.bisect_left(rows, row)
        if i == len(rows) or rows[i] != row:
            i = next((j for j, r in enumerate(rows) if r == row), -1)
            if i < 0:
                continue  # not a row of these
        codes[i] = ";".join(dict.fromkeys(w.code for w in found))
        messages[i] = "; ".join(w.message for w in found)
        counts[row] = len(found)
    return codes, messages, counts


def warning_counts(rows: Sequence[int], warnings: Sequence[RowWarning]) -> dict[int, int]:
    """How many warnings each row of ``rows`` with some has."""
    within = set(rows)
    return dict(Counter(w.row for w in warnings if w.row is not None and w.row in within))


def tail_cells(planned: PlannedChunk, rejected: Sequence[int]) -> list[Sequence[str]]:
    """The cells of every row's tail (``rejected``: positions of rejected rows)."""
    columns = _field_columns(planned, rejected)
    counts = _activity_counts(planned, rejected)
    changes = _changes(planned)
    # the counts are digits: never a formula, never quoted
    return csv_cells(*columns, counts, changes, plain=(len(columns),))


def _field_columns(planned: PlannedChunk, rejected: Sequence[int]) -> list[list[str]]:
    rows, leads, n = planned.rows, planned.leads, len(planned.rows)
    blank = [""] * n
    columns = [blank] * len(PLAN_FIELDS)
    if leads is not None and len(leads):
        # mapped rows are some of ``rows``, in the same order: all of them when as many
        if len(leads) != n:
            leads = leads.reindex(rows, fill_value="")
        have = set(leads.columns)
        columns = [leads[f].tolist() if f in have else blank for f in PLAN_FIELDS]
        for column in columns:
            if column is not blank:
                for i in rejected:
                    column[i] = ""
    positions, sent = _sent(planned, rejected)
    if positions:
        payloads = [payload for payload, _ in sent]
        # field by field: one comprehension each, not a loop over rows and fields
        values = [[p.get(name, "") for p in payloads] for name in PLAN_FIELDS]
        if len(positions) == n:  # a chunk of rows all unchanged since sent
            return values
        columns = [[""] * n if c is blank else c for c in columns]
        for column, shown in zip(columns, values, strict=True):
            for i, value in zip(positions, shown, strict=True):
                column[i] = value
    return columns


def _sent(
    planned: PlannedChunk, rejected: Sequence[int]
) -> tuple[list[int], list[tuple[dict[str, Any], int]]]:
    """The positions of rows shown as they were sent (not rejected now: a
    duplicate of another row's key), and what they were sent as."""
    if not planned.sent:
        return [], []
    refused = set(rejected)
    sent = planned.sent
    positions = [i for i, row in enumerate(planned.rows) if row in sent and i not in refused]
    return positions, [sent[planned.rows[i]] for i in positions]


def _activity_counts(planned: PlannedChunk, rejected: Sequence[int]) -> list[str]:
    rows, leads, n = planned.rows, planned.leads, len(planned.rows)
    out = [""] * n
    if leads is not None and len(leads):
        index = pd.Index(np.asarray(rows, dtype=np.int64))  # (from a list: inferred cell by cell)
        found = planned.activity_rows
        # each activity's position among the rows
        at = index.get_indexer(pd.Index([] if found is None else found, dtype="int64"))
        counts = list(map(str, np.bincount(at[at >= 0], minlength=n).tolist()))
        if len(leads) == n:
            out = counts
        else:
            for i in index.get_indexer(leads.index).tolist():
                out[i] = counts[i]
        for i in rejected:
            out[i] = ""
    positions, sent = _sent(planned, rejected)
    for i, (_, count) in zip(positions, sent, strict=True):
        out[i] = str(count)
    return out


def _changes(planned: PlannedChunk) -> list[str]:
    rows, n = planned.rows, len(planned.rows)
    out = [""] * n
    updates = itertools.compress(
        range(n), map(operator.is_, planned.actions, itertools.repeat(Outcome.UPDATE))
    )
    for i in updates:
        plan = planned.plans.get(rows[i])
        if plan is not None:
            out[i] = changes_text(plan)
    return out


def changes_text(plan: RowPlan) -> str:
    """What an update changes: ``phone: (808) 555-0100 → (808) 555-0101; ...``.

    Fields in the contract's order, each from the value last confirmed to the
    one in the file (``(empty)`` for none: a field the file emptied shows
    ``→ (empty)``), then the activities still to send.
    """
    before, after = plan.previous or {}, plan.fields or {}
    names = [f for f in PLAN_FIELDS if before.get(f, "") != after.get(f, "")]
    # a field outside the contract's text fields is never sent, but show it if it differs
    names += sorted(
        f for f in {*before, *after} - set(PLAN_FIELDS) if before.get(f, "") != after.get(f, "")
    )
    parts = [f"{f}: {before.get(f) or EMPTY} → {after.get(f) or EMPTY}" for f in names]
    if plan.activities:
        parts.append(f"activities: {len(plan.activities)} to send")
    if plan.resend:
        parts.insert(0, "all fields sent again (the last update may not have arrived)")
    return "; ".join(parts)
