"""JSON payloads from mapped chunks, their hashes, and what changed since last time."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from importer import contract
from importer.mapping import MappedChunk

_INT_FIELDS = frozenset(contract.PROPERTY_INT_FIELDS)


def canonical_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the payload's canonical JSON (sorted keys, compact, UTF-8)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
