"""The site's users put into the mapping, so that owners are matched (``assign:``).

``with_users`` calls ``fetch`` (``Client.list_users``: the caller owns the
client) once, builds the ``Directory`` the mapping stage matches owners with
(``importer.mapping.owners``) and returns the mapping carrying it; a fetch
refused with 401 or 403 raises ``AuthError``, an unknown site (404) or any other
failure ``RunAborted``. ``plan`` asks through ``users_for_plan`` (a failure only
means the owners are not checked); ``run`` through ``importer.send.assignment``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from importer.errors import ApiError, AuthError, ConfigError, NotFoundError, RunAborted
from importer.mapping.owners import Directory
from importer.mapping.spec import Mapping
from importer.outputs.agents import read_agent_map
from importer.read.headers import normalize_header

Fetch = Callable[[], Iterable[Any]]
NOT_CHECKED = (
    "owners not checked: give --site and credentials (or --sandbox) to match them to users"
)


def assignment_off(mapping: Mapping) -> Mapping:
    """``--assign off``: the mapping without its ``assign:`` (owners stay in the note)."""
    return replace(mapping, assign=None) if mapping.assign else mapping


def has_owner_column(mapping: Mapping, columns: Sequence[str]) -> bool:
    """Whether a file with these columns has one of the mapping's owner columns."""
    if mapping.assign is None:
        return False
    present = {normalize_header(c) for c in columns}
    return any(normalize_header(c) in present for c in mapping.assign.columns)


def with_users(
    mapping: Mapping, fetch: Fetch, *, agent_map: Path | None = None, site: str = ""
) -> Mapping:
    """The mapping carrying a ``Directory`` of the users ``fetch`` returns (and the
    agent map's choices); its fingerprint changes with them, so that a re-run
    whose users changed maps its rows again instead of skipping them."""
    spec = mapping.assign
    if spec is None:
        return mapping
    chosen = read_agent_map(agent_map) if agent_map else {}
    try:
        users = list(fetch())
    except AuthError as exc:
        raise AuthError(
            f"the site's users could not be listed: {exc.error}; check RG_USERNAME and "
            "RG_PASSWORD, and that they may read this site", status=exc.status,
            attempts=exc.attempts,
        ) from exc  # fmt: skip
    except NotFoundError as exc:
        raise RunAborted(
            f"site {site} is unknown to the API (404 listing its users); check --site"
        ) from exc
    except ApiError as exc:
        raise RunAborted(f"the site's users could not be listed: {exc}; try again later") from exc
    directory = Directory.of(users, methods=spec.match, agent_map=chosen)
    unknown = directory.unknown_targets()
    if unknown:
        raise ConfigError(
            f"--agent-map {agent_map}: {', '.join(repr(u) for u in unknown[:5])} is no user of "
            "the site (give a user id or email from agents.csv or `rg-import users`)"
        )
    fingerprint = hashlib.sha256(f"{mapping.fingerprint}|users={directory.fingerprint}".encode())
    return replace(
        mapping, assign=replace(spec, directory=directory), fingerprint=fingerprint.hexdigest()
    )


def users_for_plan(
    mapping: Mapping,
    columns: Sequence[str],
    fetch: Fetch | None,
    *,
    agent_map: Path | None,
    site: str | None,
    unchecked: str = "",
) -> tuple[Mapping, str]:
    """The mapping with the site's users for a dry run, and why owners were not
    checked ("" when they were): no way to ask (``unchecked``), no owner column
    in the file, or the API's refusal, which a dry run only reports."""
    if mapping.assign is None:
        return mapping, ""
    if not has_owner_column(mapping, columns):
        names = " or ".join(repr(c) for c in mapping.assign.columns)
        return mapping, f"owners not checked: no column {names} in the file"
    if fetch is None:
        return mapping, unchecked or NOT_CHECKED
    try:
        return with_users(mapping, fetch, agent_map=agent_map, site=site or ""), ""
    except (ApiError, RunAborted) as exc:
        return mapping, f"owners not checked: {exc}"
