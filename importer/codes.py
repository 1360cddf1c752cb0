"""The closed set of problem codes: every code a row can carry, in one place.

A code names why a row was rejected, not sent or left in doubt (the ``_code``
column of rejects.csv and in_doubt.csv, the ``codes`` column of plan.csv), or
why it got a warning (``warnings.by_code`` in report.json). Users filter and
count on them, so they never change; docs/mappings.md lists each with its
meaning, and tests/test_codes.py keeps this module, the code and the docs in
step.

Each module constant is the code itself (a plain ``str``), so a ``Problem``
carries exactly the text it always did; ``CODES`` describes each one. Two
families are patterns: ``http_<status>`` (``http_status(422)``) and
``dropped_<transform>`` (``dropped(name)``).

``stage`` is the step of the pipeline that finds the problem: ``read`` (the
reader), ``validate`` (mapping and checking a row), ``plan`` (comparing rows
with each other and with the ledger) or ``send``. In rejects.csv's ``_stage``
column a ``plan`` code shows as ``validate``: the row was refused before
sending.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

StageName = Literal["read", "validate", "plan", "send"]
# What the row becomes: refused, sent with a warning, either (``on_invalid``
# decides), not sent (the next run sends it again) or in doubt.
# ``whole file``: a problem of the input itself, no row's (report.json's ``problems``).
Outcome = Literal[
    "reject", "warning", "reject or warning", "not sent", "in doubt", "in doubt or not sent",
    "whole file",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Code:
    """One problem code (or pattern of codes) with where it is found and what it means."""

    name: str
    stage: StageName
    outcome: Outcome
    meaning: str


CODES: dict[str, Code] = {}


def _code(name: str, stage: StageName, outcome: Outcome, meaning: str) -> str:
    CODES[name] = Code(name, stage, outcome, meaning)
    return name


# ---------------------------------------------------------------- read
RAGGED_ROW = _code(
    "ragged_row", "read", "reject", "the row has more or fewer fields than the header row"
)
EMPTY_INPUT = _code(
    "empty_input", "read", "whole file", "the file has a header but no data rows (exit 3)"
)

# ---------------------------------------------------------------- validate
INVALID_EMAIL = _code("invalid_email", "validate", "reject or warning", "not an email address")
INVALID_PHONE = _code("invalid_phone", "validate", "reject or warning", "not a phone number")
INVALID_ZIP = _code("invalid_zip", "validate", "reject or warning", "not a US zip code")
INVALID_STATE = _code("invalid_state", "validate", "reject or warning", "not a state or province")
INVALID_DATE = _code(
    "invalid_date", "validate", "reject or warning", "not a date (and time) that can be read"
)
INVALID_NUMBER = _code("invalid_number", "validate", "reject or warning", "not a (whole) number")
INVALID_VALUE = _code(
    "invalid_value", "validate", "reject or warning", "a value its value map does not know"
)
INVALID_ROLE = _code(
    "invalid_role", "validate", "reject", "role is not Buyer, Seller, Buyer and Seller or Renter"
)
INVALID_ID = _code("invalid_id", "validate", "reject", "the lead id is not a UUID")
INVALID_ACTIVITY_TYPE = _code(
    "invalid_activity_type", "validate", "reject", "an activity type the API does not accept"
)
MISSING_CONTACT = _code(
    "missing_contact", "validate", "reject", "no name, email, phone or address at all"
)
MISSING_KEY = _code(
    "missing_key", "validate", "reject", "nothing to identify the row by on a later run"
)
MISSING_SOURCE = _code("missing_source", "validate", "reject", "the mapping gives no source")
MISSING_DESCRIPTION = _code("missing_description", "validate", "reject", "an activity with no text")
MISSING_PROPERTY = _code(
    "missing_property", "validate", "reject", "a potential seller without a property"
)

UNKNOWN_AGENT = _code(
    "unknown_agent", "validate", "warning",
    "the row's owner (agent or lender) matches no user of the site: sent unassigned",
)  # fmt: skip
AMBIGUOUS_AGENT = _code(
    "ambiguous_agent", "validate", "warning",
    "the row's owner matches several users of the site: sent unassigned, never guessed",
)  # fmt: skip

# ---------------------------------------------------------------- plan
DUPLICATE_KEY = _code(
    "duplicate_key", "plan", "reject", "the same key as an earlier row, which is kept"
)
UNKNOWN_LEAD = _code(
    "unknown_lead", "plan", "reject", "an activity for a lead never sent to this site"
)
SHARED_EMAIL = _code(
    "shared_email", "plan", "warning", "another row with another key has the same email"
)
NOT_CLEARED = _code(
    "not_cleared", "plan", "warning", "a field became empty, but the v1 update API cannot clear it"
)

# ---------------------------------------------------------------- send
UNREACHABLE = _code("unreachable", "send", "not sent", "the API could not be reached")
RATE_LIMITED = _code("rate_limited", "send", "not sent", "still answered 429 after every retry")
NOT_SENT = _code("not_sent", "send", "not sent", "the run stopped before the request went out")
CLAIMED = _code(
    "claimed", "send", "not sent", "another run sharing the ledger was sending the row, or sent it"
)
IN_DOUBT = _code("in_doubt", "send", "in doubt", "no answer to be sure of: it may be applied")
UNEXPECTED_ANSWER = _code(
    "unexpected_answer", "send", "in doubt", "a success status whose body is not the API's"
)
INTERRUPTED = _code(
    "interrupted", "send", "in doubt", "the run stopped while a request may have been applied"
)
RETRIES_EXHAUSTED = _code(
    "retries_exhausted", "send", "in doubt or not sent", "a server error kept coming back"
)

# ---------------------------------------------------------------- patterns
HTTP_PATTERN = _code(
    "http_<status>",
    "send",
    "reject",
    "the API refused the request with this status (401, 403 and a 404 on create: not sent)",
)
DROPPED_PATTERN = _code(
    "dropped_<transform>",
    "validate",
    "warning",
    "a value this transform could not read was left out (on_invalid: drop)",
)

_PATTERNS = {
    HTTP_PATTERN: re.compile(r"http_[1-5][0-9][0-9]"),
    DROPPED_PATTERN: re.compile(r"dropped_[a-z_]+"),
}


def http_status(status: int | None) -> str:
    """The code of an answer with this HTTP status: ``http_422``.

    (``ApiError.status`` is typed optional; an answer refused with a status
    always has one.)"""
    return f"http_{status}"


def dropped(transform: str) -> str:
    """The warning for a value ``transform`` could not read, left out: ``dropped_phone``."""
    return f"dropped_{transform}"


def describe(code: str) -> Code | None:
    """The entry for ``code`` (a pattern's entry for ``http_404``), or None when unknown."""
    if code in CODES and code not in _PATTERNS:
        return CODES[code]
    for pattern, regex in _PATTERNS.items():
        if regex.fullmatch(code):
            return CODES[pattern]
    return None
