"""``rg-import plan`` and ``rg-import run``: one file checked, or sent.

Both resolve the mapping the same way (given and checked to fit, or detected
from the header), call one library function (``importer.plan.plan_file`` or
``importer.send.run``) and print its report as a summary or as JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from importer.cli.shared import apply_options, command_line, input_options, spools_input
from importer.errors import ConfigError, RunWriteFailed
from importer.settings import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    DEFAULT_UPDATE_API,
    DEFAULT_WORKERS,
    UPDATE_APIS,
)

if TYPE_CHECKING:
    from importer.mapping.spec import Mapping
    from importer.outputs.report import RunResult
    from importer.send.run import RunRequest


def _resolve_mapping(
    mapping_name: str | None, input_path: Path, sheet: str | None, delimiter: str | None,
    encoding: str | None, phone_region: str | None,
) -> Mapping:  # fmt: skip
    """The --mapping given (checked to fit the file), or the one whose fingerprint
    matches the file's header (announced), reading phones for the --phone-region."""
    from importer.cli.arguments import (
        detect_mapping,
        given_mapping,
        read_options,
        with_home_region,
    )

    if mapping_name:
        # a mapping that finds none of its key or contact columns stops here (exit 2)
        mapping = given_mapping(mapping_name, input_path, sheet, delimiter, encoding)
        return with_home_region(mapping, phone_region)
    from importer.cli.summaries import detected_mapping

    mapping = detect_mapping(input_path, read_options(sheet, delimiter, encoding))
    click.echo(detected_mapping(mapping), err=True)
    return with_home_region(mapping, phone_region)


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


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@apply_options(input_options)
@apply_options(plan_options)
@spools_input
def plan(
    input_path: Path, input_name: str, mapping_name: str | None, sheet: str | None, delimiter: str | None, encoding: str | None,
    phone_region: str | None, site: str | None, ledger: Path | None, out: Path | None, overwrite: bool,
    processes: int | None, update_api: str, as_json: bool, quiet: bool,
) -> int:  # fmt: skip
    """Check every row of INPUT and show what a run would do; sends nothing.

    INPUT may be - to read standard input.
    """
    from importer.cli.arguments import read_options, site_option
    from importer.cli.summaries import plan_summary
    from importer.outputs.report import shown_json
    from importer.plan.plan_file import PlanRequest, plan_file
    from importer.progress import make_progress

    mapping = _resolve_mapping(mapping_name, input_path, sheet, delimiter, encoding, phone_region)
    request = PlanRequest(
        input=input_path, mapping=mapping, site=site_option(site), ledger=ledger, out=out,
        read_options=read_options(sheet, delimiter, encoding, mapping), processes=processes,
        update_api=update_api, command=command_line(), overwrite=overwrite, input_name=input_name,
    )  # fmt: skip
    result = plan_file(request, progress=lambda *a, **k: make_progress(*a, quiet=quiet, **k))
    if as_json:
        click.echo(json.dumps(shown_json(result), indent=2, ensure_ascii=False))
    else:
        click.echo(plan_summary(result))
    return int(result.exit_code)


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
    click.option("--log-file", type=click.Path(path_type=Path), help="Append the run's events to this file as JSON lines (no personal data, no credentials)."),
    click.option("--notify-url", metavar="URL", help="POST a short JSON summary here when the run ends (https, or http to this machine)."),
]  # fmt: skip


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@apply_options(input_options)
@apply_options(run_options)
@spools_input
def run(log_file: Path | None, notify_url: str | None, **flags: Any) -> int:
    """Send INPUT to Real Geeks: create new leads, update changed ones, skip the rest.

    INPUT may be - to read standard input (then pass --yes: there is no one to ask).
    """
    from importer.outputs.private_files import new_run_id
    from importer.send.run_watch import RunWatch, watched

    watch = RunWatch(
        run_id=new_run_id(), input_name=flags["input_name"], log_file=log_file,
        notify_url=notify_url, job=(click.get_current_context().find_root().obj or {}).get("job"),
        warn=lambda line: click.echo(line, err=True),
    )  # fmt: skip
    # the log and the notification see every end, a mapping that does not fit included
    with watched(watch):
        result = _run(watch.run_id, **flags)
        watch.finished(result, int(result.exit_code))
    click.echo(_shown(result, flags["as_json"]))
    return int(result.exit_code)


def _run(
    run_id: str, input_path: Path, input_name: str, mapping_name: str | None, sheet: str | None,
    delimiter: str | None, encoding: str | None, phone_region: str | None, site: str | None,
    base_url: str | None, sandbox: bool, workers: int, rps: float | None, ledger: Path | None,
    out: Path | None, overwrite: bool, activities_at_most_once: bool, update_api: str,
    max_attempts: int, read_timeout: float, yes: bool, as_json: bool, quiet: bool,
) -> RunResult:  # fmt: skip
    """``run`` without its log and notification: resolve the flags, send, return the result."""
    from importer.cli.arguments import read_options, run_destination, site_option
    from importer.config import environment
    from importer.send.client_settings import ClientSettings
    from importer.send.run import RunRequest

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
    request = RunRequest(
        input=input_path, mapping=mapping, site=target.site, base_url=target.url,
        credentials=target.credentials, ledger=target.ledger, out=out, read_options=options,
        workers=workers, rps=rps, activities_at_most_once=activities_at_most_once,
        client_settings=settings, sandbox=sandbox, command=command_line(), overwrite=overwrite,
        input_name=input_name, run_id=run_id,
    )  # fmt: skip
    try:
        # with --yes (or the sandbox) nothing is asked, so nothing is previewed
        confirm = None if yes or sandbox else _confirm_first_write(target.url)
        return _send(request, confirm, quiet=quiet or as_json, as_json=as_json)
    finally:
        target.close()


def _confirm_first_write(url: str) -> Callable[[dict[str, Any]], bool]:
    """Asks on the terminal before the first write to a site; refuses without one."""

    def confirm(preview: dict[str, Any]) -> bool:
        from importer.cli.summaries import first_write_preview

        if not sys.stdin.isatty():
            raise ConfigError(
                "this is the first write to this site: check with `rg-import plan`, then re-run with --yes"
            )
        click.echo(first_write_preview(preview, url), err=True)
        return click.confirm("Send?", default=False, err=True)

    return confirm


def _send(
    request: RunRequest,
    confirm: Callable[[dict[str, Any]], bool] | None,
    *,
    quiet: bool,
    as_json: bool,
) -> RunResult:
    """``run_file``; when the run's files cannot be written, its report goes to stderr."""
    from importer.progress import make_progress
    from importer.send.run import run_file

    try:
        return run_file(
            request, progress=lambda *a, **k: make_progress(*a, quiet=quiet, **k), confirm=confirm
        )
    except RunWriteFailed as exc:
        # a full disk may hold stdout and report.json too: the report goes to stderr,
        # then main() prints the one line saying what stopped the run (exit 4)
        click.echo(_shown(cast("RunResult", exc.result), as_json), err=True)
        raise


def _shown(result: RunResult, as_json: bool) -> str:
    """The run's report as printed: report.json with --json, else the summary."""
    from importer.cli.summaries import run_summary
    from importer.outputs.report import shown_json

    if as_json:
        return json.dumps(shown_json(result), indent=2, ensure_ascii=False)
    return run_summary(result)
