"""What the sandbox accepts: the payload rules of the Incoming Leads API.

Every ``*_problems`` function yields readable reasons, each naming the field,
in a fixed order; the server answers 422 with the first one. The field lists
come from ``importer.api_contract`` so the sandbox, the schemas and the mapping
loader agree on one contract.

Order of the checks for a lead: fields the API does not know, then each
field's value in body order, then the required ``source``, then "at least one
contact field", then each activity in list order.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email

from importer.api_contract import (
    ACTIVITY_FIELDS,
    ACTIVITY_REQUIRED,
    ACTIVITY_TYPES,
    CONTACT_FIELDS,
    EMAIL_FIELDS,
    LEAD_FIELDS,
    LEAD_TEXT_FIELDS,
    POTENTIAL_SELLER_FIELDS,
    PROPERTY_FIELDS,
    PROPERTY_INT_FIELDS,
    ROLES,
    USER_FIELDS,
)

_UUID = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}", re.IGNORECASE
)
# ISO 8601 extended format with a time and an offset; up to nanoseconds, since
# pandas timestamps print nine fraction digits.
_DATETIME = re.compile(
    r"(?P<base>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<fraction>\d{1,9}))?(?P<offset>Z|[+-]\d{2}:\d{2})"
)
_UNSETTABLE = {
    "id": "Field 'id' cannot be unset.",
    "source": "Field 'source' cannot be unset: every lead needs a source.",
    "activities": "Field 'activities' cannot be unset: activities are never deleted.",
}


def is_uuid(text: object) -> bool:
    """True for a UUID written as 36 dashed or 32 plain hex characters."""
    return isinstance(text, str) and _UUID.fullmatch(text) is not None


def normalize_id(text: str) -> str:
    """The comparable form of a UUID: 32 lowercase hex characters.

    Raises ValueError when ``text`` is not a UUID (see ``is_uuid``).
    """
    if not is_uuid(text):
        raise ValueError(f"not a UUID: {text!r}")
    return uuid.UUID(text).hex


def dashed(hex_id: str) -> str:
    """The dashed form of a UUID given in any accepted form."""
    return str(uuid.UUID(hex_id))


def is_blank(value: object) -> bool:
    """True for null and for strings holding only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def is_datetime_with_offset(text: str) -> bool:
    """True for an ISO 8601 date-time with ``Z`` or ``+HH:MM``, e.g. ``2015-04-01T08:41:51+00:00``."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        return False
    fraction = (match["fraction"] or "")[:6]
    offset = "+00:00" if match["offset"] == "Z" else match["offset"]
    try:
        datetime.fromisoformat(
            match["base"] + (f".{fraction.ljust(6, '0')}" if fraction else "") + offset
        )
    except ValueError:  # e.g. month 13 or hour 24
        return False
    return True


def first(problems: Iterator[str]) -> str | None:
    """The first problem, or None when there is none."""
    return next(problems, None)


# --- leads -----------------------------------------------------------------


def lead_problems(lead: dict[str, Any]) -> Iterator[str]:
    """Why ``lead`` cannot be created by ``POST /sites/{site}/leads``."""
    yield from _unknown_lead_fields(lead)
    for name, value in lead.items():
        if (
            name in LEAD_FIELDS
            and name != "activities"
            and not (isinstance(value, str) and is_blank(value))
        ):
            yield from _field_value_problems(name, value)
    if is_blank(lead.get("source")):
        yield "Field 'source' is required and must not be empty."
    if all(is_blank(lead.get(name)) for name in CONTACT_FIELDS):
        yield f"At least one contact field is required: {', '.join(CONTACT_FIELDS)}."
    if "activities" in lead:
        yield from activity_list_problems(lead["activities"], field="activities")


def patch_problems(patch: dict[str, Any], *, v2: bool) -> Iterator[str]:
    """Why ``patch`` cannot update a lead; no field is required.

    v1 ignores null and empty values, v2 reads them as "unset this field".
    """
    yield from _unknown_lead_fields(patch)
    for name, value in patch.items():
        if name not in LEAD_FIELDS:
            continue
        if is_blank(value):
            if v2 and name in _UNSETTABLE:
                yield _UNSETTABLE[name]
            continue
        if name == "activities":
            yield from activity_list_problems(value, field="activities")
        else:
            yield from _field_value_problems(name, value)


def potential_seller_problems(lead: dict[str, Any]) -> Iterator[str]:
    """Why ``lead`` cannot be created by ``POST /sites/{site}/potential-seller-leads``."""
    for name in lead:
        if name in CONTACT_FIELDS:
            yield (
                f"Field '{name}' is not accepted on a potential seller lead: potential sellers are "
                "anonymous (send people with contact details to /leads)."
            )
        elif name in LEAD_FIELDS and name not in POTENTIAL_SELLER_FIELDS:
            yield (
                f"Field '{name}' is not accepted on a potential seller lead "
                f"(accepted: {', '.join(POTENTIAL_SELLER_FIELDS)})."
            )
        elif name not in LEAD_FIELDS:
            yield _unknown_lead_field(name)
    for name in ("id", "created"):
        if name in lead:
            yield from _field_value_problems(name, lead[name])
    activities = lead.get("activities")
    if activities is not None:
        yield from activity_list_problems(activities, field="activities")
    if not (isinstance(activities, list) and any(_is_property_view(a) for a in activities)):
        yield (
            "A potential seller lead needs at least one 'property_viewed' activity "
            "with a non-empty 'property' object."
        )


def text_fields(lead: dict[str, Any]) -> dict[str, str]:
    """The non-blank text fields of a valid lead, as sent (``id`` and ``activities`` excluded)."""
    return {k: v for k, v in lead.items() if k in LEAD_TEXT_FIELDS and not is_blank(v)}


def _unknown_lead_field(name: str) -> str:
    return f"Field '{name}' is not a lead field the API accepts; remove it or map it to a documented field."


def _unknown_lead_fields(lead: dict[str, Any]) -> Iterator[str]:
    for name in lead:
        if name not in LEAD_FIELDS:
            yield _unknown_lead_field(name)


def _field_value_problems(name: str, value: Any) -> Iterator[str]:
    """Problems of one non-activity lead field's value."""
    if not isinstance(value, str):
        yield f"Field '{name}' must be a string, not {_json_type(value)}."
        return
    if is_blank(value):
        return
    if name == "id" and not is_uuid(value):
        yield "Field 'id' is not a valid UUID."
    elif name in EMAIL_FIELDS:
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError as exc:
            yield f"Field '{name}' is not a valid email address: {exc}"
    elif name == "role" and value not in ROLES:
        hint = (
            " Potential sellers are created with /potential-seller-leads."
            if value == "Potential Seller"
            else ""
        )
        yield f"Field 'role' must be one of: {', '.join(ROLES)}.{hint}"
    elif name == "created" and not is_datetime_with_offset(value):
        yield _bad_datetime("Field 'created'")


