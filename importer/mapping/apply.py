"""Apply a mapping to a chunk of rows: source columns in, Real Geeks fields out.

Everything here works on whole columns (pandas Series) so a 50,000-row chunk
is mapped in a handful of vectorised passes. A value that cannot be normalised
becomes a ``Problem`` of its row (``on_invalid: reject``, the default) or a
warning whose original text is kept in the row's note (``on_invalid: drop``);
nothing is dropped silently.

The result, ``MappedChunk``, holds the canonical frames that
``importer.validate.chunk`` checks: one row of lead fields per source row, and a
long frame of activities (several per source row).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from importer import api_contract as contract
from importer import codes
from importer.mapping.binding import BoundMapping
from importer.mapping.parts import activities_frame, fill_group
from importer.mapping.spec import Mapping, ValueSpec
from importer.mapping.values import FIELD_ORDER, Collector, Evaluator
from importer.models import Problem, RowWarning
from importer.normalize.names import split_name

# Lead ids are uuid5 of "site|source|key" in this namespace, so the same row of
# the same source always gets the same id on the same site, on any machine.
LEAD_ID_NAMESPACE = uuid.UUID("5b0f4a7e-3c1d-4f0e-9a57-6d2b9c1e8f40")

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_SHOWN_VALUE = 60  # characters of a bad value quoted in a message


def lead_id_for(site: str, source: str, key: str) -> str:
    """The deterministic lead id of a source key on a site."""
    return str(uuid.uuid5(LEAD_ID_NAMESPACE, f"{site}|{source}|{key}"))


def lead_ids_for(site: str, source: str, keys: Sequence[str]) -> list[str]:
    """``lead_id_for`` of many keys ("" for an empty key), several times faster.

    The same RFC 4122 version-5 UUIDs: one pre-seeded SHA-1 copied per key,
    then the version bits and the dashed hex text set for all keys at once.
    """
    seeded = hashlib.sha1(
        LEAD_ID_NAMESPACE.bytes + f"{site}|{source}|".encode(), usedforsecurity=False
    )
    copy = seeded.copy

    def digest(key: str) -> bytes:
        h = copy()
        h.update(key.encode())
        return h.digest()[:16]

    present = [i for i, key in enumerate(keys) if key]
    if not present:
        return [""] * len(keys)
    raw = np.frombuffer(b"".join([digest(keys[i]) for i in present]), dtype=np.uint8)
    octets = raw.reshape(-1, 16).copy()
    octets[:, 6] = (octets[:, 6] & 0x0F) | 0x50  # version 5
    octets[:, 8] = (octets[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    text = np.full((len(octets), 36), ord("-"), dtype=np.uint8)
    text[:, _HEX_HIGH] = _HEX_DIGITS[octets >> 4]
    text[:, _HEX_LOW] = _HEX_DIGITS[octets & 0x0F]
    joined = text.tobytes().decode("ascii")
    ids = [joined[i : i + 36] for i in range(0, len(joined), 36)]
    if len(present) == len(keys):
        return ids
    out = [""] * len(keys)
    for i, lead_id in zip(present, ids, strict=True):
        out[i] = lead_id
    return out


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
# where the two hex digits of each of the 16 octets go in "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_HEX_POSITIONS = [i for i in range(36) if i not in (8, 13, 18, 23)]
_HEX_HIGH, _HEX_LOW = _HEX_POSITIONS[0::2], _HEX_POSITIONS[1::2]


# --------------------------------------------------------------------------- binding


# --------------------------------------------------------------------------- result


@dataclass
class MappedChunk:
    """The canonical frames of one chunk, with every problem found on the way."""

    index: pd.Index  # spreadsheet row numbers
    keys: pd.Series  # source key per row ("" when none could be made)
    lead_ids: pd.Series  # deterministic lead id per row ("" without a site)
    leads: pd.DataFrame  # Real Geeks lead fields, str, "" for empty
    activities: pd.DataFrame  # long: _row, type, source, description, created, property.<f>
    problems: dict[int, list[Problem]] = field(default_factory=dict)
    warnings: list[RowWarning] = field(default_factory=list)
    emails: pd.Series | None = None  # normalised email per row, for duplicate warnings
    # (``notes=False``) the rows whose note of other details was not written
    note_rows: pd.Index | None = None


# --------------------------------------------------------------------------- values


# --------------------------------------------------------------------------- the chunk


_TEXT = pd.StringDtype("python", na_value=np.nan)  # pandas' default "str" dtype

# Fields whose value decides whether a row can be sent.
_CHECKED_FIELDS = frozenset(contract.CONTACT_FIELDS) | {"role", "created", "zip", "region"}


def _can_matter(name: str, spec: ValueSpec) -> bool:
    """Whether a field can make its row invalid, or feeds another field or the key."""
    if name in _CHECKED_FIELDS:
        return True
    return any(
        t.name not in ("text", "multiline", "lower", "upper", "title") for t in spec.transforms
    )


def map_chunk(
    bound: BoundMapping,
    frame: pd.DataFrame,
    *,
    site: str | None,
    full: bool = True,
    notes: bool = True,
) -> MappedChunk:
    """Map one chunk of source rows (index = spreadsheet row numbers).

    ``full=False`` is for a dry run that only needs to know which rows are
    valid: values that cannot be invalid and nothing else depends on (a
    ``source_details`` template, the note of leftover columns) are not built.
    ``notes=False`` is for a dry run that shows every lead field: the note
    activity of other details (leftover columns, values left out) is not
    written, only its rows named (``note_rows``), so activities can be counted.
    """
    mapping = bound.mapping
    issues = Collector(frame.index)
    if mapping.empty_values:
        from importer.mapping.empty_values import blank_empty_values

        frame, left_out = blank_empty_values(mapping, frame, bound.headers)
        if left_out is not None:
            issues.note(left_out)
    ev = Evaluator(bound, frame, issues)
    fields = _lead_fields(ev, bound, issues, full)
    keys, source_for_ids = _keys(ev, mapping, fields, issues)
    leftover = full and mapping.unmapped == "note" and bound.unmapped
    if leftover and notes:
        issues.note(_unmapped_lines(ev, bound))
    leads = _leads_frame(mapping, fields, frame.index)
    activities = activities_frame(ev, mapping, fields, issues, notes=full and notes)
    note_rows = None
    if full and not notes:
        present = pd.Series(False, index=frame.index)
        if mapping.kind != "activity":  # (an activity file's rows have no note of their own)
            present |= issues.note_text() != ""
            for col in bound.unmapped if leftover else ():
                present |= ev.clean(col, multiline=True) != ""
        note_rows = frame.index[present.to_numpy()]
    lead_ids = (
        pd.Series(
            lead_ids_for(site, source_for_ids, keys.tolist()), index=frame.index, dtype=object
        )
        if site
        else pd.Series("", index=frame.index, dtype=object)
    )
    emails = fields.get("email")
    return MappedChunk(
        index=frame.index,
        keys=keys,
        lead_ids=lead_ids,
        leads=leads,
        activities=activities,
        problems=dict(issues.problems),
        warnings=issues.warnings,
        emails=emails,
        note_rows=note_rows,
    )


def _lead_fields(
    ev: Evaluator, bound: BoundMapping, issues: Collector, full: bool
) -> dict[str, pd.Series]:
    """Every lead field's values: single fields in ``FIELD_ORDER``, then
    groups, then names from the whole-name column; bad secondary values settled."""
    mapping = bound.mapping
    fields: dict[str, pd.Series] = {}
    for name in sorted(mapping.fields, key=lambda f: FIELD_ORDER.get(f, 1)):
        if not full and not _can_matter(name, mapping.fields[name]):
            fields[name] = ev.empty
            continue
        fields[name] = ev.value(mapping.fields[name], name, fields)
    for group, cols in zip(mapping.groups, bound.groups, strict=True):
        fields.update(fill_group(ev, group, cols))
    if mapping.full_name is not None:
        _fill_names(ev, mapping.full_name, fields)
    _settle(issues, fields, ev.empty)
    return fields


def _keys(
    ev: Evaluator, mapping: Mapping, fields: dict[str, pd.Series], issues: Collector
) -> tuple[pd.Series, str]:
    """Each row's source key (a problem where there is none), and the source
    its lead id is made with."""
    if mapping.kind == "activity":
        keys = _link_keys(ev, mapping)
        source_for_ids = mapping.link.source if mapping.link else mapping.source
    else:
        keys = _row_keys(ev, mapping, fields)
        source_for_ids = mapping.source
    no_key = keys == ""
    for row in keys.index[no_key]:
        what = (
            "the link column" if mapping.kind == "activity" else "an ID, email or phone with a name"
        )
        issues.problems[int(row)].append(
            Problem(
                codes.MISSING_KEY,
                f"no key to identify this row: give it {what} so re-runs do not duplicate it",
            )
        )
    return keys, source_for_ids


def _leads_frame(mapping: Mapping, fields: dict[str, pd.Series], index: pd.Index) -> pd.DataFrame:
    leads = pd.DataFrame(fields, index=index)
    if mapping.kind == "lead":
        leads.insert(0, "source", mapping.source)
    # text columns with the string dtype: pandera then checks the dtype, not each cell
    return leads.astype({c: _TEXT for c in leads.columns if leads[c].dtype == object})


def _fill_names(ev: Evaluator, spec: ValueSpec, fields: dict[str, pd.Series]) -> None:
    """Split the whole-name column into first and last name where both are
    empty; a row with either keeps its names as they are (never doubled)."""
    first, last = fields.get("first_name", ev.empty), fields.get("last_name", ev.empty)
    gap = (first == "") & (last == "")
    if not gap.any():
        return
    sub = ev.subset(gap)
    whole = sub.value(spec, "full name", {})
    firsts, lasts = split_name(whole)
    first, last = first.copy(), last.copy()
    first[gap], last[gap] = firsts.to_numpy(), lasts.to_numpy()
    fields["first_name"], fields["last_name"] = first, last


def _settle(issues: Collector, fields: dict[str, pd.Series], empty: pd.Series) -> None:
    """Decide the bad secondary values (``on_invalid: note``): a row with a
    valid email, or a valid phone and a name, keeps them in its note."""
    if not issues.deferred:
        return

    def present(*names: str) -> pd.Series:
        out = pd.Series(False, index=empty.index)
        for name in names:
            out |= fields.get(name, empty) != ""
        return out

    email = present("email")
    contact = email | (present("phone", "phone2") & present("first_name", "last_name"))
    issues.settle(contact, email)


def _row_keys(ev: Evaluator, mapping: Mapping, fields: dict[str, pd.Series]) -> pd.Series:
    """The source key per row: the key columns, else email, else phone + name."""
    index = ev.frame.index
    keys = pd.Series("", index=index, dtype=object)
    if mapping.key:
        parts = [ev.column(k) for k in mapping.key]
        keys = parts[0] if len(parts) == 1 else _join_nonempty(parts, "|")
    elif mapping.key_any:
        keys, _ = ev.coalesce(mapping.key_any, multiline=False)
    if not mapping.key_fallback:
        return keys
    gap = keys == ""
    if not gap.any():
        return keys
    email = fields.get("email")
    if email is not None:
        keys = keys.where(~(gap & (email != "")), "email:" + email)
        gap = keys == ""
    phone = fields.get("phone")
    if phone is not None and gap.any():
        digits = phone.str.replace(r"\D", "", regex=True)
        name = (
            (fields.get("first_name", ev.empty) + " " + fields.get("last_name", ev.empty))
            .str.strip()
            .str.casefold()
        )
        usable = gap & (digits != "") & (name != "")
        keys = keys.where(~usable, "phone:" + digits + "|name:" + name)
    return keys


def _link_keys(ev: Evaluator, mapping: Mapping) -> pd.Series:
    assert mapping.link is not None
    parts = [ev.column(k) for k in mapping.link.key]
    return parts[0] if len(parts) == 1 else _join_nonempty(parts, "|")


def _join_nonempty(parts: list[pd.Series], sep: str) -> pd.Series:
    """Join key parts; a row with any empty part has no key."""
    joined = parts[0]
    empty = parts[0] == ""
    for p in parts[1:]:
        joined = joined + sep + p
        empty |= p == ""
    return joined.where(~empty, "")


def _unmapped_lines(ev: Evaluator, bound: BoundMapping) -> pd.Series:
    """Per row, "Header: value" lines for the non-empty cells nothing else reads."""
    # bound.unmapped holds frame columns, which no mapping name resolves to
    cols = [ev.clean(c, multiline=True).tolist() for c in bound.unmapped]
    labels = [bound.headers.get(c, c) for c in bound.unmapped]
    lines = [
        "\n".join(f"{lab}: {v}" for lab, v in zip(labels, values, strict=True) if v)
        for values in zip(*cols, strict=True)
    ]
    return pd.Series(lines, index=ev.frame.index, dtype=object)
