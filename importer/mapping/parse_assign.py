"""Checking the ``assign:`` section of a mapping file (see ``importer.mapping.parse``).

assign: {agent: Assigned To, lender: Lender, match: [email, name]}
"""

from __future__ import annotations

from typing import Any

from importer.mapping.owners import MATCH_METHODS
from importer.mapping.reader import MappingReader
from importer.mapping.spec import AssignSpec


def parse_assign(p: MappingReader, raw: Any, kind: str) -> AssignSpec | None:
    """The ``assign:`` section, or None when the file has none."""
    if raw is None:
        return None
    data = p.mapping(raw, "assign")
    p.unknown_keys(data, {"agent", "lender", "match", "optional"}, "assign")
    if kind == "activity":
        raise p.fail("assign", "only a lead mapping assigns owners; leave assign: out")
    agent = p.texts(data.get("agent"), "assign.agent")
    lender = p.texts(data.get("lender"), "assign.lender")
    for role, names in (("agent", agent), ("lender", lender)):
        if any(not n.strip() for n in names):
            raise p.fail(f"assign.{role}", "a column name must not be empty")
    if not agent and not lender:
        raise p.fail("assign", "name the owner column, e.g. assign: {agent: Assigned To}")
    match = p.texts(data.get("match"), "assign.match") or MATCH_METHODS
    for method in match:
        if method not in MATCH_METHODS:
            raise p.fail(
                "assign.match", f"{method!r} is not a way to match; use {list(MATCH_METHODS)}"
            )
    if len(set(match)) != len(match):
        raise p.fail("assign.match", "each way to match at most once, e.g. [email, name]")
    optional = data.get("optional", False)
    if not isinstance(optional, bool):
        raise p.fail("assign.optional", "expected true or false")
    return AssignSpec(agent=agent, lender=lender, match=match, optional=optional)
