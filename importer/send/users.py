"""A site's users as ``GET /sites/{site}/users`` lists them: agents and lenders.

``User`` keeps what assigning a lead needs (the id a ``was_assigned``
activity names) and what a person recognises them by; ``parse_users`` reads
the answer's JSON list, tolerating fields the API adds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from importer.errors import UnexpectedAnswerError


@dataclass(frozen=True)
class User:
    """One Real Geeks user of a site. ``role`` is "Agent" or "Lender"; ``admin``
    says the user is also an admin of the CRM; ``email`` is None when blank."""

    id: str
    name: str
    email: str | None
    role: str
    admin: bool


def parse_users(body: bytes, *, url: str = "") -> list[User]:
    """The users of a 2xx answer's JSON list; UnexpectedAnswerError when it is not one."""
    try:
        items = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        items = None
    if not isinstance(items, list) or not all(_is_user(item) for item in items):
        raise UnexpectedAnswerError(
            "the users answer is not a JSON list of users with an id",
            status=200,
            method="GET",
            url=url,
        )
    return [_user(item) for item in items]


def _is_user(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), str | int)
        and not isinstance(item.get("id"), bool)
        and str(item["id"]).strip() != ""
    )


def _user(item: dict[str, Any]) -> User:
    email = _text(item.get("email"))
    return User(
        id=str(item["id"]).strip(),
        name=_text(item.get("name")),
        email=email or None,
        role=_text(item.get("role")),
        admin=item.get("admin") is True,
    )


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
