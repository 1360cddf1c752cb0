"""Apply a mapping to a chunk of rows: source columns in, Real Geeks fields out.

Everything here works on whole columns (pandas Series) so a 50,000-row chunk
is mapped in a handful of vectorised passes. A value that cannot be normalised
becomes a ``Problem`` of its row (``on_invalid: reject``, the default) or a
warning whose original text is kept in the row's note (``on_invalid: drop``);
nothing is dropped silently.

The result, ``MappedChunk``, holds the canonical frames that
``importer.validate`` checks: one row of lead fields per source row, and a
long frame of activities (several per source row).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from importer import contract
from importer import transforms as T
from importer.errors import InputError
from importer.mapfile import ActivitySpec, Group, Mapping, Template, Transform, ValueSpec
from importer.models import Problem, RowWarning

# Lead ids are uuid5 of "site|source|key" in this namespace, so the same row of
# the same source always gets the same id on the same site, on any machine.
LEAD_ID_NAMESPACE = uuid.UUID("5b0f4a7e-3c1d-4f0e-9a57-6d2b9c1e8f40")

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_MAX_GROUP_N = 50
_SHOWN_VALUE = 60  # characters of a bad value quoted in a message


def lead_id_for(site: str, source: str, key: str) -> str:
    """The deterministic lead id of a source key on a site."""
    return str(uuid.uuid5(LEAD_ID_NAMESPACE, f"{site}|{source}|{key}"))


def lead_ids_for(site: str, source: str, keys: Sequence[str]) -> list[str]:
    """``lead_id_for`` of many keys ("" for an empty key), about 3x faster.

    The same RFC 4122 version-5 UUIDs, computed with one pre-seeded SHA-1.
    """
    seeded = hashlib.sha1(
        LEAD_ID_NAMESPACE.bytes + f"{site}|{source}|".encode(), usedforsecurity=False
    )
    out = []
    for key in keys:
        if not key:
            out.append("")
            continue
        h = seeded.copy()
        h.update(key.encode())
        d = bytearray(h.digest()[:16])
        d[6] = (d[6] & 0x0F) | 0x50  # version 5
        d[8] = (d[8] & 0x3F) | 0x80  # RFC 4122 variant
        x = d.hex()
        out.append(f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}")
    return out


def _shown(value: str) -> str:
    value = value.replace("\n", " ")
    return value if len(value) <= _SHOWN_VALUE else value[: _SHOWN_VALUE - 1] + "…"


# --------------------------------------------------------------------------- binding


@dataclass(frozen=True)
class BoundMapping:
    """A mapping whose column names are resolved against one file's header."""

    mapping: Mapping
    columns: dict[str, str]  # name used in the mapping -> frame column
    headers: dict[str, str]  # frame column -> original header text
    groups: tuple[tuple[str, ...], ...]  # frame columns of each group, in order
    unmapped: tuple[str, ...]  # frame columns nothing reads

    def col(self, name: str) -> str | None:
        return self.columns.get(name)


def bind(mapping: Mapping, columns: Sequence[str], headers: Sequence[str]) -> BoundMapping:
    """Resolve the mapping's column names against a file's columns.

    Names match case- and whitespace-insensitively. Raises InputError when a
    key column the mapping needs is missing.
    """
    from importer.read import normalize_header

    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalize_header(col), col)
    header_of = dict(zip(columns, headers, strict=True))

    resolved: dict[str, str] = {}
    for name in mapping.referenced_columns():
        if "{n}" in name:
            continue
        hit = by_norm.get(normalize_header(name))
        if hit is not None:
            resolved[name] = hit

    groups = []
    for group in mapping.groups:
        found: list[str] = []
        for pattern in group.columns:
            names = (
                [pattern.replace("{n}", str(n)) for n in range(1, _MAX_GROUP_N + 1)]
                if "{n}" in pattern
                else [pattern]
            )
            for name in names:
                hit = by_norm.get(normalize_header(name))
                if hit is not None and hit not in found:
                    found.append(hit)
                    resolved[name] = hit
        groups.append(tuple(found))

    needed = mapping.link.key if mapping.link else mapping.key
    missing = [k for k in needed if k not in resolved]
    if missing and not (mapping.key_fallback and mapping.kind != "activity"):
        raise InputError(
            f"column {', '.join(repr(m) for m in missing)} that mapping {mapping.name!r} needs as the key "
            f"is missing (the file has: {', '.join(headers[:12])}{' ...' if len(headers) > 12 else ''}); "
            "pick the mapping made for this export with --mapping, or change the key in the mapping"
        )
    used = set(resolved.values())
    # Columns that only tell us the type of a grouped value (Email 1 - Type) are
    # shown next to it in notes, not on their own.
    unmapped = tuple(
        c for c in columns if c not in used and normalize_header(c) not in _ignored(mapping)
    )
    return BoundMapping(mapping, resolved, header_of, tuple(groups), unmapped)


