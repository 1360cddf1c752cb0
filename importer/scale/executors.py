"""Which executor a run uses, as the flags give it: one process, or a Dask cluster.

``--executor local`` (the default) is the run as it always was. ``dask`` sends
the tasks to the scheduler of ``--scheduler tcp://HOST:8786``; ``dask-local``
starts a cluster of ``--processes`` worker processes on this machine for the
run and stops it after. Nothing here imports Dask (``importer.scale.dask_cluster``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from importer.errors import ConfigError

LOCAL, DASK, DASK_LOCAL = "local", "dask", "dask-local"
EXECUTORS = (LOCAL, DASK, DASK_LOCAL)
DASK_EXTRA = "pip install 'rg-import[dask]'"


@dataclass(frozen=True)
class Executor:
    """``kind`` (EXECUTORS); ``scheduler``: the address of a running cluster (dask);
    ``processes``: the worker processes of a cluster started for the run (dask-local)."""

    kind: str = LOCAL
    scheduler: str | None = None
    processes: int | None = None

    @property
    def spread(self) -> bool:
        """Whether the run goes to a Dask cluster rather than staying in this process."""
        return self.kind != LOCAL


def default_processes() -> int:
    """dask-local's worker processes when --processes is not given: one per core."""
    return max(1, os.cpu_count() or 1)


def executor_of(kind: str, scheduler: str | None, processes: int | None) -> Executor:
    """The executor the flags name; ConfigError (exit 2) for flags that do not go together."""
    if kind == LOCAL:
        if scheduler or processes:
            flag = "--scheduler" if scheduler else "--processes"
            raise ConfigError(f"{flag} goes with --executor dask or dask-local, not alone")
        return Executor()
    if kind == DASK:
        if processes:
            raise ConfigError(
                "--processes starts workers on this machine: give it with --executor dask-local; "
                "a cluster at --scheduler has the workers it has"
            )
        return Executor(DASK, scheduler=_checked_scheduler(scheduler))
    if kind == DASK_LOCAL:
        if scheduler:
            raise ConfigError("--scheduler names a running cluster: use --executor dask with it")
        return Executor(DASK_LOCAL, processes=processes or default_processes())
    raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, not {kind!r}")


def _checked_scheduler(address: str | None) -> str:
    if not address:
        raise ConfigError(
            "--executor dask needs the cluster's scheduler: --scheduler tcp://HOST:8786 "
            "(or --executor dask-local for workers on this machine)"
        )
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if not parts.hostname or parts.password or parts.username:
        raise ConfigError(f"--scheduler {address!r} is no address like tcp://HOST:8786")
    return address
