"""Shared helpers of the sandbox tests (no tests here): a Basic-auth session and sample payloads."""

from __future__ import annotations

import uuid
from typing import Any

import requests

AUTH = ("sandbox", "sandbox")
OTHER_SITE = "5ead6dd1-2cb9-4f80-80fc-5716b05c90ba"


def session(auth: tuple[str, str] | None = AUTH) -> requests.Session:
    """A keep-alive session sending the sandbox's default credentials."""
    s = requests.Session()
    if auth is not None:
        s.auth = auth
    return s


def new_id() -> str:
    """A fresh dashed lead id."""
    return str(uuid.uuid4())


def lead(**fields: Any) -> dict[str, Any]:
    """A valid lead with a fresh id, overridden by ``fields`` (None removes a key)."""
    body: dict[str, Any] = {
        "id": new_id(),
        "source": "Tests",
        "email": f"{uuid.uuid4().hex[:8]}@example.com",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def note(**fields: Any) -> dict[str, Any]:
    """A valid ``note`` activity, overridden by ``fields`` (None removes a key)."""
    body: dict[str, Any] = {
        "type": "note",
        "source": "Tests",
        "description": "Called, left voicemail",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def property_view(**prop: Any) -> dict[str, Any]:
    """A ``property_viewed`` activity carrying ``prop`` (a default address when empty)."""
    return {
        "type": "property_viewed",
        "source": "Tests",
        "description": "Valued a home",
        "property": prop or {"street_address": "1 Main St", "city": "Honolulu", "full_baths": 2},
    }


def error_of(response: requests.Response) -> str:
    """The ``error`` string of a JSON error answer (asserting the shape on the way)."""
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"], str) and body["error"]
    return body["error"]