def _ignored(mapping: Mapping) -> set[str]:
    from importer.read import normalize_header

    names: list[str] = []
    for pattern in mapping.ignore:
        if "{n}" in pattern:
            names += [pattern.replace("{n}", str(n)) for n in range(1, _MAX_GROUP_N + 1)]
        else:
            names.append(pattern)
    return {normalize_header(c) for c in names}


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


class _Collector:
    """Problems, warnings and extra note lines of one chunk."""

    def __init__(self, index: pd.Index):
        self.index = index
        self.problems: dict[int, list[Problem]] = defaultdict(list)
        self.warnings: list[RowWarning] = []
        self.note_parts: list[pd.Series] = []

    def invalid(
        self, pairs: Sequence[tuple[int, str]], transform: Transform, label: str, on_invalid: str
    ) -> None:
        """Record (row, raw value) pairs that a transform could not normalise."""
        code = transform.invalid_code
        what = _WHAT.get(transform.name, "valid value")
        dropped: list[tuple[int, str]] = []
        for row, value in pairs:
            text = f"{label} {_shown(value)!r} is not a {what}"
            if on_invalid == "reject":
                self.problems[int(row)].append(Problem(code, text, label))
            else:
                self.warnings.append(
                    RowWarning(int(row), f"dropped_{transform.name}", f"{text}; left out")
                )
                dropped.append((int(row), f"{label} (not sent, invalid): {value}"))
        if dropped:
            rows, lines = zip(*dropped, strict=True)
            self.note(_join_per_row(pd.Series(lines, index=list(rows), dtype=object), self.index))

    def note(self, lines: pd.Series) -> None:
        self.note_parts.append(lines)

    def note_text(self) -> pd.Series:
        if not self.note_parts:
            return pd.Series("", index=self.index, dtype=object)
        columns = [s.reindex(self.index, fill_value="").tolist() for s in self.note_parts]
        return pd.Series(
            ["\n".join(filter(None, t)) for t in zip(*columns, strict=True)],
            index=self.index,
            dtype=object,
        )


_WHAT = {
    "email": "valid email address",
    "phone": "valid phone number",
    "zip": "valid US zip code for its state",
    "state": "known US state or territory",
    "datetime": "date and time in a format the mapping knows",
    "integer": "whole number",
    "floor_integer": "number",
    "half_part": "number",
    "map": "value the mapping knows",
}


# --------------------------------------------------------------------------- values


