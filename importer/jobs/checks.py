"""What would stop a job from running, found without writing anything.

The input (the file, a match of the glob, or the drop folder), the site's
form, the base URL, the ledger (``importer.ledger.path_check``) and the folder
of run directories. The mapping and the settings against the flags of
``rg-import run`` are checked by the command line, which knows those.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from importer.config import check_base_url, check_site
from importer.errors import ConfigError, ImporterError
from importer.jobs.project import Job, newest_input
from importer.ledger.path_check import check_ledger_path
from importer.ledger.spec import LedgerSpec, ledger_spec
from importer.settings import DEFAULT_LEDGER

SANDBOX_LEDGER = Path("rg-import-sandbox") / "ledger.sqlite"  # where --sandbox keeps it


def check_job(job: Job, values: dict[str, Any]) -> list[str]:
    """The problems of ``job``, one line each; ``values`` are its run settings by
    parameter name (the environment's already put over the file's)."""
    checks = (
        lambda: _check_input(job),
        lambda: _check_site(values.get("site"), sandbox=bool(values.get("sandbox"))),
        lambda: values.get("base_url") and check_base_url(values["base_url"]),
        lambda: check_ledger_path(_ledger(values)),
        lambda: _check_folder(job.out, "out"),
    )
    problems = []
    for check in checks:
        try:
            check()
        except ImporterError as exc:
            problems.append(str(exc))
    return problems


def _check_input(job: Job) -> None:
    if job.inbox is not None:
        if not job.inbox.is_dir():
            raise ConfigError(f"{job.where('inbox')}: {job.inbox} is not a folder; create it")
        return
    if job.input is None:
        raise ConfigError(f"{job.where()}: no input or inbox; add one")
    found = newest_input(job)
    if not found.is_file():
        raise ConfigError(f"{job.where('input')}: no file at {found}; check the path")


def _check_site(site: str | None, *, sandbox: bool) -> None:
    if site is None and not sandbox:
        raise ConfigError('no site: add site = "UUID" to the job, or set RG_SITE')
    check_site(site)


def _ledger(values: dict[str, Any]) -> LedgerSpec:
    given = values.get("ledger")
    if given:
        return ledger_spec(given)
    return SANDBOX_LEDGER if values.get("sandbox") else Path(DEFAULT_LEDGER)


def _check_folder(path: Path | None, key: str) -> None:
    """A folder that exists, or can be made in its nearest existing parent."""
    if path is None:
        return
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"{key}: {path} exists and is not a folder")
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}: cannot create {path}: {parent} is not a writable folder")
