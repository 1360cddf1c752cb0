"""Blank the cells an export writes instead of "nothing", before a mapping reads them.

Some exports put a stand-in where a value is missing: Outlook writes an
Exchange directory path (``/o=ExchangeLabs/ou=...``) where an address belongs
and ``0/0/00`` for an unknown birthday; kvCORE writes the phone number as the
name of a phone-only lead. A mapping lists them under ``empty_values:``; the
matching cells count as empty for every field, group and activity, and (unless
``note: false``) their text is kept in the lead's note so nothing is lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC

import pandas as pd

from importer.mapping.spec import EmptyValues, Mapping

_MAX_GROUP_N = 50  # as far as numbered columns ("E-mail {n} Address") are looked for


def _names(pattern: str) -> list[str]:
    if "{n}" not in pattern:
        return [pattern]
    return [pattern.replace("{n}", str(n)) for n in range(1, _MAX_GROUP_N + 1)]


def _resolve(rule: EmptyValues, headers: MappingABC[str, str]) -> list[str]:
    """The frame columns a rule names (matched case- and space-insensitively)."""
    from importer.read.headers import normalize_header

    by_norm: dict[str, str] = {}
    for column, header in headers.items():
        by_norm.setdefault(normalize_header(header), column)
        by_norm.setdefault(normalize_header(column), column)
    found: list[str] = []
    for pattern in rule.columns:
        for name in _names(pattern):
            hit = by_norm.get(normalize_header(name))
            if hit is not None and hit not in found:
                found.append(hit)
    return found


def blank_empty_values(
    mapping: Mapping, frame: pd.DataFrame, headers: MappingABC[str, str]
) -> tuple[pd.DataFrame, pd.Series | None]:
    """Apply the mapping's ``empty_values`` rules to one chunk.

    ``headers`` maps each frame column to its header text. Returns the frame
    with the matching cells set to "" (a new frame when anything matched;
    ``frame`` itself is never modified) and, per row, the note lines
    ("E-mail Address (left out): /o=...") of the blanked cells that keep their
    text, or None when there are none.
    """
    if not mapping.empty_values:
        return frame, None
    out = frame
    lines: list[pd.Series] = []
    for rule in mapping.empty_values:
        matcher = re.compile("|".join(f"(?:{p})" for p in rule.patterns), re.IGNORECASE | re.DOTALL)
        for column in _resolve(rule, headers):
            values = out[column]
            hits = {v for v in values.unique() if v and matcher.fullmatch(str(v).strip())}
            if not hits:
                continue
            mask = values.isin(hits)
            if rule.note:
                label = headers.get(column, column)
                lines.append((label + " (left out): " + values[mask].astype(str)).astype(object))
            if out is frame:
                out = frame.copy(deep=False)  # the caller keeps the raw cells for reject files
            out[column] = values.where(~mask, "")
    if not lines:
        return out, None
    stacked = pd.concat(lines)
    joined = stacked.groupby(level=0, sort=False).agg("\n".join)
    return out, joined.reindex(frame.index, fill_value="").astype(object)
