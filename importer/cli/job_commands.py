"""``rg-import jobs list|check``: the jobs of rg-import.toml, shown and checked.

``check`` looks at what each job would use (its input, mapping, site, ledger
and folders, and every setting against the flag it names) and writes nothing:
no ledger, lock or output folder is made, so it is safe beside a running job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

config_option = click.option(
    "--config",
    type=click.Path(path_type=Path),
    help="The project file (default: ./rg-import.toml).",
)


@click.group("jobs")
def jobs_group() -> None:
    """The jobs of rg-import.toml: list them, check them."""


@jobs_group.command("list")
@config_option
def jobs_list(config: Path | None) -> None:
    """List the jobs: name, input (or inbox), site and mapping."""
    from importer.jobs.project import project_path, read_jobs

    rows = [("JOB", "INPUT", "SITE", "MAPPING")]
    for name, table in read_jobs(project_path(config)).items():
        source = table.get("input") or (f"inbox {table['inbox']}" if "inbox" in table else "-")
        rows.append(
            (name, str(source), str(table.get("site", "-")), str(table.get("mapping", "-")))
        )
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo(
            "  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]])
        )


@jobs_group.command("check")
@config_option
def jobs_check(config: Path | None) -> int:
    """Check every job's input, mapping, site and ledger; writes nothing. Exit 2 on a problem."""
    from importer.jobs.project import project_path, read_jobs

    path = project_path(config)
    failed = 0
    for name, table in read_jobs(path).items():
        problems = job_problems(path, name, table)
        failed += bool(problems)
        click.echo(f"job {name}: " + ("ok" if not problems else f"{len(problems)} problem(s)"))
        for problem in problems:
            click.echo(f"  {problem}")
    return 2 if failed else 0


def job_problems(path: Path, name: str, table: dict[str, Any]) -> list[str]:
    """What would stop the job ``name`` from running, one line each."""
    from importer.cli.job_settings import ENV_OF, job_values
    from importer.cli.plan_and_run import run
    from importer.config import environment
    from importer.errors import ImporterError
    from importer.jobs.checks import check_job
    from importer.jobs.project import parse_job

    try:
        job = parse_job(path, name, table)
        values = job_values(click.Context(run), job)
    except ImporterError as exc:
        return [str(exc)]
    env = environment()
    for key, variable in ENV_OF.items():  # the environment wins over the file
        if env.get(variable):
            values[key] = env[variable]
    problems = check_job(job, values)
    mapping = _mapping_problem(job, values)
    return problems + ([mapping] if mapping else [])


def _mapping_problem(job: Any, values: dict[str, Any]) -> str | None:
    """Whether the job's mapping loads and fits its input (detected from it when not named)."""
    from importer.cli.arguments import detect_mapping, given_mapping, read_options
    from importer.errors import ImporterError
    from importer.jobs.project import newest_input
    from importer.mapping.files import load_mapping

    read = (values.get("sheet"), values.get("delimiter"), values.get("encoding"))
    name = values.get("mapping_name")
    try:
        source = newest_input(job) if job.input is not None else None
    except ImporterError:
        source = None  # said once, as the input's problem
    try:
        if source is None or not source.is_file():
            if name:
                load_mapping(name)
            return None
        if name:
            given_mapping(name, source, *read)
        else:
            detect_mapping(source, read_options(*read))
    except ImporterError as exc:
        return f"mapping: {exc}"
    return None
