"""plan.csv and rejects.csv lines of planned chunks.

``format_chunk`` makes the lines of both CSV files; a checking process makes
them for its own rows (and tallies its rejected rows per code), and
``write_chunk`` redoes only those of rows that turned out duplicated across
the file before writing them.
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from collections.abc import Sequence
from typing import Any

from importer.models import Outcome
from importer.outputs.csv_files import csv_lines, reject_cells
from importer.outputs.reasons import Reasons
from importer.plan.formatted import Formatted
from importer.plan.rows import PlannedChunk


def format_chunk(planned: PlannedChunk, positions: Sequence[int] | None = None) -> Formatted:
    """The output lines of the rows at ``positions`` (all by default)."""
    rows, keys, lead_ids, actions = planned.rows, planned.keys, planned.lead_ids, planned.actions
    if positions is not None:
        rows = [rows[i] for i in positions]
        keys = [keys[i] for i in positions]
        lead_ids = [lead_ids[i] for i in positions]
        actions = [actions[i] for i in positions]
    # positions among those rows (one C-level pass: a loop per row costs more at 33k rows)
    rejected = list(
        itertools.compress(
            range(len(actions)), map(operator.is_, actions, itertools.repeat(Outcome.REJECT))
        )
    )
    codes = [""] * len(rows)
    messages = [""] * len(rows)
    issues = {}
    reasons = Reasons()
    for i in rejected:
        issue = issues[i] = planned.issue(rows[i])
        codes[i], messages[i] = issue.codes, issue.message
        reasons.add_row(rows[i], issue.problems)
    # row numbers, lead ids and actions are plain tokens (never formulas, never quoted);
    # codes never look like formulas
    plan = csv_lines(
        list(map(str, rows)), keys, lead_ids, actions, codes, messages, safe=(4,), plain=(0, 2, 3)
    )
    in_chunk = rejected if positions is None else [positions[i] for i in rejected]
    cells = [
        reject_cells(c, issues[i])
        for i, c in zip(rejected, planned.cells_at(in_chunk), strict=True)
    ]
    lines = csv_lines(*zip(*cells, strict=True)) if cells else []
    return Formatted.of(
        plan,
        {rows[i]: line for i, line in zip(rejected, lines, strict=True)},
        {rows[i]: len(planned.problems.get(rows[i], ())) for i in rejected},
        reasons,
    )


def write_chunk(
    planned: PlannedChunk, plan_out: Any, rejects: Any, counts: Counter[Outcome], reasons: Reasons
) -> None:
    """Write a chunk's lines; count its rows per action and its rejected rows per code."""
    counts.update(planned.actions)
    formatted = planned.formatted
    if formatted is None:
        formatted = format_chunk(planned)
    else:
        # formatted before the duplicates across the file were known: redo the rows they changed
        changed = [
            row
            for row, found in planned.problems.items()
            if len(found) != formatted.problems.get(row, 0)
        ]
        if changed:
            where = {row: i for i, row in enumerate(planned.rows)}
            positions = [where[row] for row in changed]
            redone = format_chunk(planned, positions)
            formatted.replace_plan_lines(dict(zip(positions, redone.plan_lines, strict=True)))
            formatted.rejects.update(redone.rejects)
            formatted.rejects = dict(sorted(formatted.rejects.items()))
            for row in changed:  # their problems then, and those found since
                formatted.reasons.add_row(
                    row, planned.problems[row], already=formatted.problems.get(row, 0)
                )
    reasons.merge(formatted.reasons)
    plan_out.write_text(formatted.plan, len(formatted.plan_ends))
    rejects.write_lines(list(formatted.rejects.values()))
    if rejects.workbook_rows:  # rejects.xlsx marks the cells each problem is about
        rejects.keep_problems({row: planned.problems.get(row, []) for row in formatted.rejects})
