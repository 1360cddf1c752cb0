"""What ``rg-import plan`` shows of the assignment: every owner of the export, its rows and its match.

The owner columns are counted in a pass of their own over the file (planning
maps only the rows it must, and in several processes), then each distinct
value is matched once against the run's ``Directory``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from importer.mapping.binding import bind
from importer.mapping.spec import Mapping
from importer.normalize import transforms as T
from importer.outputs.agents import AgentLine, AgentReport, write_agents_csv

if TYPE_CHECKING:
    from importer.read.options import ReadOptions


def agent_report(
    mapping: Mapping, path: Path, options: ReadOptions, out_dir: Path, unchecked: str
) -> AgentReport | None:
    """The owners and their matches, written to ``out_dir``/agents.csv; None
    without ``assign:`` (or with ``--assign off``)."""
    spec = mapping.assign
    if spec is None:
        return None
    if spec.directory is None:
        return AgentReport(checked=False, reason=unchecked)
    counts = _owner_counts(mapping, path, options)
    lines = tuple(
        AgentLine(role, owner, n, spec.directory.match(owner))
        for (role, owner), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))
    )
    written = write_agents_csv(out_dir / "agents.csv", lines)
    return AgentReport(checked=True, lines=lines, file=written)


def _owner_counts(mapping: Mapping, path: Path, options: ReadOptions) -> Counter[tuple[str, str]]:
    """Rows per (role, owner value), empty cells left out (per row, the first
    non-empty of a role's columns)."""
    from importer.read.table import open_table

    assert mapping.assign is not None
    counts: Counter[tuple[str, str]] = Counter()
    with open_table(path, options) as table:
        bound = bind(mapping, table.info.columns, table.info.headers)
        roles = [
            (role, [c for c in (bound.col(n) for n in names) if c is not None])
            for role, names in mapping.assign.roles
        ]
        for chunk in table.chunks():
            for role, cols in roles:
                values = pd.Series("", index=chunk.index, dtype=object)
                for col in cols:
                    values = values.where(values != "", T.clean_text(chunk[col]))
                counts.update((role, v) for v in values[values != ""].tolist())
    return counts
