"""The ``rg-import`` command line: a thin click layer over the library.

Each command parses its options, calls one library function, prints its
result and returns an exit code. Errors that stop a command are mapped to exit
codes in one place (``main``); tracebacks are shown only with ``--debug``.
The click-free parts live in the library: ``importer.command_inputs`` (flags
to read options, mapping, site and destination), ``importer.summary`` (the
texts printed) and ``importer.ledger.listing`` (the ``ledger`` commands' table).
This is the only module that imports click; the others are imported inside the
commands, so ``rg-import --help`` stays quick.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from importer import __version__
from importer.errors import ConfigError, ExitCode, ImporterError, RunWriteFailed
from importer.settings import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    DEFAULT_UPDATE_API,
    DEFAULT_WORKERS,
    UPDATE_APIS,
)

if TYPE_CHECKING:
    from importer.mapping.spec import Mapping


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rg-import")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Bulk-import CRM spreadsheet exports into Real Geeks Lead Manager."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


F = TypeVar("F", bound=Callable[..., Any])


def _apply(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    """Apply a shared list of click options to a command."""

    def wrap(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


def _spools_input(f: F) -> F:
    """Give the command its INPUT as a regular file, and ``input_name``: INPUT as typed.

    ``-``, /dev/stdin, a FIFO or ``<(…)`` can be read only once, while the reader
    opens its input several times: such an input is copied first (``importer.read.spool``).
    """

    @functools.wraps(f)
    def wrapper(*args: Any, input_path: Path, **kwargs: Any) -> Any:
        from importer.read.spool import spooled_input

        with spooled_input(input_path) as source:
            return f(*args, input_path=source.path, input_name=source.name, **kwargs)

    return cast(F, wrapper)


sandbox_options = [
    click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on."),
    click.option("--port", default=8765, show_default=True, type=int, help="Port; 0 picks a free one."),
    click.option("--username", default="sandbox", show_default=True, help="Basic-auth user to accept."),
    click.option("--password", default="sandbox", show_default=True, help="Basic-auth password to accept."),
    click.option("--site", "sites", multiple=True, metavar="UUID", help="A site the credentials may write (repeatable); default: any."),
    click.option("--latency-ms", default=0.0, type=float, show_default=True, help="Delay added to every response."),
    click.option("--fault-rate", default=0.0, type=float, show_default=True, help="Share of API requests that fail."),
    click.option("--faults", default="500,503-html,429,timeout,reset", show_default=True, help="Comma-separated fault kinds to draw from."),
    click.option("--fault-delay", default=35.0, type=float, show_default=True, help="Seconds the 'timeout' fault waits before answering."),
    click.option("--seed", default=None, type=int, help="Seed for reproducible faults."),
    click.option("--rate-limit", default=None, type=float, metavar="RPS", help="Answer 429 above this many requests per second."),
    click.option("--retry-after", default=1, type=int, show_default=True, help="Retry-After seconds sent with 429 answers."),
    click.option("--store", default=None, metavar="PATH", help="Keep leads in this SQLite file (default: in memory)."),
    click.option("--unknown-fields", type=click.Choice(["reject", "ignore"]), default="reject", show_default=True, help="Answer 422 to fields the API does not document, or drop them silently."),
]  # fmt: skip


@cli.command()
@_apply(sandbox_options)
def sandbox(**options: object) -> None:
    """Run a local Incoming Leads API for trying and testing imports.

    Prints "Sandbox listening on URL" first, then serves until Ctrl-C or
    SIGTERM. Fault kinds: 500, 503-html, 429, timeout, reset,
    reset-after-commit. Inspect what it received under /_sandbox (see
    docs/sandbox.md).
    """
    from importer.sandbox.config import SandboxConfig
    from importer.sandbox.runner import serve

    serve(SandboxConfig.from_cli(**options))


def _resolve_mapping(
    mapping_name: str | None, input_path: Path, sheet: str | None, delimiter: str | None,
    encoding: str | None, phone_region: str | None,
) -> Mapping:  # fmt: skip
    """The --mapping given (checked to fit the file), or the one whose fingerprint
    matches the file's header (announced), reading phones for the --phone-region."""
    from importer.command_inputs import (
        detect_mapping,
        given_mapping,
        read_options,
        with_home_region,
    )

    if mapping_name:
        # a mapping that finds none of its key or contact columns stops here (exit 2)
        mapping = given_mapping(mapping_name, input_path, sheet, delimiter, encoding)
        return with_home_region(mapping, phone_region)
    from importer.summary import detected_mapping

    mapping = detect_mapping(input_path, read_options(sheet, delimiter, encoding))
    click.echo(detected_mapping(mapping), err=True)
    return with_home_region(mapping, phone_region)


