"""JSON payloads from mapped chunks, row digests, and what changed since last time.

Payload hashes are the ledger's ``payload_hash`` (one canonical JSON
everywhere). A row digest is a quick 128-bit fingerprint of everything a row
would send (lead fields and activities), computed for a whole chunk at once;
the ledger keeps it so that a re-run recognises unchanged rows without
building their payloads. A digest that differs only sends the row down the
exact path (payload by payload), so it can never make a changed row look
unchanged for longer than a hash collision.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from importer import contract
from importer.mapping import MappedChunk

_INT_FIELDS = frozenset(contract.PROPERTY_INT_FIELDS)
_KEYS = ("rg-import-dig-01", "rg-import-dig-02")  # pandas hash keys: 16 characters each
_MULTIPLIER = np.uint64(0x100000001B3)  # FNV prime: mixes columns in order


def lead_fields(chunk: MappedChunk, rows: Collection[int] | None = None) -> dict[int, dict[str, str]]:
    """Per source row (all, or those in ``rows``), the non-empty lead fields."""
    columns = list(chunk.leads.columns)
    frame = chunk.leads if rows is None else chunk.leads[chunk.leads.index.isin(list(rows))]
    values = [frame[c].tolist() for c in columns]
    row_numbers = [int(r) for r in frame.index]
    if not columns:
        return {row: {} for row in row_numbers}
    return {
        row: {c: v for c, v in zip(columns, cells, strict=True) if v}
        for row, cells in zip(row_numbers, zip(*values, strict=True), strict=True)
    }


def activities_by_row(
    chunk: MappedChunk, rows: Collection[int] | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Per source row (all, or those in ``rows``), its activities as API objects, in order."""
    acts = chunk.activities
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not len(acts):
        return out
    if rows is not None:
        acts = acts[acts["_row"].isin(list(rows))]
    prop_cols = [c for c in acts.columns if c.startswith("property.")]
    base = ["type", "source", "description", "created"]
    for record in zip(*(acts[c].tolist() for c in ["_row", *base, *prop_cols]), strict=True):
        row, atype, source, description, created, *props = record
        activity: dict[str, Any] = {"type": atype, "source": source, "description": description}
        if created:
            activity["created"] = created
        if props:
            prop = {}
            for name, v in zip(prop_cols, props, strict=True):
                if v:
                    field = name.removeprefix("property.")
                    prop[field] = int(v) if field in _INT_FIELDS else v
            if prop:
                activity["property"] = prop
        out[int(row)].append(activity)
    return out


def activity_counts(chunk: MappedChunk) -> dict[int, int]:
    """How many activities each source row has."""
    if not len(chunk.activities):
        return {}
    return {int(k): int(v) for k, v in chunk.activities["_row"].value_counts().items()}


def _column_hash(values: np.ndarray, key: str) -> np.ndarray:
    return pd.util.hash_array(values, hash_key=key, categorize=False)


def _frame_hash(frame: pd.DataFrame, key: str) -> np.ndarray:
    """One uint64 per row over the named columns, in sorted column order."""
    h = np.zeros(len(frame), dtype=np.uint64)
    for col in sorted(frame.columns):
        name = _column_hash(np.array([col], dtype=object), key)[0]
        h = h * _MULTIPLIER + (_column_hash(frame[col].to_numpy(dtype=object), key) ^ name)
    return h


def row_digests(chunk: MappedChunk) -> list[str]:
    """A 128-bit fingerprint (32 hex characters) per row of the chunk."""
    index = chunk.index
    acts = chunk.activities
    parts: list[np.ndarray] = []
    for key in _KEYS:
        h = _frame_hash(chunk.leads, key)
        if len(acts):
            per_activity = _frame_hash(acts.drop(columns="_row"), key)
            # position of each activity within its row, so order and repeats count
            order = acts.groupby("_row", sort=False).cumcount().to_numpy().astype(np.uint64)
            weight = order * np.uint64(2) + np.uint64(1)
            where = index.get_indexer(acts["_row"])
            total = np.zeros(len(index), dtype=np.uint64)
            np.add.at(total, where, per_activity * weight)
            h = h * _MULTIPLIER + total
        parts.append(h)
    return [f"{a:016x}{b:016x}" for a, b in zip(parts[0].tolist(), parts[1].tolist(), strict=True)]


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
