"""``rg-import plan`` and ``rg-import run``: one file checked, or sent.

Both resolve the mapping the same way (given and checked to fit, or detected
from the header), call one library function (``importer.plan.plan_file`` or
``importer.send.run``) and print its report as a summary or as JSON.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from importer.cli.arguments import LEDGER
from importer.cli.assign_options import assign_options
from importer.cli.job_settings import JOB_META, job_options, job_runs, remember_result
from importer.cli.shared import (
    NumberOrAuto,
    apply_options,
    command_line,
    input_options,
    spools_input,
)
from importer.cli.shown import Shown, show_result
from importer.errors import ConfigError, RunWriteFailed
from importer.ledger.spec import LedgerSpec
from importer.scale.executors import EXECUTORS, LOCAL
from importer.settings import (
    AUTO_SEND_PROCESSES,
    AUTO_WORKERS,
    DEFAULT_FAIL_ON,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_WORKERS,
    DEFAULT_SEND_PROCESSES,
    DEFAULT_TIMEOUT_S,
    DEFAULT_UPDATE_API,
    DEFAULT_WORKERS,
    FAIL_ON,
    MOST_SEND_PROCESSES,
    MOST_WORKERS,
    UPDATE_APIS,
)

if TYPE_CHECKING:
    from importer.mapping.spec import Mapping
    from importer.outputs.report import RunResult
    from importer.scale.executors import Executor
    from importer.send.run import RunRequest


def _resolve_mapping(
    mapping_name: str | None, input_path: Path, sheet: str | None, delimiter: str | None,
    encoding: str | None, phone_region: str | None, *, quiet: bool = False,
) -> Mapping:  # fmt: skip
    """The --mapping given (checked to fit the file), or the one whose fingerprint
    matches the file's header (announced, unless ``quiet``), reading phones for the
    --phone-region."""
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
    if not quiet:
        click.echo(detected_mapping(mapping), err=True)
    return with_home_region(mapping, phone_region)


# what both commands print, and which outcomes make exit 3
outcome_options = [
    click.option("--fail-on", type=click.Choice(FAIL_ON), default=DEFAULT_FAIL_ON, show_default=True, help="Which rejects make exit 3: new-rejects (only those no earlier run of the ledger reported), rejects (any) or never."),
    click.option("--allow-empty", is_flag=True, help="A file with a header but no data rows is fine (else: empty_input, exit 3)."),
    click.option("--json", "as_json", is_flag=True, help="Print report.json instead of the summary."),
    click.option("--summary-line", is_flag=True, help="Print the result as one line instead of the summary."),
    click.option("--quiet", "-q", is_flag=True, help="Print nothing when all is well; otherwise one line per problem, on stderr."),
]  # fmt: skip

plan_options = [
    click.option("--site", metavar="UUID", help="Real Geeks site UUID (or RG_SITE); needed for lead ids and --ledger."),
    click.option("--ledger", type=LEDGER, help="Ledger of earlier runs (a file, or a postgresql:// URL), to plan updates and unchanged rows."),
    click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: rg-import-runs/<run-id>)."),
    click.option("--overwrite", is_flag=True, help="Replace the outputs of an earlier run in --out (refused without it)."),
    click.option("--no-xlsx", "no_xlsx", is_flag=True, help="Write no rejects.xlsx beside rejects.csv (it takes a few seconds per 10,000 rejects)."),
    click.option("--processes", type=click.IntRange(1, 64), help="Processes checking rows (default: one per core, up to 4)."),
    click.option("--update-api", type=click.Choice(UPDATE_APIS), default=DEFAULT_UPDATE_API, show_default=True, help="The run's update API, with --ledger: v2 can clear fields that became empty."),
    click.option("--base-url", metavar="URL", help="API base URL to list the site's users from (or RG_BASE_URL), for assign:."),
    click.option("--sandbox", is_flag=True, help="List the users of the embedded local sandbox instead (its site unless --site)."),
    *assign_options,
    *outcome_options,
]  # fmt: skip


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@apply_options(input_options)
@apply_options(plan_options)
@spools_input
def plan(
    input_path: Path, input_name: str, mapping_name: str | None, sheet: str | None, delimiter: str | None, encoding: str | None,
    phone_region: str | None, site: str | None, ledger: LedgerSpec | None, out: Path | None, overwrite: bool,
    no_xlsx: bool, processes: int | None, update_api: str, base_url: str | None, sandbox: bool,
    assign: str, agent_map: Path | None, fail_on: str, allow_empty: bool,
    as_json: bool, summary_line: bool, quiet: bool,
) -> int:  # fmt: skip
    """Check every row of INPUT and show what a run would do; sends nothing.

    INPUT may be - to read standard input. With --site and credentials (or
    --sandbox), the owners of a mapping with assign: are matched to the site's users.
    """
    from importer.cli.arguments import read_options, site_option
    from importer.cli.assign_options import for_run, users_to_plan
    from importer.config import environment
    from importer.plan.plan_file import PlanRequest, plan_file
    from importer.progress import make_progress

    mapping = for_run(
        _resolve_mapping(
            mapping_name, input_path, sheet, delimiter, encoding, phone_region, quiet=quiet
        ),
        assign,
        agent_map,
    )
    with users_to_plan(
        mapping, site=site_option(site), base_url=base_url, sandbox=sandbox, env=environment()
    ) as users:
        request = PlanRequest(
            input=input_path, mapping=mapping, site=users.site, ledger=ledger, out=out,
            read_options=read_options(sheet, delimiter, encoding, mapping), processes=processes,
            update_api=update_api, command=command_line(), overwrite=overwrite, input_name=input_name,
            fail_on=fail_on, allow_empty=allow_empty, reject_workbook=not no_xlsx,
            list_users=users.fetch, agent_map=agent_map, agents_unchecked=users.why,
        )  # fmt: skip
        quiet_bar = quiet or as_json or summary_line
        result = plan_file(
            request, progress=lambda *a, **k: make_progress(*a, quiet=quiet_bar, **k)
        )
    show_result(result, Shown(as_json=as_json, summary_line=summary_line, quiet=quiet))
    return int(result.exit_code)


run_options = [
    click.option("--site", metavar="UUID", help="Real Geeks site UUID to write to (or RG_SITE)."),
    click.option("--base-url", metavar="URL", help="API base URL (or RG_BASE_URL; default: the Real Geeks service)."),
    click.option("--sandbox", is_flag=True, help="Send to an embedded local sandbox instead (no credentials needed)."),
    click.option("--workers", default=DEFAULT_WORKERS, show_default=True, type=NumberOrAuto(MOST_WORKERS, "requests"), metavar="N|auto", help="Requests in flight at once, or auto: as many as the server's answers show it takes."),
    click.option("--max-workers", default=DEFAULT_MAX_WORKERS, show_default=True, type=click.IntRange(1, MOST_WORKERS), help="With --workers auto: the most requests in flight it may reach."),
    click.option("--rps", type=click.FloatRange(min=0.1), help="At most this many requests per second."),
    click.option("--send-processes", default=DEFAULT_SEND_PROCESSES, show_default=True, type=NumberOrAuto(MOST_SEND_PROCESSES, "processes"), metavar="N|auto", help="Make the requests from N processes (each with its share of --workers and --rps), or auto: 2 with --workers 32 or more, 2 usable CPUs and --executor local, else 1; see docs/client.md."),
    click.option("--ledger", type=LEDGER, help="Ledger file, or a postgresql:// URL that runs share (or RG_LEDGER; default: ./rg-import.ledger.sqlite)."),
    click.option("--out", type=click.Path(path_type=Path), help="Output directory (default: rg-import-runs/<run-id>)."),
    click.option("--overwrite", is_flag=True, help="Replace the outputs of an earlier run in --out (refused without it)."),
    click.option("--no-xlsx", "no_xlsx", is_flag=True, help="Write no rejects.xlsx beside rejects.csv (it takes a few seconds per 10,000 rejects)."),
    click.option("--activities-at-most-once", is_flag=True, help="Never resend an activity whose first send is unknown; hold it as in doubt and list it in held_activities.csv."),
    click.option("--update-api", type=click.Choice(UPDATE_APIS), default=DEFAULT_UPDATE_API, show_default=True, help="v2 can clear fields that became empty."),
    click.option("--max-attempts", default=DEFAULT_MAX_ATTEMPTS, show_default=True, type=click.IntRange(1, 50), help="Tries per request on transient errors."),
    click.option("--timeout", "read_timeout", default=DEFAULT_TIMEOUT_S, show_default=True, type=click.FloatRange(min=0.1), help="Most seconds one try may take in all: connecting, sending, the whole answer."),
    click.option("--yes", "-y", is_flag=True, help="Do not ask before the first write to a site."),
    click.option("--wait", "lock_wait", default=0, type=click.FloatRange(min=0), metavar="SECONDS", help="When another run holds the ledger, wait this long for it (default: exit 5 at once)."),
    *assign_options,
    *outcome_options,
    click.option("--executor", type=click.Choice(EXECUTORS), default=LOCAL, show_default=True, help="Send from this process, or the file's pieces as tasks of a Dask cluster: dask (with --scheduler) or dask-local (worker processes started here); see docs/scale.md."),
    click.option("--scheduler", metavar="ADDRESS", help="The scheduler of the Dask cluster of --executor dask, e.g. tcp://HOST:8786."),
    click.option("--processes", type=click.IntRange(1, 64), help="Worker processes of --executor dask-local (default: one per core)."),
    click.option("--log-file", type=click.Path(path_type=Path), help="Append the run's events to this file as JSON lines (no personal data, no credentials)."),
    click.option("--notify-url", metavar="URL", help="POST a short JSON summary here when the run ends (https, or http to this machine)."),
]  # fmt: skip


@click.command()
@click.argument("input_path", metavar="INPUT", required=False, type=click.Path(path_type=Path))
@apply_options(input_options)
@apply_options(run_options)
@apply_options(job_options)
@job_runs
@spools_input
def run(log_file: Path | None, notify_url: str | None, **flags: Any) -> int:
    """Send INPUT to Real Geeks: create new leads, update changed ones, skip the rest.

    INPUT may be - to read standard input (then pass --yes: there is no one to ask).
    With --job NAME, the job of rg-import.toml says what to send (see docs/scheduling.md).
    """
    from importer.outputs.private_files import new_run_id
    from importer.send.run_watch import RunWatch, watched

    watch = RunWatch(
        run_id=new_run_id(), input_name=flags["input_name"], log_file=log_file,
        notify_url=notify_url, job=click.get_current_context().meta.get(JOB_META),
        warn=lambda line: click.echo(line, err=True),
    )  # fmt: skip
    # the log and the notification see every end, a mapping that does not fit included
    with watched(watch):
        result, shown = _run(watch.run_id, **flags)
        watch.finished(result, int(result.exit_code))
    show_result(result, shown)
    return int(result.exit_code)


def _run(
    run_id: str, input_path: Path, input_name: str, mapping_name: str | None, sheet: str | None,
    delimiter: str | None, encoding: str | None, phone_region: str | None, site: str | None,
    base_url: str | None, sandbox: bool, workers: int | str, max_workers: int, rps: float | None,
    send_processes: int | str, ledger: LedgerSpec | None,
    out: Path | None, overwrite: bool, no_xlsx: bool, activities_at_most_once: bool,
    update_api: str, max_attempts: int, read_timeout: float, yes: bool, lock_wait: float,
    fail_on: str, allow_empty: bool, as_json: bool, summary_line: bool, quiet: bool,
    runs_dir: Path | None, keep_runs: int | None, assign: str, agent_map: Path | None,
    executor: str, scheduler: str | None, processes: int | None,
) -> tuple[RunResult, Shown]:  # fmt: skip
    """``run`` without its log and notification: resolve the flags, send, return the result."""
    from importer.cli.arguments import read_options, run_destination, site_option
    from importer.cli.assign_options import for_run
    from importer.config import environment
    from importer.scale.executors import DASK, executor_of
    from importer.send.client_settings import ClientSettings
    from importer.send.run import RunRequest

    env = environment()
    spread = executor_of(executor, scheduler, processes)  # flags that do not go together: exit 2
    if sandbox and spread.kind == DASK:
        raise ConfigError("--sandbox runs on this machine: use --executor dask-local with it")
    if send_processes != AUTO_SEND_PROCESSES and int(send_processes) > 1 and spread.spread:
        # auto is 1 there (importer.send.process_count): each task sends from its own process
        raise ConfigError("--send-processes above 1 goes with --executor local only (the default)")
    job = click.get_current_context().meta.get(JOB_META)  # the job's name, for --summary-line
    shown = Shown(as_json=as_json, summary_line=summary_line, quiet=quiet, job=job)
    mapping = for_run(
        _resolve_mapping(
            mapping_name, input_path, sheet, delimiter, encoding, phone_region, quiet=quiet
        ),
        assign,
        agent_map,
    )
    options = read_options(sheet, delimiter, encoding, mapping)
    target = run_destination(
        site=site_option(site), base_url=base_url, ledger=ledger, sandbox=sandbox, env=env
    )
    settings = ClientSettings(
        base_url=target.url, read_timeout=read_timeout, max_attempts=max_attempts,
        update_api=update_api, pool_size=max(max_workers if workers == AUTO_WORKERS else int(workers), 4),
    )  # fmt: skip
    request = RunRequest(
        input=input_path, mapping=mapping, site=target.site, base_url=target.url,
        credentials=target.credentials, ledger=target.ledger, out=out, read_options=options,
        workers=workers, max_workers=max_workers, rps=rps, activities_at_most_once=activities_at_most_once,
        client_settings=settings, sandbox=sandbox, command=command_line(), overwrite=overwrite,
        input_name=input_name, runs_dir=runs_dir, fail_on=fail_on, allow_empty=allow_empty,
        lock_wait=lock_wait, reject_workbook=not no_xlsx, run_id=run_id, assign=assign == "on",
        agent_map=agent_map, send_processes=send_processes,
    )  # fmt: skip
    try:
        # with --yes (or the sandbox) nothing is asked, so nothing is previewed
        confirm = None if yes or sandbox else _confirm_first_write(target.url)
        result = _send(request, confirm, shown, spread)
        remember_result(result)  # for the run directory's upkeep (importer.cli.job_settings)
    finally:
        target.close()
    return result, shown


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
    request: RunRequest, confirm: Callable[[dict[str, Any]], bool] | None, shown: Shown,
    executor: Executor,
) -> RunResult:  # fmt: skip
    """``run_file`` (or its pieces on a Dask cluster: ``run_spread``); when the run's files
    cannot be written, its report goes to stderr."""
    from importer.progress import make_progress
    from importer.send.run import run_file

    send: Callable[..., RunResult] = run_file
    if executor.spread:
        from importer.scale.spread import run_spread

        send = functools.partial(run_spread, executor=executor)
    quiet_bar = shown.quiet or shown.as_json or shown.summary_line
    try:
        return send(
            request, progress=lambda *a, **k: make_progress(*a, quiet=quiet_bar, **k),
            confirm=confirm, on_wait=None if shown.quiet else _say,
        )  # fmt: skip
    except RunWriteFailed as exc:
        # a full disk may hold stdout and report.json too: the report goes to stderr,
        # then main() prints the one line saying what stopped the run (exit 4)
        show_result(cast("RunResult", exc.result), shown, err=True, problems=False)
        raise


def _say(notice: str) -> None:
    click.echo(notice, err=True)
