"""``rg-import ledger show|export|backup``: the ledger of what was sent, as a table or a copy."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from importer.cli.arguments import LEDGER
from importer.cli.shared import apply_options
from importer.errors import ConfigError
from importer.ledger.spec import LedgerSpec, shown


@click.group()
def ledger() -> None:
    """Look into the ledger of what was sent."""


ledger_options = [
    click.option("--ledger", "path", type=LEDGER, help="Ledger file or postgresql:// URL (default: RG_LEDGER or ./rg-import.ledger.sqlite)."),
    click.option("--state", type=click.Choice(["sending", "sent", "failed", "in_doubt"]), help="Only leads in this state."),
]  # fmt: skip


@ledger.command("show")
@apply_options(ledger_options)
def ledger_show(path: LedgerSpec | None, state: str | None) -> None:
    """Counts by state and the most recent leads."""
    from importer.ledger.listing import find_ledger, ledger_overview, ledger_rows

    click.echo(ledger_overview(ledger_rows(find_ledger(path), state)))


@ledger.command("export")
@apply_options(ledger_options)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "--run", "run_id", metavar="RUN_ID",
    help="Only the leads this run created (its report.json's run_id), to find and clean up an import.",
)  # fmt: skip
def ledger_export(path: LedgerSpec | None, state: str | None, fmt: str, run_id: str | None) -> None:
    """Write every lead of the ledger (or those one run created) to stdout as CSV or JSON."""
    from importer.ledger.listing import find_ledger, ledger_json, ledger_rows, write_ledger_csv

    rows = ledger_rows(find_ledger(path), state, run_id)
    if fmt == "json":
        click.echo(ledger_json(rows))
        return
    write_ledger_csv(rows, sys.stdout)


@ledger.command("backup")
@click.argument("target", metavar="PATH", type=click.Path(path_type=Path))
@click.option("--ledger", "path", type=LEDGER, help="Ledger file (default: RG_LEDGER or ./rg-import.ledger.sqlite).")  # fmt: skip
def ledger_backup(target: Path, path: LedgerSpec | None) -> None:
    """Copy the ledger to the new file PATH (0600), consistent, while no run uses it.

    Refused while a run holds the ledger; no run can start during the copy.
    A PostgreSQL ledger is backed up with the database's own tools (pg_dump).
    """
    from importer.ledger.backup import backup_ledger
    from importer.ledger.listing import find_ledger

    source = find_ledger(path)
    if not isinstance(source, Path):
        raise ConfigError(
            f"ledger {shown(source)} is a PostgreSQL database: back it up with pg_dump; "
            "`ledger backup` copies a SQLite ledger file"
        )
    leads = backup_ledger(source, target)
    click.echo(f"Ledger {source} ({leads} leads) copied to {target}")
