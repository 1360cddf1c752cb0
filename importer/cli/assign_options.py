"""``--assign`` and ``--agent-map`` of ``plan`` and ``run``, and how ``plan`` asks for the users.

Both commands list the site's users themselves, once they have opened the file
(and only when it has an owner column): ``run`` always knows its site and login
(``importer.send.assignment``); ``plan`` can be run without either, and then
says it did not check the owners (``users_to_plan`` gives it no way to ask).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping as MappingABC
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from importer.errors import ConfigError

if TYPE_CHECKING:
    from importer.mapping.spec import Mapping
    from importer.plan.users import Fetch

assign_options = [
    click.option("--assign", "assign", type=click.Choice(("on", "off")), default="on", show_default=True,
                 help="Assign each lead to the Real Geeks user its owner column names (the mapping's "
                      "assign:); off: owners stay in the note only."),
    click.option("--agent-map", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
                 help="CSV of owner,user: the export's owner value -> a Real Geeks user id or email "
                      "(start from the agents.csv that plan writes)."),
]  # fmt: skip


def for_run(mapping: Mapping, assign: str, agent_map: Path | None = None) -> Mapping:
    """The mapping for ``run`` (or ``plan``): without ``assign:`` when off. An
    ``--agent-map`` with nothing to assign is a mistake worth a line (exit 2)."""
    from importer.plan.users import assignment_off

    if agent_map is not None and (assign == "off" or mapping.assign is None):
        why = "--assign off" if assign == "off" else f"mapping {mapping.name!r} has no assign:"
        raise ConfigError(f"--agent-map is given, but {why}: leave it out, or assign owners")
    return assignment_off(mapping) if assign == "off" else mapping


@dataclass(frozen=True)
class PlanUsers:
    """How ``plan`` may ask for the site's users: ``fetch`` (None: it may not, for ``why``)."""

    fetch: Fetch | None
    site: str | None  # the sandbox's when --sandbox gave none
    why: str = ""


@contextmanager
def users_to_plan(
    mapping: Mapping, *, site: str | None, base_url: str | None, sandbox: bool,
    env: MappingABC[str, str],
) -> Iterator[PlanUsers]:  # fmt: skip
    """A way for ``plan`` to list the site's users, while the block runs.

    Without --site (or --sandbox) or credentials there is none: plan then says
    it did not check the owners. A bad --base-url is still an error.
    """
    from importer.cli.arguments import run_destination

    if mapping.assign is None:
        yield PlanUsers(None, site)
        return
    if not sandbox and not site:
        yield PlanUsers(
            None, site, "owners not checked: no --site given (add --site and credentials)"
        )
        return
    try:
        target = run_destination(
            site=site, base_url=base_url, ledger=None, sandbox=sandbox, env=env
        )
    except ConfigError as exc:
        if base_url:
            raise  # asked for explicitly: a missing login is the user's to fix
        yield PlanUsers(None, site, f"owners not checked: {exc}")
        return
    from importer.send.client import Client
    from importer.send.client_settings import ClientSettings

    try:
        with Client(target.credentials, ClientSettings(base_url=target.url)) as client:
            on = target.site
            yield PlanUsers(lambda: client.list_users(on), on)
    finally:
        target.close()
