"""JSON payloads from mapped chunks, their hashes, and what changed since last time.

Hashes are the ledger's ``payload_hash``: one canonical JSON everywhere.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from importer import contract
from importer.mapping import MappedChunk

_INT_FIELDS = frozenset(contract.PROPERTY_INT_FIELDS)


def lead_fields(chunk: MappedChunk) -> dict[int, dict[str, str]]:
    """Per source row, the non-empty lead fields (no id, no activities)."""
    columns = list(chunk.leads.columns)
    values = [chunk.leads[c].tolist() for c in columns]
    rows = [int(r) for r in chunk.index]
    return (
        {
            row: {c: v for c, v in zip(columns, cells, strict=True) if v}
            for row, cells in zip(rows, zip(*values, strict=True), strict=True)
        }
        if columns
        else {row: {} for row in rows}
    )


def activities_by_row(chunk: MappedChunk) -> dict[int, list[dict[str, Any]]]:
    """Per source row, its activities as API objects, in mapping order."""
    acts = chunk.activities
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not len(acts):
        return out
    prop_cols = [c for c in acts.columns if c.startswith("property.")]
    base = ["type", "source", "description", "created"]
    for record in zip(*(acts[c].tolist() for c in ["_row", *base, *prop_cols]), strict=True):
        row, atype, source, description, created, *props = record
        activity: dict[str, Any] = {"type": atype, "source": source, "description": description}
        if created:
            activity["created"] = created
        if props:
            prop = {
                name.removeprefix("property."): int(v)
                if name.removeprefix("property.") in _INT_FIELDS
                else v
                for name, v in zip(prop_cols, props, strict=True)
                if v
            }
            if prop:
                activity["property"] = prop
        out[int(row)].append(activity)
    return out


def changed_fields(
    old: Mapping[str, str] | None, new: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Fields to PATCH (new or different values) and fields that became empty."""
    old = old or {}
    changed = {k: v for k, v in new.items() if old.get(k) != v}
    cleared = sorted(k for k in old if k not in new)
    return changed, cleared


ACTIVITIES_KEY = "_activities"


def ledger_payload(fields: Mapping[str, str], activity_hashes: list[str]) -> dict[str, Any]:
    """What the ledger keeps for a row: its lead fields and its confirmed activities' hashes."""
    return {**fields, ACTIVITIES_KEY: sorted(set(activity_hashes))}


def lead_part(stored: Mapping[str, Any]) -> dict[str, str]:
    """The lead fields of a stored ledger payload."""
    return {k: v for k, v in stored.items() if k != ACTIVITIES_KEY}