class _Evaluator:
    """Evaluates value specs on one chunk, or on a subset of its rows.

    Cleaned columns and evaluated specs are cached, so a column read by
    several specs (a date used for the lead and for each of its activities)
    is cleaned, parsed and reported once. Specs that only matter on some rows
    (activity details, fallbacks) are evaluated on those rows only.
    """

    def __init__(
        self,
        bound: BoundMapping,
        frame: pd.DataFrame,
        issues: _Collector,
        *,
        parent: _Evaluator | None = None,
        mask: np.ndarray | None = None,
    ):
        self.bound = bound
        self.frame = frame
        self.issues = issues
        self.options = bound.mapping.options
        self.parent = parent
        # rows of the parent this evaluator covers (all of them for the root)
        self.mask: np.ndarray = mask if mask is not None else np.ones(len(frame), dtype=bool)
        self.index: pd.Index = frame.index if parent is None else parent.index[self.mask]
        self._clean: dict[tuple[str, bool], pd.Series] = {}
        self._specs: dict[ValueSpec, pd.Series] = {}
        self.empty = pd.Series("", index=self.index, dtype=object)

    def subset(self, mask: pd.Series) -> _Evaluator:
        """An evaluator over the rows where ``mask`` is True."""
        return _Evaluator(self.bound, self.frame, self.issues, parent=self, mask=mask.to_numpy())

    def _raw(self, col: str) -> pd.Series:
        if self.parent is None:
            return self.frame[col]
        return self.parent._raw(col)[self.mask]

    def column(self, name: str, *, multiline: bool = False) -> pd.Series:
        """A source column cleaned of whitespace and placeholders ("" when absent)."""
        col = self.bound.col(name)
        if col is None:
            return self.empty
        return self.clean(col, multiline=multiline)

    def clean(self, col: str, *, multiline: bool = False) -> pd.Series:
        """A frame column (by its frame name), cleaned."""
        key = (col, multiline)
        if key not in self._clean:
            inherited = self.parent._clean.get(key) if self.parent is not None else None
            if inherited is not None:
                self._clean[key] = inherited[self.mask]
            else:
                raw = self._raw(col)
                self._clean[key] = T.clean_multiline(raw) if multiline else T.clean_text(raw)
        return self._clean[key]

    def label(self, name: str) -> str:
        col = self.bound.col(name)
        return self.bound.headers.get(col, name) if col else name

    def coalesce(self, names: Sequence[str], *, multiline: bool) -> tuple[pd.Series, pd.Series]:
        """Per row, the first non-empty of the columns, and the header it came from."""
        present = [n for n in names if self.bound.col(n) is not None]
        if not present:
            return self.empty, self.empty
        values = self.column(present[0], multiline=multiline)
        labels = pd.Series(self.label(present[0]), index=self.index, dtype=object)
        for name in present[1:]:
            gap = values == ""
            if not gap.any():
                break
            values = values.where(~gap, self.column(name, multiline=multiline))
            labels = labels.where(~gap, self.label(name))
        return values, labels

    def template(self, template: Template, *, multiline: bool = False) -> pd.Series:
        """Render a template; a part whose placeholders are all empty is left out."""
        rendered: list[list[str]] = []
        for part in template.parts:
            pieces = _PLACEHOLDER.split(part)  # literal, name, literal, name, ...
            if len(pieces) == 1:
                rendered.append([part] * len(self.index))
                continue
            columns = [
                self.column(pieces[i].strip(), multiline=multiline).tolist()
                for i in range(1, len(pieces), 2)
            ]
            literals = pieces[0::2]
            if len(columns) == 1:  # the common case, kept to one comprehension
                pre, post = literals
                out = [f"{pre}{v}{post}".strip() if v else "" for v in columns[0]]
            else:
                out = [
                    "".join(
                        x for pair in zip(literals, (*values, ""), strict=True) for x in pair
                    ).strip()
                    if any(values)
                    else ""
                    for values in zip(*columns, strict=True)
                ]
            rendered.append(out)
        if len(rendered) == 1:
            return pd.Series(rendered[0], index=self.index, dtype=object)
        joined = [template.join.join(p for p in t if p) for t in zip(*rendered, strict=True)]
        return pd.Series(joined, index=self.index, dtype=object)

    def value(self, spec: ValueSpec, label: str, context: dict[str, pd.Series]) -> pd.Series:
        """Evaluate a spec to clean text; invalid values are reported and left empty."""
        # zip reads the row's state from the context, so it is not cached
        cacheable = not any(t.name == "zip" for t in spec.transforms)
        if cacheable and spec in self._specs:
            return self._specs[spec]
        if cacheable and self.parent is not None and spec in self.parent._specs:
            return self.parent._specs[spec][self.mask]
        multiline = any(t.name == "multiline" for t in spec.transforms)
        if spec.value is not None:
            values = pd.Series(spec.value, index=self.index, dtype=object)
            labels = pd.Series(label, index=self.index, dtype=object)
        elif spec.template is not None:
            values = self.template(spec.template, multiline=multiline)
            labels = pd.Series(label, index=self.index, dtype=object)
        else:
            values, labels = self.coalesce(spec.columns, multiline=multiline)
        for transform in spec.transforms:
            if transform.name in _CLEANING and spec.columns == ():
                continue  # a template is built from cleaned columns: already clean
            values = self.apply(transform, values, labels, spec.on_invalid, context)
        if spec.fallback is not None:
            gap = values == ""
            if gap.any():
                sub = self.subset(gap)
                values = values.copy()
                values[gap] = sub.value(spec.fallback, label, _rows(context, gap)).to_numpy()
        if cacheable:
            self._specs[spec] = values
        return values

    def apply(
        self,
        transform: Transform,
        values: pd.Series,
        labels: pd.Series,
        on_invalid: str,
        context: dict[str, pd.Series],
    ) -> pd.Series:
        cleaned = run_transform(transform, values, self.options, context)
        if isinstance(cleaned, pd.Series):
            return cleaned
        if cleaned.invalid.any():
            # one label per distinct source column keeps the messages exact
            for lab in labels[cleaned.invalid].unique():
                mask = cleaned.invalid & (labels == lab)
                self.issues.invalid(list(values[mask].items()), transform, str(lab), on_invalid)
        if cleaned.notes is not None:
            extra = cleaned.notes
            if (extra != "").any():
                self.issues.note(labels.str.cat(extra, sep=" ").where(extra != "", ""))
        return cleaned.values


