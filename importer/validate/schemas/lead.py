"""The lead frame: one row per source row, one column per Real Geeks lead field.

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


class LeadFrame(pa.DataFrameModel):
    """A lead as the Incoming API takes it (``POST /sites/{site}/leads``).

    Every column holds text ("" when empty); each check is named with the
    problem code it reports.
    """

    id: Series[str] = pa.Field(required=False)
    source: Series[str]
    source_details: Series[str] = pa.Field(required=False)
    email: Series[str] = pa.Field(required=False)
    second_email: Series[str] = pa.Field(required=False)
    first_name: Series[str] = pa.Field(required=False)
    last_name: Series[str] = pa.Field(required=False)
    phone: Series[str] = pa.Field(required=False)
    phone2: Series[str] = pa.Field(required=False)
    address: Series[str] = pa.Field(required=False)
    street_address: Series[str] = pa.Field(required=False)
    city: Series[str] = pa.Field(required=False)
    state: Series[str] = pa.Field(required=False)
    zip: Series[str] = pa.Field(required=False)
    role: Series[str] = pa.Field(required=False)
    region: Series[str] = pa.Field(required=False)
    created: Series[str] = pa.Field(required=False)

    @pa.check("id", name=codes.INVALID_ID)
    @classmethod
    def id_is_uuid(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.valid_uuid(s)

    @pa.check("source", name=codes.MISSING_SOURCE)
    @classmethod
    def source_present(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.non_empty(s)

    @pa.check("email", "second_email", name=codes.INVALID_EMAIL)
    @classmethod
    def emails_valid(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.valid_email(s)

    @pa.check("phone", "phone2", name=codes.INVALID_PHONE)
    @classmethod
    def phones_have_digits(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.digits_at_least(s, 7)

    @pa.check("role", name=codes.INVALID_ROLE)
    @classmethod
    def role_known(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return s.isin(("", *contract.ROLES))

    @pa.check("created", name=codes.INVALID_DATE)
    @classmethod
    def created_iso(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.valid_datetime(s)

    @pa.dataframe_check(name=codes.MISSING_CONTACT)
    @classmethod
    def has_contact(cls, df: pd.DataFrame) -> pd.Series[bool]:
        """At least one of the starred contact fields must be present."""
        present = [c for c in contract.CONTACT_FIELDS if c in df.columns]
        if not present:
            return pd.Series(False, index=df.index)
        return (df[present] != "").any(axis=1)

    class Config:
        strict = True  # a field outside the documented set is never sent
        coerce = False


class PotentialSellerFrame(pa.DataFrameModel):
    """A potential seller carries no contact details: only ``created`` (and its id)."""

    id: Series[str] = pa.Field(required=False)
    created: Series[str] = pa.Field(required=False)

    @pa.check("id", name=codes.INVALID_ID)
    @classmethod
    def id_is_uuid(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.valid_uuid(s)

    @pa.check("created", name=codes.INVALID_DATE)
    @classmethod
    def created_iso(cls, s: pd.Series[str]) -> pd.Series[bool]:
        return checks.valid_datetime(s)

    class Config:
        strict = True
        coerce = False
