"""The site's users for a run, asked once the file has been read through and opened.

Only a file with an owner column makes the run ask (``Client.list_users``). A
refused fetch stops the run as a refused write does: the breaker opens, every
row is not sent, exit 4, with its report (``importer.plan.users`` builds the
mapping that carries the users).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from importer.errors import AuthError, RunAborted
from importer.mapping.spec import Mapping
from importer.plan.users import Fetch, has_owner_column, with_users
from importer.send.breaker import CircuitBreaker


def users_for_run(
    mapping: Mapping,
    columns: Sequence[str],
    fetch: Fetch,
    breaker: CircuitBreaker,
    *,
    agent_map: Path | None,
    site: str,
) -> Mapping:
    """The mapping with the site's users, for a run of a file with these columns;
    the mapping as it is when the file has no owner column or the fetch failed
    (the breaker is then open, so nothing is sent)."""
    if not has_owner_column(mapping, columns):
        return mapping  # nothing to assign: no need to ask
    try:
        return with_users(mapping, fetch, agent_map=agent_map, site=site)
    except AuthError as exc:
        breaker.failure(exc)
    except RunAborted as exc:
        breaker.interrupt(str(exc))
    return mapping
