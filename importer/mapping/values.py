"""Evaluating a mapping's value specs on a chunk: columns, templates, transforms.

``Evaluator`` turns one value spec (aliases, a template or a constant, then
transforms, then a fallback) into a clean column, caching what several specs
share, and reports values that cannot be normalised to the chunk's
``Collector`` (problems, warnings and extra note lines). ``run_transform``
maps a transform's name to its implementation in ``importer.normalize.transforms``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from importer import codes
from importer.mapping.binding import BoundMapping
from importer.mapping.spec import Template, Transform, ValueSpec
from importer.models import Problem, RowWarning
from importer.normalize import transforms as T
from importer.normalize.column_text import map_unique
from importer.normalize.regions import country_region

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_SHOWN_VALUE = 60  # characters of a bad value quoted in a message


def _shown(value: str) -> str:
    value = value.replace("\n", " ")
    return value if len(value) <= _SHOWN_VALUE else value[: _SHOWN_VALUE - 1] + "…"


@dataclass(frozen=True)
class _Deferred:
    """A bad value under ``on_invalid: note``: a warning or a problem once the
    row's contact is known (``Collector.settle``)."""

    row: int
    code: str
    text: str
    label: str
    value: str
    needs_email: bool  # from an email group: only a valid email makes it a second one


class Collector:
    """Problems, warnings and extra note lines of one chunk."""

    def __init__(self, index: pd.Index):
        self.index = index
        self.problems: dict[int, list[Problem]] = defaultdict(list)
        self.warnings: list[RowWarning] = []
        self.note_parts: list[pd.Series] = []
        self.deferred: list[_Deferred] = []
        self._judged: tuple[pd.Series, pd.Series] | None = None  # once settled

    def invalid(
        self,
        pairs: Sequence[tuple[int, str]],
        transform: Transform,
        label: str,
        on_invalid: str,
        *,
        needs_email: bool = False,
    ) -> None:
        """Record (row, raw value) pairs that a transform could not normalise."""
        code = transform.invalid_code
        what = _WHAT.get(transform.name, "valid value")
        dropped: list[tuple[int, str]] = []
        for row, value in pairs:
            text = f"{label} {_shown(value)!r} is not a {what}"
            if on_invalid == "reject":
                self.problems[int(row)].append(Problem(code, text, label))
            elif on_invalid == "note":
                self.deferred.append(_Deferred(int(row), code, text, label, value, needs_email))
            else:
                self.warnings.append(
                    RowWarning(int(row), codes.dropped(transform.name), f"{text}; left out")
                )
                dropped.append((int(row), f"{label} (not sent, invalid): {value}"))
        if dropped:
            rows, lines = zip(*dropped, strict=True)
            self.note(join_per_row(pd.Series(lines, index=list(rows), dtype=object), self.index))
        if self.deferred and self._judged is not None:  # an activity's value, after the fields
            self.settle(*self._judged)

    def settle(self, contact: pd.Series, email: pd.Series) -> None:
        """Judge the values kept back by ``on_invalid: note``: on a row that
        still has a usable contact (``contact``; ``email`` for values of an
        email group) and no other problem, a bad value goes into the note with
        a warning named like the problem (``invalid_phone``); otherwise the
        row is rejected with it."""
        self._judged = (contact, email)
        kept: list[tuple[int, str]] = []
        for d in self.deferred:
            usable = bool((email if d.needs_email else contact).get(d.row, False))
            # a row rejected anyway lists every bad value, to be fixed at once
            if usable and not self.problems.get(d.row):
                self.warnings.append(RowWarning(d.row, d.code, f"{d.text}; kept in the note"))
                kept.append((d.row, f"{d.label} (not sent, invalid): {d.value}"))
            else:
                self.problems[d.row].append(Problem(d.code, d.text, d.label))
        self.deferred = []
        if kept:
            rows, lines = zip(*kept, strict=True)
            self.note(join_per_row(pd.Series(lines, index=list(rows), dtype=object), self.index))

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


class Evaluator:
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
        issues: Collector,
        *,
        parent: Evaluator | None = None,
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
        self._regions: list[str] | None = None
        self.empty = pd.Series("", index=self.index, dtype=object)

    def subset(self, mask: pd.Series) -> Evaluator:
        """An evaluator over the rows where ``mask`` is True."""
        return Evaluator(self.bound, self.frame, self.issues, parent=self, mask=mask.to_numpy())

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

    def phone_regions(self) -> list[str] | None:
        """Per row, the phone region its country column names ("" for none,
        "ZZ" for a country phonenumbers does not know), or None when the
        mapping reads no country column."""
        if not self.options.country_columns:
            return None
        if self._regions is None:
            if self.parent is not None:
                inherited = self.parent.phone_regions() or []
                self._regions = [r for r, keep in zip(inherited, self.mask, strict=True) if keep]
            else:
                countries, _ = self.coalesce(self.options.country_columns, multiline=False)
                self._regions = map_unique(
                    countries.tolist(), lambda c: (country_region(c) or "ZZ") if c else ""
                )
        return self._regions

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
        # (filter(None, ...): the parts that are not empty, without a Python step per part)
        joined = [template.join.join(filter(None, t)) for t in zip(*rendered, strict=True)]
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
                values[gap] = sub.value(spec.fallback, label, rows_of(context, gap)).to_numpy()
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
        regions = self.phone_regions() if transform.name == "phone" else None
        cleaned = run_transform(transform, values, self.options, context, regions)
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
    regions: Sequence[str] | None = None,
) -> T.Cleaned | pd.Series:
    """Run one named transform on a Series; returns a Cleaned or plain Series.

    ``regions``: each value's phone region from its row's country, for ``phone``.
    """
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
        home = getattr(opts, "home_region", "US")
        region = getattr(opts, "phone_region", None) or home
        return T.normalize_phone(values, region=region, home=home, regions=regions)
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


# Transforms that only clean text, which every column gets anyway.
_CLEANING = frozenset({"text", "multiline"})


# Fields that other fields' transforms read (zip needs the state), computed first.
FIELD_ORDER = {"state": 0}


def join_per_row(lines: pd.Series, index: pd.Index) -> pd.Series:
    """Join the non-empty strings of a Series whose index repeats, per row."""
    lines = lines[lines != ""]
    if lines.empty:
        return pd.Series("", index=index, dtype=object)
    joined = lines.groupby(level=0, sort=False).agg("\n".join)
    return joined.reindex(index, fill_value="")


def rows_of(columns: dict[str, pd.Series], mask: pd.Series) -> dict[str, pd.Series]:
    """The same columns, on the rows where ``mask`` is True."""
    keep = mask.to_numpy()
    return {k: v[keep] for k, v in columns.items()}