def _command_line() -> str:
    """The command as typed, for report.json (arguments only; secrets never come as flags)."""
    root = click.get_current_context().find_root()
    argv = (root.obj or {}).get("argv")
    return " ".join(["rg-import", *(sys.argv[1:] if argv is None else argv)])


input_options = [
    click.option("--mapping", "-m", "mapping_name", metavar="NAME|PATH",
                 help="Mapping to use: a name from `rg-import mappings list` or a YAML file "
                      "(default: detected from the file's header; needed when two mappings fit "
                      "it equally well). Exit 2 when none of its key or contact columns is in "
                      "the file."),
    click.option("--sheet", help="Excel sheet to read (default: the first)."),
    click.option("--delimiter", help="CSV delimiter (default: detected among , ; tab |)."),
    click.option("--encoding", help="File encoding (default: detected; e.g. utf-8, cp1252)."),
    click.option("--phone-region", metavar="CC",
                 help="The site's country (or RG_PHONE_REGION; default US): its phone numbers are "
                      "written in national format, others as +CC; numbers without a country code "
                      "are read in it unless the row's country column or the mapping says otherwise."),
]  # fmt: skip


plan_options = [
    click.option("--site", metavar="UUID", help="Real Geeks site UUID (or RG_SITE); needed for lead ids and --ledger."),
    click.option("--ledger", type=click.Path(path_type=Path), help="Ledger of earlier runs, to plan updates and unchanged rows."),
    click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: rg-import-runs/<run-id>)."),
    click.option("--overwrite", is_flag=True, help="Replace the outputs of an earlier run in --out (refused without it)."),
    click.option("--processes", type=click.IntRange(1, 64), help="Processes checking rows (default: one per core, up to 4)."),
    click.option("--update-api", type=click.Choice(UPDATE_APIS), default=DEFAULT_UPDATE_API, show_default=True, help="The run's update API, with --ledger: v2 can clear fields that became empty."),
    click.option("--json", "as_json", is_flag=True, help="Print report.json instead of the summary."),
    click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
]  # fmt: skip


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@_apply(input_options)
@_apply(plan_options)
@_spools_input
def plan(
    input_path: Path, input_name: str, mapping_name: str | None, sheet: str | None, delimiter: str | None, encoding: str | None,
    phone_region: str | None, site: str | None, ledger: Path | None, out: Path | None, overwrite: bool,
    processes: int | None, update_api: str, as_json: bool, quiet: bool,
) -> int:  # fmt: skip
    """Check every row of INPUT and show what a run would do; sends nothing.

    INPUT may be - to read standard input.
    """
    from importer.command_inputs import read_options, site_option
    from importer.plan.plan_file import PlanRequest, plan_file
    from importer.progress import make_progress
    from importer.summary import plan_summary

    mapping = _resolve_mapping(mapping_name, input_path, sheet, delimiter, encoding, phone_region)
    request = PlanRequest(
        input=input_path, mapping=mapping, site=site_option(site), ledger=ledger, out=out,
        read_options=read_options(sheet, delimiter, encoding, mapping), processes=processes,
        update_api=update_api, command=_command_line(), overwrite=overwrite, input_name=input_name,
    )  # fmt: skip
    report = plan_file(request, progress=lambda *a, **k: make_progress(*a, quiet=quiet, **k))
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(plan_summary(report))
    return int(report["exit_code"])


