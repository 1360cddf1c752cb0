"""The activity and property frames: one row per activity, long form.

Columns are declared with ``pandera.typing.Series``; the checks are annotated with
plain ``pd.Series``, which is what pandera passes them and what they return.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from importer import api_contract as contract
from importer import codes
from importer.validate.schemas import checks


class ActivityFrame(pa.DataFrameModel):
    """Activities as the API takes them; ``_row`` links each to its source row."""

    type: Series[str]
    source: Series[str]
    description: Series[str]
    created: Series[str] = pa.Field(required=False)

    @pa.check("type", name=codes.INVALID_ACTIVITY_TYPE)
    @classmethod
    def type_known(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return s.isin(contract.ACTIVITY_TYPES)

    @pa.check("source", name=codes.MISSING_SOURCE)
    @classmethod
    def source_present(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.non_empty(s)

    @pa.check("description", name=codes.MISSING_DESCRIPTION)
    @classmethod
    def description_present(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.non_empty(s)

    @pa.check("created", name=codes.INVALID_DATE)
    @classmethod
    def created_iso(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.valid_datetime(s)

    class Config:
        strict = "filter"  # the _row link and property columns are checked elsewhere
        coerce = False


class PropertyFrame(pa.DataFrameModel):
    """The ``property`` object of property_viewed activities, one row per activity.

    Integer fields hold digits here and are sent as JSON integers.
    """

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
    full_baths: Series[str] = pa.Field(required=False)
    half_baths: Series[str] = pa.Field(required=False)
    beds: Series[str] = pa.Field(required=False)
    price: Series[str] = pa.Field(required=False)
    list_price: Series[str] = pa.Field(required=False)
    sqft: Series[str] = pa.Field(required=False)
    year_built: Series[str] = pa.Field(required=False)

    @pa.check(*contract.PROPERTY_INT_FIELDS, name=codes.INVALID_NUMBER)
    @classmethod
    def whole_numbers(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.whole_number(s)

    class Config:
        strict = True
        coerce = False
