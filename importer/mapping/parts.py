"""The parts of a mapped chunk built from several columns: repeated groups and activities.

A group (``Email 1..N``) is transformed in one pass over all its non-empty
cells and its first distinct values fill the group's fields; the rest go to
the note. Activities come out as one long frame (``_row`` links each to its
source row), worked out only on the rows that have them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from importer import codes
from importer.mapping.assign import USER_ID, assignment_frames
from importer.mapping.spec import ActivitySpec, Group, Mapping
from importer.mapping.values import (
    FIELD_ORDER,
    Collector,
    Evaluator,
    join_per_row,
    rows_of,
    run_transform,
)
from importer.models import Problem
from importer.normalize import transforms as T


def fill_group(ev: Evaluator, group: Group, cols: tuple[str, ...]) -> dict[str, pd.Series]:
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
    if not stacked:  # split columns whose cells are all empty in this chunk: nothing to pick
        return {}
    n, k = len(index), len(stacked)
    matrix = np.empty((n, k), dtype=object)
    for j, values in enumerate(stacked):
        matrix[:, j] = values.to_numpy(dtype=object)
    if group.transform is not None:
        _transform_cells(ev, group, matrix, labels)
    return _pick_first(ev, group, matrix, labels)


def _transform_cells(ev: Evaluator, group: Group, matrix: np.ndarray, labels: list[str]) -> None:
    """Run the group's transform once over all its non-empty cells, in place."""
    assert group.transform is not None
    rows_pos, cols_pos = np.nonzero(matrix != "")
    if not len(rows_pos):
        return
    values = pd.Series(matrix[rows_pos, cols_pos], dtype=object)
    row_regions = ev.phone_regions() if group.transform.name == "phone" else None
    regions = None if row_regions is None else [row_regions[i] for i in rows_pos.tolist()]
    cleaned = run_transform(group.transform, values, ev.options, {}, regions)
    if isinstance(cleaned, pd.Series):
        matrix[rows_pos, cols_pos] = cleaned.to_numpy(dtype=object)
        return
    row_labels = ev.index.to_numpy()[rows_pos]
    if cleaned.invalid.any():
        bad = np.flatnonzero(cleaned.invalid.to_numpy())
        for j in np.unique(cols_pos[bad]):
            hit = bad[cols_pos[bad] == j]
            pairs = [(int(row_labels[i]), str(values.iat[int(i)])) for i in hit]
            ev.issues.invalid(
                pairs,
                group.transform,
                labels[j],
                group.on_invalid,
                needs_email="email" in group.fields,
            )
    if cleaned.notes is not None:
        noted = np.flatnonzero(cleaned.notes.to_numpy(dtype=object) != "")
        if len(noted):
            lines = pd.Series(
                [f"{labels[cols_pos[i]]} {cleaned.notes.iat[int(i)]}" for i in noted],
                index=row_labels[noted],
                dtype=object,
            )
            ev.issues.note(join_per_row(lines, ev.index))
    matrix[rows_pos, cols_pos] = cleaned.values.to_numpy(dtype=object)


def _pick_first(
    ev: Evaluator, group: Group, matrix: np.ndarray, labels: list[str]
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


ACTIVITY_COLUMNS = ("_row", "type", "source", "description", "created")


def activities_frame(
    ev: Evaluator,
    mapping: Mapping,
    fields: dict[str, pd.Series],
    issues: Collector,
    *,
    notes: bool = True,
) -> pd.DataFrame:
    """The long activities frame: one row per activity, in row then spec order."""
    frames: list[pd.DataFrame] = []
    index = ev.frame.index
    for order, spec in enumerate(mapping.activities):
        frames.append(_one_activity_frame(ev, mapping, spec, order, fields))
    frames += assignment_frames(ev, mapping)
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
    prop_cols = [c for c in out.columns if c.startswith("property.") or c == USER_ID]
    if prop_cols:
        out[prop_cols] = out[prop_cols].fillna("")
    return out


def _one_activity_frame(
    ev: Evaluator, mapping: Mapping, spec: ActivitySpec, order: int, fields: dict[str, pd.Series]
) -> pd.DataFrame:
    index = ev.index
    if spec.when:
        # only the rows naming a property (say) can have this activity
        when = pd.Series(False, index=index)
        for name in spec.when:
            when |= ev.column(name) != ""
        candidates = ev.subset(when)
        text = candidates.value(spec.description, f"{spec.type} description", rows_of(fields, when))
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
                    codes.MISSING_DESCRIPTION,
                    f"{spec.type} has no text: the description columns are empty",
                )
            )
    # The details are only worked out for the rows that have this activity.
    sub = ev.subset(present)
    sub_fields = rows_of(fields, present)
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
    for pname in sorted(spec.property, key=lambda f: FIELD_ORDER.get(f, 1)):
        prop[pname] = sub.value(spec.property[pname], f"property {pname}", prop)
    for pname in spec.property:
        data[f"property.{pname}"] = prop[pname].to_numpy()
    return pd.DataFrame(data)
