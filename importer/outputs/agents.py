"""The owners of an export and the Real Geeks users they match: agents.csv and report.json's ``agents``.

``rg-import plan`` lists each owner value of the export (per owner column:
``agent``, ``lender``) with its row count and what it matched. agents.csv is
also the format of ``--agent-map``: complete its ``user`` column (a user's id
or email) where it is empty, and give it back; only ``owner`` and ``user`` are
read, so the other columns can stay.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.errors import ConfigError
from importer.mapping.owners import OwnerMatch
from importer.outputs.csv_files import CsvOut, unneutralise

AGENT_COLUMNS = (
    "role",
    "owner",
    "rows",
    "match",
    "how",
    "user",
    "user_name",
    "user_email",
    "candidates",
)


@dataclass(frozen=True)
class AgentLine:
    """One owner value of one owner column, its rows and its match."""

    role: str  # "agent" or "lender"
    owner: str
    rows: int
    match: OwnerMatch

    def cells(self) -> list[str]:
        user, m = self.match.user, self.match
        candidates = "; ".join(f"{p.name} <{p.email}> {p.id}" for p in m.candidates)
        return [
            self.role, self.owner, str(self.rows), m.status, m.how,
            user.id if user else "", user.name if user else "", user.email if user else "",
            candidates,
        ]  # fmt: skip

    def as_json(self) -> dict[str, Any]:
        m, user = self.match, self.match.user
        return {
            "role": self.role, "owner": self.owner, "rows": self.rows, "match": m.status,
            "how": m.how or None, "user": user.id if user else None,
            "user_name": user.name if user else None, "user_email": (user.email or None) if user else None,
            "candidates": [{"id": p.id, "name": p.name, "email": p.email} for p in m.candidates],
        }  # fmt: skip


@dataclass(frozen=True)
class AgentReport:
    """What plan found about owners: the lines, or why it did not check them."""

    checked: bool
    lines: tuple[AgentLine, ...] = ()
    reason: str = ""  # why not checked
    file: Path | None = None  # agents.csv

    def rows(self, status: str) -> int:
        return sum(line.rows for line in self.lines if line.match.status == status)

    def as_json(self) -> dict[str, Any]:
        if not self.checked:
            return {"checked": False, "reason": self.reason}
        return {
            "checked": True,
            "rows": {s: self.rows(s) for s in ("matched", "unknown", "ambiguous")},
            "owners": [line.as_json() for line in self.lines],
            "file": str(self.file) if self.file else None,
        }


def write_agents_csv(path: Path, lines: Sequence[AgentLine]) -> Path | None:
    """agents.csv (owner-only, formulas neutralised): one line per owner value;
    none when the export names no owner."""
    out = CsvOut(path, AGENT_COLUMNS)
    try:
        for line in lines:
            out.write(line.cells())
    finally:
        out.close()
    return path if out.written else None


def read_agent_map(path: Path) -> dict[str, str]:
    """``--agent-map``: the export's owner value → a user's id or email.

    Lines whose ``user`` is empty are skipped (an agents.csv not yet completed).
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"--agent-map {path}: cannot be read ({exc}); give a UTF-8 CSV file"
        ) from exc
    header = [unneutralise(h).strip().casefold() for h in (rows[0] if rows else [])]
    if "owner" not in header or "user" not in header:
        raise ConfigError(
            f"--agent-map {path}: needs the columns owner and user (a user id or email); "
            "start from agents.csv of rg-import plan"
        )
    at_owner, at_user = header.index("owner"), header.index("user")
    found: dict[str, str] = {}
    for n, row in enumerate(rows[1:], start=2):
        cells = [unneutralise(c).strip() for c in row]
        owner = cells[at_owner] if at_owner < len(cells) else ""
        user = cells[at_user] if at_user < len(cells) else ""
        if not owner or not user:
            continue
        if found.get(owner, user) != user:
            raise ConfigError(
                f"--agent-map {path} line {n}: {owner!r} is given two users "
                f"({found[owner]!r} and {user!r}); keep one"
            )
        found[owner] = user
    return found
