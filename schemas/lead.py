"""The lead frame: one row per source row, one column per Real Geeks lead field."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from importer import contract
from schemas import checks

_EMAIL = pa.Check(checks.valid_email, name="invalid_email", error="not a valid email address")
_PHONE = pa.Check(
    lambda s: checks.digits_at_least(s, 7), name="invalid_phone", error="not a phone number"
)
_DATE = pa.Check(
    checks.valid_datetime, name="invalid_date", error="not an ISO 8601 date-time with an offset"
)


class LeadFrame(pa.DataFrameModel):
    """A lead as the Incoming API takes it (``POST /sites/{site}/leads``)."""

    id: Series[str] = pa.Field(
        required=False, checks=pa.Check(checks.valid_uuid, name="invalid_id", error="not a UUID")
    )
    source: Series[str] = pa.Field(
        checks=pa.Check(checks.non_empty, name="missing_source", error="source is required")
    )
    source_details: Series[str] = pa.Field(required=False)
    email: Series[str] = pa.Field(required=False, checks=_EMAIL)
    second_email: Series[str] = pa.Field(required=False, checks=_EMAIL)
    first_name: Series[str] = pa.Field(required=False)
    last_name: Series[str] = pa.Field(required=False)
    phone: Series[str] = pa.Field(required=False, checks=_PHONE)
    phone2: Series[str] = pa.Field(required=False, checks=_PHONE)
    address: Series[str] = pa.Field(required=False)
    street_address: Series[str] = pa.Field(required=False)
    city: Series[str] = pa.Field(required=False)
    state: Series[str] = pa.Field(required=False)
    zip: Series[str] = pa.Field(required=False)
    role: Series[str] = pa.Field(
        required=False,
        checks=pa.Check(
            lambda s: s.isin(("", *contract.ROLES)),
            name="invalid_role",
            error=f"role must be one of {', '.join(contract.ROLES)}",
        ),
    )
    region: Series[str] = pa.Field(required=False)
    created: Series[str] = pa.Field(required=False, checks=_DATE)

    @pa.dataframe_check(name="missing_contact")
    @classmethod
    def has_contact(cls, df: pd.DataFrame) -> pd.Series:
        """At least one of the starred contact fields must be present."""
        present = [c for c in contract.CONTACT_FIELDS if c in df.columns]
        if not present:
            return pd.Series(False, index=df.index)
        return (df[present] != "").any(axis=1)

    class Config:
        strict = True  # a field outside the documented set is never sent
        coerce = False


class PotentialSellerFrame(pa.DataFrameModel):
    """A potential seller carries no contact details: only ``created`` (and id)."""

    id: Series[str] = pa.Field(
        required=False, checks=pa.Check(checks.valid_uuid, name="invalid_id", error="not a UUID")
    )
    created: Series[str] = pa.Field(required=False, checks=_DATE)

    class Config:
        strict = True
        coerce = False
