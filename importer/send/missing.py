"""What vanished: leads this ledger sent for the site and source that the file no longer holds.

A nightly export that drops a row usually means the contact was deleted or
merged in the CRM. The API cannot delete a lead, and rg-import would not
decide that for anyone: a run that read its whole file only counts these keys
(report.json's ``missing_since_last_run``) and lists them, with their lead ids,
in missing.csv for people to look at.

The keys of the file are gathered as its chunks are planned (every row's key,
rejected rows included: a row still in the file has not vanished); at the end
one query reads the ledger's confirmed keys and a set difference finds the
missing ones, so 100,000 rows cost one query, not one per key.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from importer.outputs import csv_files
from importer.send.run_outputs import FileWriteError

if TYPE_CHECKING:
    from importer.ledger.ledger import Ledger
    from importer.mapping.spec import Mapping
    from importer.plan.rows import PlannedChunk
    from importer.send.breaker import CircuitBreaker

MISSING_COLUMNS = ("key", "lead_id", "state", "last_sent_at", "last_run_id")


@dataclass(frozen=True)
class Missing:
    """How many keys vanished (None: not checked) and the file listing them (None: none)."""

    count: int | None = None
    file: Path | None = None


@dataclass
class FileKeys:
    """The keys of the rows read so far; ``complete`` once the file was read to its end."""

    keys: set[str] = field(default_factory=set)
    complete: bool = False

    def add(self, planned: PlannedChunk) -> None:
        self.keys.update(planned.keys)


def checked(mapping: Mapping, *, read_to_end: bool) -> bool:
    """Whether a run can tell what vanished.

    Not when it stopped before the end of its file (the keys not read would all
    look missing), nor for an activity file, whose rows name leads of another
    file and never list them all.
    """
    return read_to_end and mapping.kind != "activity"


def report_missing(
    ledger: Ledger, site: str, mapping: Mapping, seen: FileKeys, out_dir: Path,
    breaker: CircuitBreaker,
) -> Missing:  # fmt: skip
    """Count the confirmed keys of ``site`` and the mapping's source absent from ``seen``; list them.

    Not checked (None) when the run stopped, even after reading its whole file:
    a stopped run says only what it did. missing.csv (0600, cells neutralised
    against formulas) is written only when some are missing; when it cannot
    be, the run stops as on any output file it cannot write (``breaker.halt``)
    and nothing is counted. Nothing is deleted, in the ledger or on the server.
    """
    if breaker.stop.is_set() or not checked(mapping, read_to_end=seen.complete):
        return Missing()
    gone = [row for row in ledger.confirmed_keys(site, mapping.source) if row[0] not in seen.keys]
    if not gone:
        return Missing(0)
    out = csv_files.CsvOut(out_dir / "missing.csv", MISSING_COLUMNS)
    try:
        for key, lead_id, state, updated_at, run_id in gone:
            # updated_at is when the ledger last recorded the lead; it says "sent" only in state sent
            out.write([key, lead_id, state, updated_at if state == "sent" else "", run_id])
        out.close()
    except OSError as exc:
        with contextlib.suppress(OSError):
            out.close()
        breaker.halt(FileWriteError(out.path, exc))
        return Missing()
    return Missing(len(gone), out.path)
