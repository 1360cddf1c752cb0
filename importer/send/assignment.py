"""Assignment for one command: the site's users fetched once, put into the mapping.

``with_users`` is called before anything is read or sent: it fetches the
site's users (``Client.list_users``) only when the mapping has ``assign:`` and
assignment is on, builds the ``Directory`` the mapping stage matches owners
with (``importer.mapping.owners``), and returns the mapping carrying it. A
fetch refused with 401, 403 or 404 stops the command here, before sending.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from importer.errors import ApiError, AuthError, ConfigError, NotFoundError, RunAborted
from importer.mapping.owners import Directory
from importer.mapping.spec import Mapping
from importer.outputs.agents import read_agent_map

ASSIGN_CHOICES = ("on", "off")


def assignment_off(mapping: Mapping) -> Mapping:
    """``--assign off``: the mapping without its ``assign:`` (owners stay in the note)."""
    return replace(mapping, assign=None) if mapping.assign else mapping


def with_users(
    mapping: Mapping,
    fetch: Callable[[], Iterable[Any]],
    *,
    agent_map: Path | None = None,
    site: str = "",
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
