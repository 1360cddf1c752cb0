"""``rg-import sites FILE``: every site of a sites file run as its own task, one summary.

FILE is a CSV (input, mapping, site: one line per site) or an rg-import.toml
whose jobs each give an input, a mapping and a site (``importer.scale.sites``).
The flags apply to every site; each run has its own run directory and report
under one folder, and the command prints a line per site (or summary.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from importer.cli.arguments import LEDGER
from importer.errors import ConfigError
from importer.scale.executors import EXECUTORS, LOCAL
from importer.settings import DEFAULT_WORKERS

if TYPE_CHECKING:
    from importer.scale.sites import SiteLine, SitesResult
    from importer.send.run import RunRequest


@click.command()
@click.argument("sites_file", metavar="FILE", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--ledger",
    type=LEDGER,
    help="The ledger of every site's run (or RG_LEDGER); a postgresql:// URL on a Dask cluster.",
)
@click.option(
    "--base-url",
    metavar="URL",
    help="API base URL (or RG_BASE_URL; default: the Real Geeks service).",
)
@click.option(
    "--workers",
    default=DEFAULT_WORKERS,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Requests in flight at once, per site.",
)
@click.option(
    "--rps", type=click.FloatRange(min=0.1), help="At most this many requests per second, per site."
)
@click.option(
    "--runs-dir",
    type=click.Path(path_type=Path),
    help="Folder of the batch's directory (default: rg-import-runs).",
)
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default=LOCAL,
    show_default=True,
    help="Run the sites here one after the other, or as tasks of a Dask cluster (see docs/scale.md).",
)
@click.option(
    "--scheduler", metavar="ADDRESS", help="The scheduler of --executor dask, e.g. tcp://HOST:8786."
)
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    help="Worker processes of --executor dask-local (default: one per core).",
)
@click.option(
    "--yes", "-y", is_flag=True, help="Required: nobody is asked before the first write to a site."
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print summary.json instead of a line per site."
)
def sites(
    sites_file: Path, ledger: Path | str | None, base_url: str | None, workers: int,
    rps: float | None, runs_dir: Path | None, executor: str, scheduler: str | None,
    processes: int | None, yes: bool, as_json: bool,
) -> int:  # fmt: skip
    """Send every site of FILE, each as its own run: a CSV with the columns input,
    mapping and site, or an rg-import.toml whose jobs name them."""
    from importer.config import environment
    from importer.outputs.private_files import new_run_id
    from importer.scale.executors import executor_of
    from importer.scale.sites import run_sites

    spread = executor_of(executor, scheduler, processes)
    if not yes:
        raise ConfigError("rg-import sites asks nobody before a first write: pass --yes")
    env = environment()
    requests = [
        (line, _request(line, ledger=ledger, base_url=base_url, workers=workers, rps=rps, env=env))
        for line in _lines(sites_file)
    ]
    run_id = new_run_id()
    cluster: Callable[..., Any] | None = None
    if spread.spread:
        from importer.scale import dask_cluster

        cluster = dask_cluster.cluster
    folder = (runs_dir or Path("rg-import-runs")) / f"{run_id}-sites"
    result = run_sites(requests, spread, folder, cluster=cluster)
    _show(result, as_json)
    return result.exit_code


def _lines(path: Path) -> list[SiteLine]:
    """The sites of a CSV, or of the jobs of a TOML project file."""
    from importer.scale.sites import read_sites_csv

    if not path.is_file():
        raise ConfigError(f"no sites file at {path}")
    if path.suffix.lower() != ".toml":
        return read_sites_csv(path)
    from importer.jobs.project import load_job, newest_input, read_jobs
    from importer.scale.sites import SiteLine

    lines = []
    for name in read_jobs(path):
        job = load_job(path, name)
        mapping, site = job.settings.get("mapping"), job.settings.get("site")
        if job.input is None or not isinstance(mapping, str) or not isinstance(site, str):
            raise ConfigError(
                f"{job.where()}: a site of rg-import sites needs input, mapping and site"
            )
        lines.append(SiteLine(name, newest_input(job), mapping, site))
    return lines


def _request(
    line: SiteLine, *, ledger: Path | str | None, base_url: str | None, workers: int,
    rps: float | None, env: dict[str, str],
) -> RunRequest:  # fmt: skip
    """The run of one site, its mapping checked to fit its input (else exit 2)."""
    from importer.cli.arguments import (
        given_mapping,
        read_options,
        run_destination,
        with_home_region,
    )
    from importer.send.client_settings import ClientSettings
    from importer.send.run import RunRequest

    mapping = with_home_region(given_mapping(line.mapping, line.input, None, None, None), None)
    target = run_destination(
        site=line.site, base_url=base_url, ledger=ledger, sandbox=False, env=env
    )
    settings = ClientSettings(base_url=target.url, pool_size=max(workers, 4))
    return RunRequest(
        input=line.input, mapping=mapping, site=target.site, base_url=target.url,
        credentials=target.credentials, ledger=target.ledger,
        read_options=read_options(None, None, None, mapping), workers=workers, rps=rps,
        client_settings=settings, command=f"rg-import sites ({line.name})", assign=True,
    )  # fmt: skip


def _show(result: SitesResult, as_json: bool) -> None:
    summary: dict[str, Any] = json.loads(result.summary_file.read_text(encoding="utf-8"))
    if as_json:
        click.echo(json.dumps({**summary, "summary_file": str(result.summary_file)}, indent=2))
        return
    columns = ("created", "updated", "unchanged", "rejected", "in_doubt", "not_sent")
    click.echo(f"{'site':<14} {'exit':>4} " + " ".join(f"{c:>9}" for c in columns))
    for site in summary["sites"]:
        counts = site["leads"]
        cells = " ".join(f"{counts[c]:>9}" for c in columns) if counts else site["error"]
        click.echo(f"{site['name']:<14} {site['exit_code']:>4} {cells}")
    click.echo(f"Summary: {result.summary_file}")
