"""``rg-import run --job NAME``: a job's settings as the flags of ``run``.

Every key of a ``[jobs.NAME]`` table other than ``input``, ``inbox``, ``out``
and ``settle_seconds`` names a flag of ``rg-import run`` (``keep_runs`` or
``keep-runs`` for ``--keep-runs``) and is checked and converted by that
flag's own click type, so a flag added to ``run`` is a job setting too. A
flag given on the command line, and an RG_* variable (environment or
``.env``), win over the file. Paths in the file are relative to its folder.

``job_runs`` wraps the ``run`` command: it fills the settings in, picks the
input (a file, the newest match of a glob, or each ready file of a drop
folder), and after each run points ``latest`` at its directory and keeps
only the newest ``--keep-runs`` of them.
"""

from __future__ import annotations

import difflib
import functools
import os
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from importer.cli.arguments import LedgerOption
from importer.config import ENV_BASE_URL, ENV_LEDGER, ENV_PHONE_REGION, ENV_SITE, environment
from importer.errors import (
    ConfigError,
    ExitCode,
    ImporterError,
    InputError,
    MappingError,
    RunWriteFailed,
)
from importer.jobs.project import JOB_KEYS, Job, load_job, newest_input, project_path
from importer.ledger.spec import is_database_url

if TYPE_CHECKING:
    from importer.outputs.report import RunResult

JOB_META = "rg_import.job"  # ctx.meta: the name of the job being run
RESULT_META = "rg_import.run_result"  # ctx.meta: the RunResult of the run that just returned
# flags whose RG_* variable wins over the project file (the flag itself wins over both)
ENV_OF = {"site": ENV_SITE, "ledger": ENV_LEDGER, "base_url": ENV_BASE_URL,
          "phone_region": ENV_PHONE_REGION}  # fmt: skip
# options of run that are no job setting: the job itself, and a fixed run directory
# (a job runs again and again; its ``out`` is the folder of its run directories)
NOT_SETTINGS = ("job", "config", "out", "runs_dir")
# exit codes from best to worst, for a job that ran several files; codes not listed
# (added later) rank between a refused file and a run stopped early
_RANK: dict[int, int] = {ExitCode.OK: 0, ExitCode.REJECTS: 1, ExitCode.USAGE: 2, ExitCode.LOCKED: 3,
         ExitCode.ABORTED: 4, ExitCode.INTERNAL: 5, ExitCode.INTERRUPTED: 6,
         ExitCode.TERMINATED: 6}  # fmt: skip

job_options = [
    click.option("--job", metavar="NAME", help="Run the job NAME of rg-import.toml: its input, mapping, site, ledger and flags (flags and RG_* variables given here win)."),
    click.option("--config", type=click.Path(path_type=Path), help="The project file of --job (default: ./rg-import.toml)."),
    click.option("--runs-dir", type=click.Path(path_type=Path), help="Folder that holds the run directories (default: rg-import-runs); its link 'latest' points at the newest."),
    click.option("--keep-runs", metavar="N", type=click.IntRange(min=1), help="After a run that finished, remove the oldest run directories of --runs-dir beyond the newest N."),
]  # fmt: skip


def worst(codes: list[int]) -> int:
    """The exit code of a job that ran several files: the worst of theirs."""
    return max(codes, key=lambda code: _RANK.get(code, 3))


def remember_result(result: RunResult) -> None:
    """Keep the run's result where ``job_runs`` finds it once the command returned."""
    click.get_current_context().meta[RESULT_META] = result


def job_flags(command: click.Command) -> dict[str, click.Option]:
    """The options of ``command`` a job may set, by key (the long flag, ``-`` as ``_``)."""
    flags: dict[str, click.Option] = {}
    for param in command.params:
        if isinstance(param, click.Option) and param.name not in NOT_SETTINGS:
            for opt in param.opts:
                if opt.startswith("--"):
                    flags[opt[2:].replace("-", "_")] = param
    return flags


def job_values(ctx: click.Context, job: Job) -> dict[str, Any]:
    """The job's settings as values of ``ctx.command``'s parameters, by parameter name.

    Raises ConfigError, naming the file, job and key, for an unknown key or a
    value the flag refuses.
    """
    from importer.mapping.files import names_a_file

    flags = job_flags(ctx.command)
    values: dict[str, Any] = {} if job.out is None else {"runs_dir": job.out}
    for key, value in job.settings.items():
        param = flags.get(key)
        if param is None:
            raise ConfigError(_unknown_key(job, key, flags))
        if isinstance(value, str) and (
            isinstance(param.type, click.Path)
            or (isinstance(param.type, LedgerOption) and not is_database_url(value))
            or (key == "mapping" and names_a_file(value))
        ):
            value = str(job.folder / os.path.expanduser(value))  # relative to the file
        try:
            values[str(param.name)] = param.process_value(ctx, value)
        except click.BadParameter as exc:
            raise ConfigError(f"{job.where(key)} = {value!r}: {exc.message}") from None
    return values


def _unknown_key(job: Job, key: str, flags: Mapping[str, click.Option]) -> str:
    close = difflib.get_close_matches(key, [*flags, *JOB_KEYS], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (
        f"{job.where()}: unknown key {key!r}; {hint}a job takes {', '.join(JOB_KEYS)} "
        "and the flags of `rg-import run --help`"
    )


def _apply_job(ctx: click.Context, job: Job, kwargs: dict[str, Any]) -> None:
    """Fill ``kwargs`` with the job's values, where neither a flag nor an RG_* variable is given."""
    env = environment()
    for name, value in job_values(ctx, job).items():
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT):
            continue  # given on the command line
        if env.get(ENV_OF.get(name, "")):
            continue
        kwargs[name] = value


