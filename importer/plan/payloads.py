"""JSON payloads from mapped chunks, row digests, and what changed since last time.

Payload hashes are the ledger's ``payload_hash`` (one canonical JSON
everywhere). A row digest is a quick 64-bit fingerprint of a source row's raw
cells, salted with the mapping; the ledger keeps it with each confirmed row so
that a re-run recognises unchanged rows without mapping them at all. A row
whose digest differs goes down the exact path (payload by payload), so a
digest can only make a changed row look unchanged through a 64-bit collision
with its own previous digest.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from importer import api_contract as contract
from importer.mapping.apply import MappedChunk
from importer.mapping.assign import USER_ID

_INT_FIELDS = frozenset(contract.PROPERTY_INT_FIELDS)


def lead_fields(
    chunk: MappedChunk, rows: Collection[int] | None = None
) -> dict[int, dict[str, str]]:
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
    users = acts[USER_ID].tolist() if USER_ID in acts.columns else [""] * len(acts)
    columns = (acts[c].tolist() for c in ["_row", *base, *prop_cols])
    for user, record in zip(users, zip(*columns, strict=True), strict=True):
        row, atype, source, description, created, *props = record
        activity: dict[str, Any] = {"type": atype, "source": source, "description": description}
        if created:
            activity["created"] = created
        if user:  # was_assigned: the Real Geeks user (importer.mapping.assign)
            activity["user"] = {"id": user}
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


def digest_key(mapping: Any, columns: Sequence[str]) -> str:
    """The 16-character hash key of raw-row digests for one mapping and header.

    A change to the mapping file, the file's columns or this tool's version
    changes every digest, so every row is then mapped and compared again.
    """
    from importer import __version__

    seed = "\x1f".join([__version__, mapping.fingerprint, *columns])
    return hashlib.sha256(seed.encode("utf-8")).hexdigest()[:16]


def raw_digests(frame: pd.DataFrame, key: str) -> list[str]:
    """A 64-bit fingerprint (16 hex characters) of each row's raw cells.

    Computed for the whole chunk at once; a re-run uses it to find the rows
    that are exactly as last sent without mapping them.
    """
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key=key, categorize=False)
    return [f"{h:016x}" for h in hashed.tolist()]


def record_digests(records: list[bytes], key: str) -> list[str]:
    """A 64-bit fingerprint (16 hex characters) of each raw record's bytes.

    What ``raw_digests`` is for parsed cells, for rows not parsed at all
    (``importer.read.records``); the two never match each other.
    """
    if not records:
        return []
    hashed = pd.util.hash_array(np.array(records, dtype=object), hash_key=key, categorize=False)
    text = hashed.astype(">u8").tobytes().hex()
    return [text[i : i + 16] for i in range(0, len(text), 16)]


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
