"""The ``rg-import`` command line: a thin click layer over the library.

Each command parses its options, calls one library function, prints its
result and returns an exit code. Errors that stop a command are mapped to exit
codes in one place (``main``); tracebacks are shown only with ``--debug``.
"""

from __future__ import annotations

import sys

import click

from importer import __version__
from importer.errors import ExitCode, ImporterError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rg-import")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Bulk-import CRM spreadsheet exports into Real Geeks Lead Manager."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port; 0 picks a free one.")
@click.option("--username", default="sandbox", show_default=True, help="Basic-auth user to accept.")
@click.option("--password", default="sandbox", show_default=True, help="Basic-auth password to accept.")
@click.option("--site", "sites", multiple=True, metavar="UUID", help="A site the credentials may write (repeatable); default: any.")
@click.option("--latency-ms", default=0.0, type=float, show_default=True, help="Delay added to every response.")
@click.option("--fault-rate", default=0.0, type=float, show_default=True, help="Share of API requests that fail.")
@click.option("--faults", default="500,503-html,429,timeout,reset", show_default=True, help="Comma-separated fault kinds to draw from.")
@click.option("--fault-delay", default=35.0, type=float, show_default=True, help="Seconds the 'timeout' fault waits before answering.")
@click.option("--seed", default=None, type=int, help="Seed for reproducible faults.")
@click.option("--rate-limit", default=None, type=float, metavar="RPS", help="Answer 429 above this many requests per second.")
@click.option("--store", default=None, metavar="PATH", help="Keep leads in this SQLite file (default: in memory).")
def sandbox(**options: object) -> None:
    """Run a local Incoming Leads API for trying and testing imports."""
    from importer.sandbox import SandboxConfig, serve

    serve(SandboxConfig.from_cli(**options))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rg-import`` script: run, map errors, exit."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="rg-import", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        code = ExitCode.INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        code = ExitCode.USAGE
    except ImporterError as exc:
        if debug:
            raise
        click.echo(f"Error: {exc}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = ExitCode.INTERRUPTED
    sys.exit(int(code or 0))
