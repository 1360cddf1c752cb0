"""The ledger as a table of leads, for ``rg-import ledger show`` and ``ledger export``
(all of them, or those one run created).

Rows are lists of text in ``LEDGER_COLUMNS`` order, oldest first, read from a
ledger opened read-only (it takes no lock, so a run may be using the file).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from importer.config import ENV_LEDGER, environment
from importer.errors import ConfigError
from importer.ledger.ledger import Ledger
from importer.ledger.records import LeadRecord
from importer.ledger.spec import LedgerSpec, ledger_spec, shown
from importer.outputs.csv_files import neutralise
from importer.settings import DEFAULT_LEDGER

LEDGER_COLUMNS = (
    "site",
    "source",
    "key",
    "lead_id",
    "state",
    "attempts",
    "last_status",
    "last_error",
    "run_id",
    "updated_at",
)
_RECENT = 20  # leads `ledger show` lists after the counts


def find_ledger(path: LedgerSpec | None, env: Mapping[str, str] | None = None) -> LedgerSpec:
    """``path``, else RG_LEDGER from ``env`` (default: the environment and ./.env), else
    ./rg-import.ledger.sqlite. Raises ConfigError if no such file exists (a
    ``postgresql://`` URL is looked at when opened)."""
    ledger_path = path or ledger_spec(environment(env).get(ENV_LEDGER) or DEFAULT_LEDGER)
    if isinstance(ledger_path, Path) and not ledger_path.exists():
        raise ConfigError(f"ledger {ledger_path} does not exist; pass --ledger PATH")
    return ledger_path


def ledger_rows(
    path: LedgerSpec, state: str | None = None, run: str | None = None
) -> list[list[str]]:
    """Every lead of the ledger at ``path`` (only those in ``state`` if given) as text.

    ``run``: only the leads that run created (``Ledger.iter_created``).
    Raises LedgerError if the file cannot be read as a ledger (or, with
    ``run``, is too old to say), and ConfigError for a run it does not know.
    """
    rows = []
    with Ledger(path, run_id="inspect", readonly=True) as book:
        leads = book.iter_leads(state=state) if run is None else _created(book, path, run, state)
        for r in leads:
            rows.append([r.site, r.source, r.key, r.lead_id, r.state, str(r.attempts),
                         "" if r.last_status is None else str(r.last_status), r.last_error or "", r.run_id, r.updated_at])  # fmt: skip
    return rows


def _created(book: Ledger, path: LedgerSpec, run: str, state: str | None) -> Iterator[LeadRecord]:
    found = book.find_run(run)
    if found is None:
        raise ConfigError(
            f"no run {run} in the ledger {shown(path)}; take the run id from that run's report.json "
            "(run_id) and pass the ledger it used with --ledger"
        )
    if not found.creations_known:
        raise ConfigError(
            f"run {run} sent before the ledger {shown(path)} recorded which run created a lead "
            "(an older rg-import); `rg-import ledger export` without --run lists every lead "
            "with its last run"
        )
    return book.iter_created(run, state=state)


def ledger_overview(rows: Sequence[Sequence[str]]) -> str:
    """The number of leads per state, then the most recent leads with their last error."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[4]] = counts.get(r[4], 0) + 1
    lines = [f"{len(rows)} leads: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))]
    for r in rows[-_RECENT:]:
        lines.append(f"  {r[4]:<9} {r[3]}  key {r[2]}  {r[7][:60]}")
    return "\n".join(lines)


def ledger_json(rows: Sequence[Sequence[str]]) -> str:
    """The rows as a JSON list of objects keyed by column name."""
    return json.dumps(
        [dict(zip(LEDGER_COLUMNS, r, strict=True)) for r in rows], indent=2, ensure_ascii=False
    )


def write_ledger_csv(rows: Sequence[Sequence[str]], stream: TextIO) -> None:
    """Write a header line and the rows to ``stream`` as CSV.

    Cells a spreadsheet would run as a formula are neutralised.
    """
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(LEDGER_COLUMNS)
    writer.writerows([[neutralise(c) for c in r] for r in rows])