def run_transform(
    transform: Transform,
    values: pd.Series,
    options: object,
    context: dict[str, pd.Series] | None = None,
) -> T.Cleaned | pd.Series:
    """Run one named transform on a Series; returns a Cleaned or plain Series."""
    name = transform.name
    opts = options  # Options; typed loosely to keep this callable from tests
    if name == "text":
        return T.clean_text(values)
    if name == "multiline":
        return T.clean_multiline(values)
    if name == "lower":
        return T.lower(values)
    if name == "upper":
        return T.upper(values)
    if name == "title":
        return T.title_case(values)
    if name == "email":
        return T.normalize_email(values, deny_domains=getattr(opts, "email_deny_domains", ()))
    if name == "phone":
        return T.normalize_phone(values, region=getattr(opts, "phone_region", "US"))
    if name == "zip":
        state = (context or {}).get("state")
        return T.normalize_zip(values, state=state)
    if name == "state":
        return T.normalize_state(values)
    if name == "datetime":
        return T.parse_datetime(
            values, getattr(opts, "date_formats", ()), getattr(opts, "timezone", "UTC")
        )
    if name == "integer":
        return T.to_integer(values)
    if name == "floor_integer":
        return T.floor_integer(values)
    if name == "half_part":
        return T.half_part(values)
    if name == "first_name":
        return T.split_name(values)[0]
    if name == "last_name":
        return T.split_name(values)[1]
    if name == "map":
        table = dict(transform.arg)
        default = table.pop("*", None)
        return T.map_values(values, table, default=default)
    raise AssertionError(f"transform {name!r} passed the mapping check but has no implementation")


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


# Transforms that only clean text, which every column gets anyway.
_CLEANING = frozenset({"text", "multiline"})

# Fields that other fields' transforms read (zip needs the state), computed first.
_FIELD_ORDER = {"state": 0}


def map_chunk(
    bound: BoundMapping, frame: pd.DataFrame, *, site: str | None, full: bool = True
) -> MappedChunk:
    """Map one chunk of source rows (index = spreadsheet row numbers).

    ``full=False`` is for a dry run that only needs to know which rows are
    valid: values that cannot be invalid and nothing else depends on (a
    ``source_details`` template, the note of leftover columns) are not built.
    """
    mapping = bound.mapping
    issues = _Collector(frame.index)
    if mapping.empty_values:
        from importer.empty_values import blank_empty_values

        frame, left_out = blank_empty_values(mapping, frame, bound.headers)
        if left_out is not None:
            issues.note(left_out)
    ev = _Evaluator(bound, frame, issues)

    fields: dict[str, pd.Series] = {}
    for name in sorted(mapping.fields, key=lambda f: _FIELD_ORDER.get(f, 1)):
        if not full and not _can_matter(name, mapping.fields[name]):
            fields[name] = ev.empty
            continue
        fields[name] = ev.value(mapping.fields[name], name, fields)
    for group, cols in zip(mapping.groups, bound.groups, strict=True):
        fields.update(_fill_group(ev, group, cols))

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
                "missing_key",
                f"no key to identify this row: give it {what} so re-runs do not duplicate it",
            )
        )

    if full and mapping.unmapped == "note" and bound.unmapped:
        issues.note(_unmapped_lines(ev, bound))

    leads = pd.DataFrame(fields, index=frame.index)
    if mapping.kind == "lead":
        leads.insert(0, "source", mapping.source)
    # text columns with the string dtype: pandera then checks the dtype, not each cell
    leads = leads.astype({c: _TEXT for c in leads.columns if leads[c].dtype == object})
    activities = _activities(ev, mapping, fields, issues, notes=full)

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
    )