def _bad_datetime(what: str) -> str:
    return f"{what} is not an ISO 8601 date-time with a UTC offset, e.g. 2015-04-01T08:41:51+00:00."


# --- activities --------------------------------------------------------------


def activity_list_problems(activities: Any, *, field: str | None = None) -> Iterator[str]:
    """Why a list of activities (a lead's ``activities`` or an activities body) is refused."""
    if not isinstance(activities, list):
        where = f"Field '{field}'" if field else "The body"
        yield f"{where} must be a list of activity objects."
        return
    for number, activity in enumerate(activities, start=1):
        yield from activity_problems(activity, number)


def activity_problems(activity: Any, number: int) -> Iterator[str]:
    """Why one activity (``number`` counts from 1) is refused."""
    where = f"Activity {number}"
    if not isinstance(activity, dict):
        yield f"{where} is not a JSON object."
        return
    for name in activity:
        if name not in ACTIVITY_FIELDS:
            yield f"{where}: field '{name}' is not an activity field the API accepts."
    for name in ACTIVITY_REQUIRED:
        if is_blank(activity.get(name)):
            yield f"{where}: field '{name}' is required and must not be empty."
    for name, value in activity.items():
        if name in ("type", "source", "description", "created") and not isinstance(value, str):
            yield f"{where}: field '{name}' must be a string, not {_json_type(value)}."
        elif name == "notify_users" and not isinstance(value, bool):
            yield f"{where}: field 'notify_users' must be true or false."
        elif name in ("property", "user") and not isinstance(value, dict):
            yield f"{where}: field '{name}' must be a JSON object."
    kind = activity.get("type")
    if isinstance(kind, str) and not is_blank(kind) and kind not in ACTIVITY_TYPES:
        yield f"{where}: type '{kind}' is not an activity type the API accepts (one of: {', '.join(ACTIVITY_TYPES)})."
    created = activity.get("created")
    if isinstance(created, str) and not is_datetime_with_offset(created):
        yield _bad_datetime(f"{where}: field 'created'")
    if isinstance(activity.get("property"), dict):
        yield from property_problems(activity["property"])
    if isinstance(activity.get("user"), dict):
        yield from _user_problems(activity["user"], where)