run_options = [
    click.option("--site", metavar="UUID", help="Real Geeks site UUID to write to (or RG_SITE)."),
    click.option("--base-url", metavar="URL", help="API base URL (or RG_BASE_URL; default: the Real Geeks service)."),
    click.option("--sandbox", is_flag=True, help="Send to an embedded local sandbox instead (no credentials needed)."),
    click.option("--workers", default=DEFAULT_WORKERS, show_default=True, type=click.IntRange(1, 64), help="Requests in flight at once."),
    click.option("--rps", type=click.FloatRange(min=0.1), help="At most this many requests per second."),
    click.option("--ledger", type=click.Path(path_type=Path), help="Ledger file (or RG_LEDGER; default: ./rg-import.ledger.sqlite)."),
    click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: rg-import-runs/<run-id>)."),
    click.option("--overwrite", is_flag=True, help="Replace the outputs of an earlier run in --out (refused without it)."),
    click.option("--activities-at-most-once", is_flag=True, help="Never resend an activity whose first send is unknown; hold it as in doubt and list it in held_activities.csv."),
    click.option("--update-api", type=click.Choice(UPDATE_APIS), default=DEFAULT_UPDATE_API, show_default=True, help="v2 can clear fields that became empty."),
    click.option("--max-attempts", default=DEFAULT_MAX_ATTEMPTS, show_default=True, type=click.IntRange(1, 50), help="Tries per request on transient errors."),
    click.option("--timeout", "read_timeout", default=DEFAULT_TIMEOUT_S, show_default=True, type=click.FloatRange(min=0.1), help="Most seconds one try may take in all: connecting, sending, the whole answer."),
    click.option("--yes", "-y", is_flag=True, help="Do not ask before the first write to a site."),
    click.option("--json", "as_json", is_flag=True, help="Print report.json instead of the summary."),
    click.option("--quiet", "-q", is_flag=True, help="No progress output."),
]  # fmt: skip


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@_apply(input_options)
@_apply(run_options)
@_spools_input
def run(
    input_path: Path, input_name: str, mapping_name: str | None, sheet: str | None, delimiter: str | None, encoding: str | None,
    phone_region: str | None, site: str | None, base_url: str | None, sandbox: bool, workers: int, rps: float | None,
    ledger: Path | None, out: Path | None, overwrite: bool, activities_at_most_once: bool, update_api: str,
    max_attempts: int, read_timeout: float, yes: bool, as_json: bool, quiet: bool,
) -> int:  # fmt: skip
    """Send INPUT to Real Geeks: create new leads, update changed ones, skip the rest.

    INPUT may be - to read standard input (then pass --yes: there is no one to ask).
    """
    from importer.command_inputs import read_options, run_destination, site_option
    from importer.config import environment
    from importer.progress import make_progress
    from importer.send.client_settings import ClientSettings
    from importer.send.run import RunRequest, run_file
    from importer.summary import first_write_preview, run_summary

    env = environment()
    mapping = _resolve_mapping(mapping_name, input_path, sheet, delimiter, encoding, phone_region)
    options = read_options(sheet, delimiter, encoding, mapping)
    target = run_destination(
        site=site_option(site), base_url=base_url, ledger=ledger, sandbox=sandbox, env=env
    )
    settings = ClientSettings(
        base_url=target.url, read_timeout=read_timeout, max_attempts=max_attempts,
        update_api=update_api, pool_size=max(workers, 4),
    )  # fmt: skip

    def confirm(preview: dict[str, Any]) -> bool:
        if not sys.stdin.isatty():
            raise ConfigError(
                "this is the first write to this site: check with `rg-import plan`, then re-run with --yes"
            )
        click.echo(first_write_preview(preview, target.url), err=True)
        return click.confirm("Send?", default=False, err=True)

    request = RunRequest(
        input=input_path, mapping=mapping, site=target.site, base_url=target.url,
        credentials=target.credentials, ledger=target.ledger, out=out, read_options=options,
        workers=workers, rps=rps, activities_at_most_once=activities_at_most_once,
        client_settings=settings, sandbox=sandbox, command=_command_line(), overwrite=overwrite,
        input_name=input_name,
    )  # fmt: skip
    try:
        report = run_file(
            request,
            progress=lambda *a, **k: make_progress(*a, quiet=quiet or as_json, **k),
            # with --yes (or the sandbox) nothing is asked, so nothing is previewed
            confirm=None if yes or sandbox else confirm,
        )
    except RunWriteFailed as exc:
        # a full disk may hold stdout and report.json too: the report goes to stderr,
        # then main() prints the one line saying what stopped the run (exit 4)
        shown = json.dumps(exc.report, indent=2, ensure_ascii=False) if as_json else None
        click.echo(shown or run_summary(exc.report), err=True)
        raise
    finally:
        target.close()
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(run_summary(report))
    return int(report["exit_code"])


