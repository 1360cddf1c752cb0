"""``--assign`` and ``--agent-map`` of ``plan`` and ``run``: the site's users put into the mapping.

``run`` always knows its site and login, so it fetches the users when the
mapping has ``assign:`` (``for_run``). ``plan`` can be run without either: it
then plans as before and says it did not check the owners (``for_plan``); with
``--site`` and credentials (or ``--sandbox``) it matches them, sending nothing.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import TYPE_CHECKING

import click

from importer.errors import ConfigError

if TYPE_CHECKING:
    from importer.cli.arguments import Destination
    from importer.mapping.spec import Mapping
    from importer.send.client_settings import ClientSettings

assign_options = [
    click.option("--assign", "assign", type=click.Choice(("on", "off")), default="on", show_default=True,
                 help="Assign each lead to the Real Geeks user its owner column names (the mapping's "
                      "assign:); off: owners stay in the note only."),
    click.option("--agent-map", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
                 help="CSV of owner,user: the export's owner value -> a Real Geeks user id or email "
                      "(start from the agents.csv that plan writes)."),
]  # fmt: skip


def for_run(
    mapping: Mapping,
    assign: str,
    agent_map: Path | None,
    target: Destination,
    settings: ClientSettings | None = None,
) -> Mapping:
    """The mapping with the site's users, fetched once, or without ``assign:`` when off."""
    from importer.send.assignment import assignment_off, with_users

    if assign == "off" or mapping.assign is None:
        return assignment_off(mapping)
    from importer.send.client import Client
    from importer.send.client_settings import ClientSettings

    with Client(target.credentials, settings or ClientSettings(base_url=target.url)) as client:
        return with_users(
            mapping, lambda: client.list_users(target.site), agent_map=agent_map, site=target.site
        )


def for_plan(
    mapping: Mapping,
    assign: str,
    agent_map: Path | None,
    *,
    site: str | None,
    base_url: str | None,
    sandbox: bool,
    env: MappingABC[str, str],
) -> tuple[Mapping, str, str | None]:
    """The mapping with the site's users when plan can list them; else why not.

    Returns the mapping, the reason owners were not checked ("" when they
    were) and the site (the sandbox's when ``--sandbox`` gives none).
    """
    from importer.cli.arguments import run_destination
    from importer.send.assignment import assignment_off

    if assign == "off" or mapping.assign is None:
        return assignment_off(mapping), "", site
    if not sandbox and not site:
        return mapping, "owners not checked: no --site given (add --site and credentials)", site
    try:
        target = run_destination(
            site=site, base_url=base_url, ledger=None, sandbox=sandbox, env=env
        )
    except ConfigError as exc:
        if agent_map or base_url:
            raise  # asked for explicitly: a missing login is the user's to fix
        return mapping, f"owners not checked: {exc}", site
    try:
        return for_run(mapping, assign, agent_map, target), "", target.site
    finally:
        target.close()
