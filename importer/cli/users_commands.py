"""``rg-import users`` (a site's agents and lenders) and ``rg-import doctor`` (is all set?)."""

from __future__ import annotations

from pathlib import Path

import click

from importer.cli.arguments import LEDGER
from importer.ledger.spec import LedgerSpec
from importer.settings import DEFAULT_MAX_ATTEMPTS


@click.command()
@click.option("--site", metavar="UUID", help="Real Geeks site UUID (or RG_SITE).")
@click.option(
    "--base-url",
    metavar="URL",
    help="API base URL (or RG_BASE_URL; default: the Real Geeks service).",
)
@click.option(
    "--sandbox", is_flag=True, help="Ask an embedded local sandbox instead (no credentials needed)."
)
@click.option(
    "--max-attempts",
    default=DEFAULT_MAX_ATTEMPTS,
    show_default=True,
    type=click.IntRange(1, 50),
    help="Tries on transient errors (as for run).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def users(site: str | None, base_url: str | None, sandbox: bool, max_attempts: int, as_json: bool) -> int:  # fmt: skip
    """List a site's users (agents and lenders): id, name, email, role, admin.

    The ids are what a was_assigned activity names. Credentials come from
    RG_USERNAME/RG_PASSWORD (environment or .env), as for run. Exit 4 when
    the credentials are refused or the API cannot be reached, 2 for an
    unknown site or bad input.
    """
    from importer.cli.arguments import run_destination, site_option
    from importer.cli.summaries import users_json, users_table
    from importer.config import environment
    from importer.send.client_settings import ClientSettings
    from importer.send.user_listing import list_site_users

    target = run_destination(
        site=site_option(site), base_url=base_url, ledger=None, sandbox=sandbox, env=environment()
    )
    try:
        settings = ClientSettings(base_url=target.url, max_attempts=max_attempts)
        found = list_site_users(target.site, target.credentials, settings)
    finally:
        target.close()
    click.echo(users_json(found) if as_json else users_table(found))
    return 0


@click.command()
@click.option("--site", metavar="UUID", help="Real Geeks site UUID to try (or RG_SITE).")
@click.option(
    "--base-url",
    metavar="URL",
    help="API base URL (or RG_BASE_URL; default: the Real Geeks service).",
)
@click.option(
    "--ledger",
    type=LEDGER,
    help="Ledger file or postgresql:// URL (or RG_LEDGER; default: ./rg-import.ledger.sqlite).",
)
@click.option(
    "--runs-dir",
    type=click.Path(path_type=Path),
    default=Path("rg-import-runs"),
    show_default=True,
    help="Folder of the run directories (outputs).",
)
@click.option(
    "--mapping",
    "-m",
    "mapping_name",
    metavar="NAME|PATH",
    help="Check that this mapping loads (and fits --input).",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path),
    help="Check that the mapping fits this file (detected when no --mapping).",
)
def doctor(
    site: str | None, base_url: str | None, ledger: LedgerSpec | None, runs_dir: Path,
    mapping_name: str | None, input_path: Path | None,
) -> int:  # fmt: skip
    """Check, writing nothing, that a run has what it needs; one line per check.

    Credentials present (never shown), the base URL's scheme, the server
    reachable, TLS, the credentials accepted and the site known (through the
    Users endpoint), the ledger writable and not in use, free disk space, and
    with --mapping/--input that the mapping loads and fits the file.
    Exit 0 when all hold, 4 when the credentials are refused, else 2.
    """
    from importer.api_contract import DEFAULT_BASE_URL
    from importer.cli.arguments import default_ledger
    from importer.cli.summaries import doctor_line
    from importer.config import ENV_BASE_URL, ENV_SITE, environment
    from importer.jobs.doctor import DoctorRequest, exit_code, run_doctor

    env = environment()
    request = DoctorRequest(
        env=env,
        base_url=base_url or env.get(ENV_BASE_URL) or DEFAULT_BASE_URL,
        site=site or env.get(ENV_SITE),
        ledger=ledger or default_ledger(env),
        runs_dir=runs_dir,
        mapping=mapping_name,
        input=input_path,
    )
    checks = run_doctor(request)
    for check in checks:
        click.echo(doctor_line(check))
    return exit_code(checks)