@cli.group()
def ledger() -> None:
    """Look into the ledger of what was sent."""


ledger_options = [
    click.option("--ledger", "path", type=click.Path(path_type=Path), help="Ledger file (default: RG_LEDGER or ./rg-import.ledger.sqlite)."),
    click.option("--state", type=click.Choice(["sending", "sent", "failed", "in_doubt"]), help="Only leads in this state."),
]  # fmt: skip


@ledger.command("show")
@_apply(ledger_options)
def ledger_show(path: Path | None, state: str | None) -> None:
    """Counts by state and the most recent leads."""
    from importer.ledger.listing import find_ledger, ledger_overview, ledger_rows

    click.echo(ledger_overview(ledger_rows(find_ledger(path), state)))


@ledger.command("export")
@_apply(ledger_options)
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
def ledger_export(path: Path | None, state: str | None, fmt: str) -> None:
    """Write every lead of the ledger to stdout as CSV or JSON."""
    from importer.ledger.listing import find_ledger, ledger_json, ledger_rows, write_ledger_csv

    rows = ledger_rows(find_ledger(path), state)
    if fmt == "json":
        click.echo(ledger_json(rows))
        return
    write_ledger_csv(rows, sys.stdout)


@cli.group("mappings")
def mappings_group() -> None:
    """List, show, suggest and check mapping files."""


@mappings_group.command("list")
def mappings_list() -> None:
    """Every mapping on the search path: name, CRM, confidence, file."""
    from importer.catalog.detect import load_catalog
    from importer.summary import catalog_table

    catalog, broken = load_catalog()
    click.echo("\n".join(catalog_table(catalog, broken)))
    for b in broken:
        click.echo(f"warning: {b.message}", err=True)


@mappings_group.command("show")
@click.argument("name", metavar="NAME|PATH")
def mappings_show(name: str) -> None:
    """Print a mapping file, headed by how its files are recognised (valid YAML as a whole)."""
    from importer.catalog.detect import fingerprint_summary
    from importer.mapping.files import load_mapping

    mapping = load_mapping(name)
    assert mapping.path is not None
    click.echo(f"# {mapping.name}: {mapping.crm or 'no CRM'}, {mapping.confidence}")
    click.echo(f"# file: {mapping.path}")
    click.echo(f"# recognised by: {fingerprint_summary(mapping)}")
    click.echo(mapping.path.read_text(encoding="utf-8"), nl=False)


