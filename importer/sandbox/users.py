"""The sandbox's users: who ``GET /sites/{site}/users`` lists, per site.

Users come from a CSV file (header ``id,name,email,role,admin``, optionally
``site`` and the other documented User fields), a JSON list of objects, or
Python (dicts or dataclasses). A user without a ``site`` belongs to every
site; without any users the sandbox lists ``DEFAULT_USERS``. Every user is
checked when loaded, so a bad file stops the sandbox with one line.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from importer.api_contract import SITE_USER_FIELDS, USER_ROLES
from importer.errors import ConfigError

REQUIRED_COLUMNS: tuple[str, ...] = ("id", "name", "email", "role", "admin")
_TEXT_FIELDS = tuple(f for f in SITE_USER_FIELDS if f != "admin")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", ""}

# A small team on every site: an admin agent, two agents who share a name (so a
# name alone is ambiguous), and a lender.
DEFAULT_USERS: tuple[dict[str, Any], ...] = (
    {"id": "14187", "name": "Jane Doe", "email": "jane.doe@example.com", "role": "Agent", "admin": True},
    {"id": "14188", "name": "John Smith", "email": "john.smith@example.com", "role": "Agent", "admin": False},
    {"id": "14189", "name": "John Smith", "email": "jsmith.sales@example.com", "role": "Agent", "admin": False},
    {"id": "14190", "name": "Maria Garcia", "email": "maria.garcia@example.com", "role": "Lender", "admin": False},
)  # fmt: skip


def load_users_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], ...]:
    """The users of a ``.json`` (a list of objects) or CSV file; ConfigError naming a problem."""
    where = Path(path)
    try:
        text = where.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ConfigError(f"users file {where}: cannot read it ({reason})") from None
    if where.suffix.lower() == ".json":
        try:
            items = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"users file {where}: not valid JSON ({exc})") from None
        if not isinstance(items, list):
            raise ConfigError(f"users file {where}: must hold a JSON list of user objects")
        return check_users(items, where=str(where))
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or ()]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ConfigError(
            f"users file {where}: missing column(s) {', '.join(missing)}; "
            f"the header must hold {','.join(REQUIRED_COLUMNS)}"
        )
    reader.fieldnames = header
    return check_users(reader, where=str(where))


def check_users(items: Iterable[Any], *, where: str = "users") -> tuple[dict[str, Any], ...]:
    """Each user as the API's User object (plus ``site`` when given); ConfigError for a bad one."""
    users: list[dict[str, Any]] = []
    seen: set[tuple[str | None, str]] = set()
    for number, item in enumerate(items, start=1):
        user = _one_user(item, f"{where}: user {number}")
        key = (user.get("site"), user["id"])
        if key in seen:
            raise ConfigError(f"{where}: user {number} repeats id {user['id']!r}; ids are unique")
        seen.add(key)
        users.append(user)
    return tuple(users)


def _one_user(item: Any, where: str) -> dict[str, Any]:
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        item = dataclasses.asdict(item)
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where} is not an object with id, name, email, role and admin")
    if None in item:  # csv.DictReader's key for cells beyond the header
        raise ConfigError(f"{where} has more cells than the header has columns")
    unknown = sorted(set(item) - set(SITE_USER_FIELDS) - {"site"})
    if unknown:
        raise ConfigError(f"{where} has unknown field(s) {', '.join(unknown)}")
    user: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = item.get(name)
        user[name] = "" if value is None else str(value).strip()
    if not user["id"]:
        raise ConfigError(f"{where} has no id")
    role = next((r for r in USER_ROLES if r.lower() == user["role"].lower()), None)
    if role is None:
        raise ConfigError(f"{where} has role {user['role']!r}: use {' or '.join(USER_ROLES)}")
    user["role"] = role
    user["admin"] = _boolean(item.get("admin"), where)
    site = item.get("site")
    if site not in (None, ""):
        try:
            user["site"] = str(uuid.UUID(str(site).strip()))
        except ValueError:
            raise ConfigError(f"{where} has site {site!r}, which is not a UUID") from None
    return user


def _boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{where} has admin {value!r}: use true or false")


class UserDirectory:
    """The users each site lists; read-only once made."""

    def __init__(self, users: Iterable[Mapping[str, Any]] | None) -> None:
        given = DEFAULT_USERS if users is None else tuple(users)
        self._everywhere = [_as_api(u) for u in given if not u.get("site")]
        self._own: dict[str, list[dict[str, Any]]] = {}
        for user in given:
            if user.get("site"):
                self._own.setdefault(user["site"], []).append(_as_api(user))

    def has_own(self, site: str) -> bool:
        """True when users were given for ``site`` by name (the site exists)."""
        return site in self._own

    def for_site(self, site: str) -> list[dict[str, Any]]:
        """Copies of the users ``site`` lists: its own, then those of every site."""
        return [dict(u) for u in self._own.get(site, []) + self._everywhere]


def _as_api(user: Mapping[str, Any]) -> dict[str, Any]:
    """The User object as the API lists it: the documented fields, in their order."""
    return {name: user.get(name, False if name == "admin" else "") for name in SITE_USER_FIELDS}