def _fill_group(ev: _Evaluator, group: Group, cols: tuple[str, ...]) -> dict[str, pd.Series]:
    """Collect a repeated group's values in order and fill its fields with the first ones."""
    index = ev.index
    if not cols:
        return {}
    stacked: list[pd.Series] = []
    labels: list[str] = []
    for col in cols:
        label = ev.bound.headers.get(col, col)
        if group.split:
            lists = T.split_multi(ev._raw(col), group.split)
            width = int(lists.map(len).max()) if len(lists) else 0
            for j in range(width):
                stacked.append(lists.map(lambda v, j=j: v[j] if len(v) > j else ""))
                labels.append(label)
        else:
            stacked.append(ev.clean(col))
            labels.append(label)
    n, k = len(index), len(stacked)
    matrix = np.empty((n, k), dtype=object)
    for j, values in enumerate(stacked):
        matrix[:, j] = values.to_numpy(dtype=object)
    if group.transform is not None:
        _transform_cells(ev, group, matrix, labels)
    return _pick_first(ev, group, matrix, labels)


def _transform_cells(ev: _Evaluator, group: Group, matrix: np.ndarray, labels: list[str]) -> None:
    """Run the group's transform once over all its non-empty cells, in place."""
    assert group.transform is not None
    rows_pos, cols_pos = np.nonzero(matrix != "")
    if not len(rows_pos):
        return
    values = pd.Series(matrix[rows_pos, cols_pos], dtype=object)
    cleaned = run_transform(group.transform, values, ev.options, {})
    if isinstance(cleaned, pd.Series):
        matrix[rows_pos, cols_pos] = cleaned.to_numpy(dtype=object)
        return
    row_labels = ev.index.to_numpy()[rows_pos]
    if cleaned.invalid.any():
        bad = np.flatnonzero(cleaned.invalid.to_numpy())
        for j in np.unique(cols_pos[bad]):
            hit = bad[cols_pos[bad] == j]
            pairs = [(int(row_labels[i]), str(values.iat[int(i)])) for i in hit]
            ev.issues.invalid(pairs, group.transform, labels[j], group.on_invalid)
    if cleaned.notes is not None:
        noted = np.flatnonzero(cleaned.notes.to_numpy(dtype=object) != "")
        if len(noted):
            lines = pd.Series(
                [f"{labels[cols_pos[i]]} {cleaned.notes.iat[int(i)]}" for i in noted],
                index=row_labels[noted],
                dtype=object,
            )
            ev.issues.note(_join_per_row(lines, ev.index))
    matrix[rows_pos, cols_pos] = cleaned.values.to_numpy(dtype=object)


def _pick_first(
    ev: _Evaluator, group: Group, matrix: np.ndarray, labels: list[str]
) -> dict[str, pd.Series]:
    """Per row, the first distinct non-empty values in column order fill the fields."""
    n, k = matrix.shape
    positions = np.arange(k)
    candidate = matrix != ""
    after = np.full(n, -1)
    out: dict[str, pd.Series] = {}
    for fname in group.fields:
        candidate &= positions[None, :] > after[:, None]
        has = candidate.any(axis=1)
        pick = np.where(has, candidate.argmax(axis=1), 0)
        chosen = np.where(has, matrix[np.arange(n), pick], "")
        out[fname] = pd.Series(chosen, index=ev.index, dtype=object)
        candidate &= matrix != chosen[:, None]  # later duplicates of it do not count
        after = np.where(has, pick, k)
    candidate &= positions[None, :] > after[:, None]
    extra_rows = np.flatnonzero(candidate.any(axis=1))
    if len(extra_rows) and group.overflow == "note":
        lines = ["\n".join(_overflow_lines(matrix[i], candidate[i], labels)) for i in extra_rows]
        overflow = pd.Series(lines, index=ev.index[extra_rows], dtype=object)
        ev.issues.note(overflow.reindex(ev.index, fill_value=""))
    return out


def _overflow_lines(row: np.ndarray, extra: np.ndarray, labels: list[str]) -> list[str]:
    seen: set[str] = set()
    lines = []
    for j in np.flatnonzero(extra):
        if row[j] not in seen:
            seen.add(row[j])
            lines.append(f"{labels[j]}: {row[j]}")
    return lines


def _join_per_row(lines: pd.Series, index: pd.Index) -> pd.Series:
    """Join the non-empty strings of a Series whose index repeats, per row."""
    lines = lines[lines != ""]
    if lines.empty:
        return pd.Series("", index=index, dtype=object)
    joined = lines.groupby(level=0, sort=False).agg("\n".join)
    return joined.reindex(index, fill_value="")