@mappings_group.command("suggest")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Write the starter mapping here (missing folders are created).",
)
@click.option("--sheet", help="Excel sheet to read (default: the first).")
@click.option("--delimiter", help="CSV delimiter (default: detected among , ; tab |).")
@click.option("--encoding", help="File encoding (default: detected; e.g. utf-8, cp1252).")
@_spools_input
def mappings_suggest(
    input_path: Path,
    input_name: str,
    out: Path | None,
    sheet: str | None,
    delimiter: str | None,
    encoding: str | None,
) -> int:
    """Name the mapping that reads INPUT, or propose a starter mapping for it.

    The starter splits a person-name column (Name, Client Name) into first and
    last name, proposes a unique id-like column as the key when there is no ID
    column, and lists loose guesses for key, name, email or phone as questions
    in its comments instead of using them. --out creates missing folders.
    """
    from importer.catalog.detect import clear_winner
    from importer.catalog.suggest import read_sample, suggest
    from importer.read.options import ReadOptions

    if delimiter in ("tab", "\\t"):
        delimiter = "\t"
    headers, rows = read_sample(input_path, read_options=ReadOptions(encoding, delimiter, sheet))
    found = suggest(headers, rows, name=out.stem if out else "my_crm")
    for match in found.matches:
        m = match.mapping
        click.echo(
            f"Recognised: {m.crm or m.name} ({m.description}; {m.confidence}) — mapping {m.name}, "
            f"reads {match.score:.0%} of the columns"
        )
    winner = clear_winner(found.matches)
    if winner is not None:
        click.echo(f"Use: rg-import plan {input_name} --mapping {winner.name}")
        return int(ExitCode.OK)
    if found.matches:
        click.echo("Several mappings fit equally well: pass --mapping with the right one.")
        return int(ExitCode.OK)
    summary = (
        f"No mapping recognises {input_name}: {len(found.guesses)} of {len(headers)} columns "
        "guessed; edit the starter mapping, then check it"
    )
    if out is None:
        click.echo(summary + ".", err=True)
        click.echo(found.yaml, nl=False)
        return int(ExitCode.OK)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # --out may name a new folder
        # "x" creates the file or fails: an existing file, or a link planted there, is never written through
        with out.open("x", encoding="utf-8") as handle:
            handle.write(found.yaml)
    except FileExistsError:
        raise ConfigError(f"{out} exists; choose another --out or delete it first") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from exc
    click.echo(f"{summary}: rg-import mappings check {out} --sample {input_name}")
    click.echo(f"Wrote {out}")
    return int(ExitCode.OK)


@mappings_group.command("check")
@click.argument("file", metavar="FILE")
@click.option(
    "--sample", type=click.Path(path_type=Path), help="An export the mapping should read."
)
def mappings_check(file: str, sample: Path | None) -> int:
    """Lint a mapping file (a path or a name); exit 2 when it has problems."""
    from importer.catalog.lint import check
    from importer.read.spool import spooled_input

    if sample is None:
        problems = check(file, None)
    else:
        with spooled_input(sample) as source:
            problems = [p.replace(str(source.path), source.name) for p in check(file, source.path)]
    for line in problems:
        click.echo(line)
    if problems:
        return int(ExitCode.USAGE)
    click.echo(f"OK: {file}" + (f" reads {sample}" if sample else ""))
    return int(ExitCode.OK)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rg-import`` script: run, map errors, exit."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    if argv is None and "hypothesis" not in sys.modules:
        # pandera imports hypothesis, when it is installed, on its first
        # validation, only for data synthesis this tool never uses: 0.15 s of
        # every process that validates. Marking it absent makes pandera skip it.
        sys.modules["hypothesis"] = None  # type: ignore[assignment]
    try:
        code = cli.main(args=args, prog_name="rg-import", standalone_mode=False, obj={"argv": args})
    except click.exceptions.Abort:
        click.echo("Interrupted.", err=True)
        code = ExitCode.INTERRUPTED
    except click.ClickException as exc:
        # One line, like every other error; the hint replaces click's usage block.
        message = " ".join(exc.format_message().split())
        context = getattr(exc, "ctx", None)
        hint = f" Run '{context.command_path} --help' for usage." if context is not None else ""
        click.echo(f"Error: {message}{hint}", err=True)
        code = ExitCode.USAGE
    except ImporterError as exc:
        if debug:
            click.echo(traceback.format_exc().rstrip(), err=True)
        click.echo(f"Error: {exc}", err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = ExitCode.INTERRUPTED
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"Error: internal error ({type(exc).__name__}: {exc}); this is a bug in rg-import, "
            "please report it with the output of the same command run with --debug",
            err=True,
        )
        code = ExitCode.INTERNAL
    if argv is None:
        # The real command line: every file is closed and every thread joined by
        # now, so skip tearing down the interpreter's objects (a tenth of a second
        # or more after a big file). In-process callers get a normal SystemExit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(int(code or 0))
    sys.exit(int(code or 0))