def property_problems(prop: dict[str, Any]) -> Iterator[str]:
    """Why a property object is refused; integer fields must be JSON integers."""
    for name in prop:
        if name not in PROPERTY_FIELDS:
            yield f"Property field '{name}' is not a property field the API accepts."
    for name, value in prop.items():
        if name in PROPERTY_INT_FIELDS:
            # JSON true/false decode to bool, a subclass of int: not integers here.
            if isinstance(value, bool) or not isinstance(value, int):
                yield f"Property field '{name}' is not a valid integer."
        elif name in PROPERTY_FIELDS and not isinstance(value, str):
            yield f"Property field '{name}' must be a string, not {_json_type(value)}."


def _user_problems(user: dict[str, Any], where: str) -> Iterator[str]:
    for name in user:
        if name not in USER_FIELDS:
            yield f"{where}: user field '{name}' is not accepted (only {', '.join(USER_FIELDS)})."
    if not isinstance(user.get("id"), str) or is_blank(user.get("id")):
        yield f"{where}: user field 'id' must be a non-empty string."


def _is_property_view(activity: Any) -> bool:
    return (
        isinstance(activity, dict)
        and activity.get("type") == "property_viewed"
        and isinstance(activity.get("property"), dict)
        and bool(activity["property"])
    )


# --- unknown fields ------------------------------------------------------------


def drop_unknown_lead_fields(lead: dict[str, Any]) -> dict[str, Any]:
    """``lead`` without the keys the contract does not know, at every level.

    Used when the sandbox runs with ``unknown_fields="ignore"``. Lead fields
    that exist but are refused in a context (``source`` on a potential seller)
    are kept, so they are still reported.
    """
    kept = {k: v for k, v in lead.items() if k in LEAD_FIELDS}
    if isinstance(kept.get("activities"), list):
        kept["activities"] = drop_unknown_activity_fields(kept["activities"])
    return kept


def drop_unknown_activity_fields(activities: list[Any]) -> list[Any]:
    """Activities without unknown keys (their property and user objects too)."""
    cleaned: list[Any] = []
    for activity in activities:
        if isinstance(activity, dict):
            activity = {k: v for k, v in activity.items() if k in ACTIVITY_FIELDS}
            if isinstance(activity.get("property"), dict):
                activity["property"] = {
                    k: v for k, v in activity["property"].items() if k in PROPERTY_FIELDS
                }
            if isinstance(activity.get("user"), dict):
                activity["user"] = {k: v for k, v in activity["user"].items() if k in USER_FIELDS}
        cleaned.append(activity)
    return cleaned


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "a string"