def _row_keys(ev: _Evaluator, mapping: Mapping, fields: dict[str, pd.Series]) -> pd.Series:
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


def _link_keys(ev: _Evaluator, mapping: Mapping) -> pd.Series:
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


def _unmapped_lines(ev: _Evaluator, bound: BoundMapping) -> pd.Series:
    """Per row, "Header: value" lines for the non-empty cells nothing else reads."""
    # bound.unmapped holds frame columns, which no mapping name resolves to
    cols = [ev.clean(c, multiline=True).tolist() for c in bound.unmapped]
    labels = [bound.headers.get(c, c) for c in bound.unmapped]
    lines = [
        "\n".join(f"{lab}: {v}" for lab, v in zip(labels, values, strict=True) if v)
        for values in zip(*cols, strict=True)
    ]
    return pd.Series(lines, index=ev.frame.index, dtype=object)


ACTIVITY_COLUMNS = ("_row", "type", "source", "description", "created")


def _activities(
    ev: _Evaluator,
    mapping: Mapping,
    fields: dict[str, pd.Series],
    issues: _Collector,
    *,
    notes: bool = True,
) -> pd.DataFrame:
    """The long activities frame: one row per activity, in row then spec order."""
    frames: list[pd.DataFrame] = []
    index = ev.frame.index
    for order, spec in enumerate(mapping.activities):
        frames.append(_activity_frame(ev, mapping, spec, order, fields))
    if mapping.kind != "activity" and notes:
        note = issues.note_text()
        present = note != ""
        if present.any():
            who = mapping.crm or mapping.name
            created = fields.get("created", ev.empty)
            frames.append(
                pd.DataFrame(
                    {
                        "_row": index[present.to_numpy()],
                        "_order": len(mapping.activities),
                        "type": "note",
                        "source": mapping.source,
                        "description": f"Other details from the {who} export:\n" + note[present],
                        "created": created[present],
                    }
                ).reset_index(drop=True)
            )
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ACTIVITY_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    out = (
        out.sort_values(["_row", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    prop_cols = [c for c in out.columns if c.startswith("property.")]
    if prop_cols:
        out[prop_cols] = out[prop_cols].fillna("")
    return out


def _rows(columns: dict[str, pd.Series], mask: pd.Series) -> dict[str, pd.Series]:
    """The same columns, on the rows where ``mask`` is True."""
    keep = mask.to_numpy()
    return {k: v[keep] for k, v in columns.items()}


def _activity_frame(
    ev: _Evaluator, mapping: Mapping, spec: ActivitySpec, order: int, fields: dict[str, pd.Series]
) -> pd.DataFrame:
    index = ev.index
    if spec.when:
        # only the rows naming a property (say) can have this activity
        when = pd.Series(False, index=index)
        for name in spec.when:
            when |= ev.column(name) != ""
        candidates = ev.subset(when)
        text = candidates.value(spec.description, f"{spec.type} description", _rows(fields, when))
        description = pd.Series("", index=index, dtype=object)
        description[when] = text.to_numpy()
    else:
        description = ev.value(spec.description, f"{spec.type} description", fields)
    present = description != ""
    if mapping.kind == "activity":
        # every row of an activity file must give an activity: report the empty ones
        for row in index[~present.to_numpy()]:
            ev.issues.problems[int(row)].append(
                Problem(
                    "missing_description",
                    f"{spec.type} has no text: the description columns are empty",
                )
            )
    # The details are only worked out for the rows that have this activity.
    sub = ev.subset(present)
    sub_fields = _rows(fields, present)
    data: dict[str, object] = {
        "_row": sub.index,
        "_order": order,
        "type": spec.type,
        "source": spec.source or mapping.source,
        "description": description[present].to_numpy(),
        "created": (
            sub.value(spec.created, "created", sub_fields) if spec.created else sub.empty
        ).to_numpy(),
    }
    prop: dict[str, pd.Series] = {}
    for pname in sorted(spec.property, key=lambda f: _FIELD_ORDER.get(f, 1)):
        prop[pname] = sub.value(spec.property[pname], f"property {pname}", prop)
    for pname in spec.property:
        data[f"property.{pname}"] = prop[pname].to_numpy()
    return pd.DataFrame(data)