def job_runs(f: Callable[..., int]) -> Callable[..., int]:
    """Wrap the ``run`` command: INPUT or ``--job``, then the run directory's upkeep."""

    @functools.wraps(f)
    def wrapper(
        *, job: str | None, config: Path | None, input_path: Path | None, **kwargs: Any
    ) -> int:
        ctx = click.get_current_context()
        if job is None:
            if config is not None:
                raise click.UsageError("--config names the project file of --job: give --job too")
            if input_path is None:
                raise click.UsageError("Missing argument 'INPUT': give a file, or --job NAME")
            return _one_run(f, input_path, kwargs)
        spec = load_job(project_path(config), job)
        _apply_job(ctx, spec, kwargs)
        ctx.meta[JOB_META] = spec.name
        if input_path is not None:
            return _one_run(f, input_path, kwargs)
        if spec.inbox is not None:
            return _run_inbox(f, spec, kwargs)
        if spec.input is None:
            raise ConfigError(f"{spec.where()}: no input or inbox; add one, or give INPUT")
        return _one_run(f, newest_input(spec), kwargs)

    return wrapper


def _one_run(f: Callable[..., int], input_path: Path, kwargs: dict[str, Any]) -> int:
    """One run of ``f``, then ``latest`` and ``--keep-runs`` in its folder."""
    if kwargs.get("keep_runs") is not None and kwargs.get("out") is not None:
        raise click.UsageError(
            "--keep-runs keeps the newest run directories of --runs-dir (a job's out); "
            "it cannot be used with --out"
        )
    meta = click.get_current_context().meta
    meta.pop(RESULT_META, None)
    try:
        code = f(input_path=input_path, **kwargs)
    except RunWriteFailed as exc:
        _after_run(exc.result, kwargs, keep=None)  # type: ignore[arg-type]
        raise
    result = meta.get(RESULT_META)
    if result is not None:
        _after_run(result, kwargs, keep=kwargs.get("keep_runs"))
    return code


def finished(result: RunResult) -> bool:
    """Whether the run went through its whole file (rows rejected or not)."""
    return result.read_to_end and result.stopped is None


def _after_run(result: RunResult, kwargs: dict[str, Any], *, keep: int | None) -> None:
    """Point ``latest`` at the run's directory; after a finished run keep the newest ``keep``.

    Only in a folder of run directories: one named by --out is left alone.
    A failure here is a warning: the run itself is done.
    """
    from importer.outputs.run_dirs import LATEST, point_latest, prune_runs

    if kwargs.get("out") is not None:
        return
    folder = result.out_dir.parent
    try:
        point_latest(folder, result.out_dir)
        if keep is not None and finished(result):
            prune_runs(folder, keep, result.out_dir)
    except OSError as exc:
        click.echo(
            f"Warning: could not update {folder / LATEST} or remove old runs there "
            f"({exc.strerror or exc}); the run itself is done",
            err=True,
        )


def _run_inbox(f: Callable[..., int], job: Job, kwargs: dict[str, Any]) -> int:
    """Run each ready file of the job's drop folder in name order; the worst exit code."""
    from importer.jobs.inbox import ready_files

    assert job.inbox is not None
    found = ready_files(job.inbox, job.settle_seconds)
    quiet = kwargs.get("quiet")
    for path in found.still_changing:
        if not quiet:
            click.echo(f"{path}: still being written; left for the next run", err=True)
    if not found.ready:
        if not quiet:
            click.echo(f"job {job.name}: no file to run in {job.inbox}", err=True)
        return ExitCode.OK
    codes: list[int] = []
    for path in found.ready:
        code, go_on = _inbox_file(f, path, kwargs)
        codes.append(code)
        if not go_on:
            break
    return worst(codes)


def _inbox_file(f: Callable[..., int], path: Path, kwargs: dict[str, Any]) -> tuple[int, bool]:
    """Run one file of a drop folder and file it away; (exit code, whether to go on).

    A file that cannot be read, or that the mapping does not fit, goes to
    failed/ and the next file runs. A run that went through the file goes to
    processed/. Anything else (a run stopped early, a ledger in use, missing
    credentials) leaves the file for the next run and ends the job: the next
    files would meet the same.
    """
    from importer.jobs.inbox import FAILED, PROCESSED, file_away

    try:
        _check_fits(path, kwargs)
    except MappingError as exc:  # the job's mapping file, not this file
        return _shown(exc), False
    except (InputError, ConfigError) as exc:
        file_away(path, FAILED, note=str(exc))
        return _shown(exc), True
    try:
        code = _one_run(f, path, kwargs)
    except InputError as exc:  # found reading it through, before anything was sent
        file_away(path, FAILED, note=str(exc))
        return _shown(exc), True
    except ImporterError as exc:
        return _shown(exc), False
    result = click.get_current_context().meta.get(RESULT_META)
    if result is None or not finished(result):
        return code, False
    file_away(path, PROCESSED, run_dir=result.out_dir)
    return code, True


def _check_fits(path: Path, kwargs: dict[str, Any]) -> None:
    """Read the header of ``path``: InputError when it cannot be read, ConfigError
    when no mapping (the one given, else any) fits it."""
    from importer.cli.arguments import detect_mapping, given_mapping, read_options

    read = (kwargs.get("sheet"), kwargs.get("delimiter"), kwargs.get("encoding"))
    if kwargs.get("mapping_name"):
        given_mapping(kwargs["mapping_name"], path, *read)
    else:
        detect_mapping(path, read_options(*read))


def _shown(exc: ImporterError) -> int:
    """Print an error that ends one file of a job as ``main`` would; returns its exit code."""
    if click.get_current_context().find_root().params.get("debug"):
        click.echo(traceback.format_exc().rstrip(), err=True)
    click.echo(f"Error: {exc}", err=True)
    return int(exc.exit_code)
