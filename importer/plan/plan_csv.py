"""plan.csv and rejects.csv lines of planned chunks.

``format_chunk`` makes the lines of both CSV files; a checking process makes
them for its own rows (and tallies its rejected rows per code), and
``write_chunk`` redoes only the heads of rows that
turned out duplicated across the file (rejected, or warned about a shared
email) before writing them. A line's head says what happens to the row and
why, its tail what a run sends (``importer.plan.shown``).
"""

from __future__ import annotations

import csv
import itertools
import operator
from collections import Counter
from collections.abc import Sequence
from typing import Any

from importer.models import Outcome
from importer.outputs.csv_files import (
    PLAN_COLUMNS,
    PLAN_HEAD,
    PLAN_TAIL,
    csv_cells,
    csv_lines,
    reject_cells,
)
from importer.outputs.reasons import Reasons
from importer.plan.formatted import Formatted
from importer.plan.rows import PlannedChunk
from importer.plan.shown import tail_cells, warning_cells, warning_counts


def format_chunk(planned: PlannedChunk) -> Formatted:
    """The output lines of every row of ``planned``."""
    head, rejects, problems, warned, rejected, reasons = _heads(planned)
    return Formatted.of([*head, *tail_cells(planned, rejected)], rejects, problems, warned, reasons)


def _heads(
    planned: PlannedChunk, positions: Sequence[int] | None = None
) -> tuple[list[Sequence[str]], dict[int, str], dict[int, int], dict[int, int], list[int], Reasons]:
    """The cells of the head columns of the rows at ``positions`` (all by
    default), the rejects.csv lines of those rejected, how many problems and
    warnings they have, the positions (among them) of the rejected ones, and
    those rows tallied per code."""
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
    warned, warning_messages, warnings = warning_cells(rows, planned.warnings)
    # row numbers, lead ids and actions are plain tokens (never formulas, never quoted);
    # codes never look like formulas
    head = csv_cells(
        list(map(str, rows)), keys, lead_ids, actions, codes, messages, warned, warning_messages,
        safe=(4, 6), plain=(0, 2, 3),
    )  # fmt: skip
    in_chunk = rejected if positions is None else [positions[i] for i in rejected]
    cells = [
        reject_cells(c, issues[i])
        for i, c in zip(rejected, planned.cells_at(in_chunk), strict=True)
    ]
    lines = csv_lines(*zip(*cells, strict=True)) if cells else []
    rejects = {rows[i]: line for i, line in zip(rejected, lines, strict=True)}
    problems = {rows[i]: len(planned.problems.get(rows[i], ())) for i in rejected}
    return head, rejects, problems, warnings, rejected, reasons


def write_chunk(
    planned: PlannedChunk, plan_out: Any, rejects: Any, counts: Counter[Outcome], reasons: Reasons
) -> Formatted:
    """Write a chunk's lines; count its rows per action and its rejected rows per code.
    Returns the lines written."""
    counts.update(planned.actions)
    formatted = planned.formatted
    if formatted is None:
        formatted = format_chunk(planned)
    else:
        _redo_changed(planned, formatted)
    reasons.merge(formatted.reasons)
    plan_out.write_text(formatted.plan, len(formatted.plan_ends))
    rejects.write_lines(list(formatted.rejects.values()))
    if rejects.workbook_rows:  # rejects.xlsx marks the cells each problem is about
        rejects.keep_problems({row: planned.problems.get(row, []) for row in formatted.rejects})
    return formatted


def _redo_changed(planned: PlannedChunk, formatted: Formatted) -> None:
    """Formatted before the duplicates across the file were known: redo the
    lines of the rows they changed (rejected, or warned about a shared email).

    Their heads are made again; the tail, the mapped values, stayed where the
    chunk was checked, so it is taken from the line as it was (cells already
    guarded: they are only quoted again), or emptied for a row now rejected.
    """
    rejected_since = {
        row
        for row, found in planned.problems.items()
        if len(found) != formatted.problems.get(row, 0)
    }
    for row in rejected_since:  # their problems then, and those found since
        formatted.reasons.add_row(
            row, planned.problems[row], already=formatted.problems.get(row, 0)
        )
    changed = set(rejected_since)
    now = warning_counts(planned.rows, planned.warnings)
    changed |= {
        r for r in now.keys() | formatted.warned.keys() if now.get(r) != formatted.warned.get(r)
    }
    if not changed:
        return
    where = {row: i for i, row in enumerate(planned.rows)}
    positions = sorted(where[row] for row in changed)
    head, redone, _, _, rejected, _ = _heads(planned, positions)
    tails = [next(csv.reader([formatted.line(p)]))[len(PLAN_HEAD) :] for p in positions]
    for i in rejected:
        tails[i] = [""] * len(PLAN_TAIL)
    tail = [list(column) for column in zip(*tails, strict=True)]
    lines = csv_lines(*head, *tail, safe=range(len(PLAN_HEAD), len(PLAN_COLUMNS)))
    formatted.replace_plan_lines(dict(zip(positions, lines, strict=True)))
    formatted.rejects.update(redone)
    formatted.rejects = dict(sorted(formatted.rejects.items()))
