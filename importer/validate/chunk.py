"""Validate mapped chunks against the pandera models in ``importer.validate.schemas``.

pandera runs lazily over whole frames (every check of every column, vectorised);
its failure cases are then grouped per source row into ``Problem`` values with
stable codes, merged with the problems the mapping found while normalising
(so a value that failed to normalise does not hide the row's other checks).
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd
import pandera.pandas as pa

from importer import codes
from importer.errors import ImporterError
from importer.mapping.apply import MappedChunk
from importer.models import Problem
from importer.validate.schemas.activity import ActivityFrame, PropertyFrame
from importer.validate.schemas.lead import LeadFrame, PotentialSellerFrame

# How each check's failure reads, given the column and the offending value.
_MESSAGES = {
    codes.INVALID_EMAIL: "{column} {value!r} is not a valid email address",
    codes.INVALID_PHONE: "{column} {value!r} is not a phone number",
    codes.INVALID_DATE: "{column} {value!r} is not a date-time with a time zone",
    codes.INVALID_ID: "id {value!r} is not a UUID",
    codes.INVALID_ROLE: "role {value!r} must be one of Buyer, Seller, Buyer and Seller, Renter",
    codes.MISSING_SOURCE: "source is empty: set source: in the mapping",
    codes.MISSING_CONTACT: "no contact details: the row has no name, email, phone or address",
    codes.MISSING_DESCRIPTION: "{column} is empty: an activity needs a description",
    codes.INVALID_ACTIVITY_TYPE: "activity type {value!r} is not one the API accepts",
    codes.INVALID_NUMBER: "property {column} {value!r} is not a whole number",
    codes.MISSING_PROPERTY: "a potential seller needs a property: the property columns are empty",
}


def prepare() -> None:
    """Build the models' schemas now (pandera builds them on first use), e.g.
    before forking processes that will all validate.

    pandera also registers its pandas backends (importing its built-in checks)
    on the first validation: done here too, so processes forked afterwards do
    not each import them again (a tenth of a second or more apiece).
    """
    for model in (LeadFrame, PotentialSellerFrame, ActivityFrame, PropertyFrame):
        model.to_schema().register_default_backends(pd.DataFrame)


def validate_chunk(chunk: MappedChunk, kind: str) -> dict[int, list[Problem]]:
    """Every problem of every row of the chunk: mapping problems plus schema failures."""
    problems: dict[int, list[Problem]] = defaultdict(list)
    for row, found in chunk.problems.items():
        problems[row].extend(found)

    if kind == "lead":
        _collect(LeadFrame, chunk.leads, problems, row_of=None)
    elif kind == "potential_seller":
        _collect(PotentialSellerFrame, chunk.leads, problems, row_of=None)
        _require_property(chunk, problems)

    acts = chunk.activities
    if len(acts):
        rows = acts["_row"]
        _collect(ActivityFrame, acts, problems, row_of=rows, label="activity ")
        prop_cols = [c for c in acts.columns if c.startswith("property.")]
        if prop_cols:
            props = acts.loc[acts["type"] == "property_viewed", prop_cols]
            props.columns = [c.removeprefix("property.") for c in prop_cols]
            _collect(PropertyFrame, props, problems, row_of=rows)
    return dict(problems)


def _collect(
    model: type[pa.DataFrameModel],
    frame: pd.DataFrame,
    problems: dict[int, list[Problem]],
    *,
    row_of: pd.Series | None,
    label: str = "",
) -> None:
    """Validate ``frame`` lazily and add one Problem per (row, check, column)."""
    if frame.empty:
        return
    try:
        model.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    else:
        return
    if cases["index"].isna().any():
        # A frame-level failure (wrong columns or types) is a bug in the mapping
        # stage, not a property of the user's rows.
        bad = cases[cases["index"].isna()].iloc[0]
        raise ImporterError(
            f"internal error: {model.__name__} rejected the frame ({bad['check']} on {bad['column']}); please report it"
        )
    seen: set[tuple[int, str]] = set()
    for column, check, index, value in cases[
        ["column", "check", "index", "failure_case"]
    ].itertuples(index=False):
        row = int(row_of.loc[index]) if row_of is not None else int(index)
        code = str(check)
        dataframe_check = code == codes.MISSING_CONTACT
        if (row, code if dataframe_check else f"{code}:{column}") in seen:
            continue
        seen.add((row, code if dataframe_check else f"{code}:{column}"))
        template = _MESSAGES.get(code, "{column} {value!r} failed " + code)
        message = template.format(column=f"{label}{column}", value=value)
        problems[row].append(Problem(code, message, None if dataframe_check else str(column)))


def _require_property(chunk: MappedChunk, problems: dict[int, list[Problem]]) -> None:
    """A potential seller must carry a property_viewed activity with a property."""
    acts = chunk.activities
    prop_cols = [c for c in acts.columns if c.startswith("property.")]
    with_property: set[int] = set()
    if prop_cols and len(acts):
        has = (acts["type"] == "property_viewed") & (acts[prop_cols] != "").any(axis=1)
        with_property = set(acts.loc[has, "_row"].astype(int))
    for row in chunk.index:
        if int(row) not in with_property:
            problems[int(row)].append(
                Problem(codes.MISSING_PROPERTY, _MESSAGES[codes.MISSING_PROPERTY])
            )
