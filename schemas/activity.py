"""The activity and property frames: one row per activity, long form."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

from importer import contract
from schemas import checks


class ActivityFrame(pa.DataFrameModel):
    """Activities as the API takes them; ``_row`` links each to its source row."""

    type: Series[str] = pa.Field(
        checks=pa.Check(
            lambda s: s.isin(contract.ACTIVITY_TYPES),
            name="invalid_activity_type",
            error="not an activity type the Incoming API accepts",
        )
    )
    source: Series[str] = pa.Field(
        checks=pa.Check(
            checks.non_empty, name="missing_source", error="activity source is required"
        )
    )
    description: Series[str] = pa.Field(
        checks=pa.Check(
            checks.non_empty, name="missing_description", error="activity description is required"
        )
    )
    created: Series[str] = pa.Field(
        required=False,
        checks=pa.Check(
            checks.valid_datetime,
            name="invalid_date",
            error="not an ISO 8601 date-time with an offset",
        ),
    )

    class Config:
        strict = "filter"  # the _row link and property columns are checked elsewhere
        coerce = False


def _int_field() -> Series[str]:
    return pa.Field(  # type: ignore[no-any-return]
        required=False,
        checks=pa.Check(checks.whole_number, name="invalid_number", error="not a whole number"),
    )


class PropertyFrame(pa.DataFrameModel):
    """The ``property`` object of property_viewed activities (one row per activity)."""

    mls: Series[str] = pa.Field(required=False)
    url: Series[str] = pa.Field(required=False)
    street_address: Series[str] = pa.Field(required=False)
    city: Series[str] = pa.Field(required=False)
    state: Series[str] = pa.Field(required=False)
    zip: Series[str] = pa.Field(required=False)
    type: Series[str] = pa.Field(required=False)
    listing_id: Series[str] = pa.Field(required=False)
    photo_url: Series[str] = pa.Field(required=False)
    lot_size: Series[str] = pa.Field(required=False)
    full_baths: Series[str] = _int_field()
    half_baths: Series[str] = _int_field()
    beds: Series[str] = _int_field()
    price: Series[str] = _int_field()
    list_price: Series[str] = _int_field()
    sqft: Series[str] = _int_field()
    year_built: Series[str] = _int_field()

    class Config:
        strict = True
        coerce = False
