"""One piece of a spread run, as a task: plain values in, a ``RunResult`` out.

A Dask worker runs ``run_piece``: it reads the credentials from its own
environment (RG_USERNAME and RG_PASSWORD, or ./.env where it runs; the
ledger's password from PGPASSWORD or ~/.pgpass), so none travels in the
task's arguments, which the scheduler may log or show. Then it is a plain
``run_file`` over the piece's span: its own ledger connection, its own API
client, its own run directory under the run's ``pieces/``. Killed half-way and
run again (Dask retries a task whose worker died), it plans its rows against
the ledger like any re-run: what was sent is unchanged, what was being sent
is sent again with its lead id, which the API merges.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from importer.config import environment, load_credentials

if TYPE_CHECKING:
    from importer.outputs.report import RunResult
    from importer.read.records import Span
    from importer.send.run import RunRequest


@dataclass(frozen=True)
class PieceTask:
    """What a worker needs to send one piece: the run's request without its credentials
    (``credentials`` None), the piece's records (``span``; None: the whole file) and its
    run directory. The mapping travels resolved, so a worker needs no mapping files."""

    request: RunRequest
    index: int
    span: Span | None
    out: Path

    def __post_init__(self) -> None:
        if self.request.credentials is not None:
            raise ValueError("a task never carries credentials: workers read their own")


def run_piece(task: PieceTask) -> RunResult:
    """Send the piece (a Dask task); raises like ``run_file`` when it cannot start."""
    from importer.send.run import run_file

    request = dataclasses.replace(
        task.request, credentials=load_credentials(environment()), span=task.span,
        out=task.out, overwrite=True,  # a retried task replaces what its dead try wrote
    )  # fmt: skip
    return run_file(request)
