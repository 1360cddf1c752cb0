"""``rg-import sites FILE``: many sites, each its own run, on one executor, with one summary.

A sites file is a CSV with the columns ``input``, ``mapping`` and ``site``
(one line per site; more columns are ignored), or an rg-import.toml whose jobs
each name them. Every site is a whole run (``send.run.run_file``) with its own
run directory and report, under the batch's folder; on a Dask cluster each is
a task (``pieces.run_piece``, no span), in this process one after the other.
Each site has the whole ``--workers`` and ``--rps``: limits are per site, and
no two tasks write to one site. summary.json lists how every site ended.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.errors import ConfigError, ExitCode, ImporterError, terminate_stops
from importer.models import Outcome
from importer.outputs import private_files
from importer.outputs.report import RunResult
from importer.scale.executors import Executor
from importer.scale.pieces import PieceTask, run_piece
from importer.send.run import RunRequest, run_file

SITE_COLUMNS = ("input", "mapping", "site")
SUMMARY = "summary.json"


@dataclass(frozen=True)
class SiteLine:
    """One site of a sites file: a name for its run directory, and what to send where."""

    name: str
    input: Path
    mapping: str
    site: str


@dataclass(frozen=True)
class SiteEnd:
    """How one site's run ended: its result, or why it did not run (``error``)."""

    line: SiteLine
    result: RunResult | None
    error: str | None = None

    @property
    def exit_code(self) -> int:
        if self.result is not None:
            return int(self.result.exit_code)
        return int(ExitCode.ABORTED)


@dataclass(frozen=True)
class SitesResult:
    """Every site's end, the batch's folder and summary.json, and the worst exit code."""

    ends: list[SiteEnd]
    out_dir: Path
    summary_file: Path
    exit_code: int


def read_sites_csv(path: Path) -> list[SiteLine]:
    """The lines of a sites CSV; ConfigError (exit 2) naming the line that is wrong.

    Inputs are relative to the file's folder; the name of a site's run is its
    line number and the site's first characters (``002-089df7bf``).
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = [h.strip().lower() for h in reader.fieldnames or []]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"cannot read the sites file {path}: {exc}") from None
    missing = [c for c in SITE_COLUMNS if c not in header]
    if not rows or missing:
        raise ConfigError(
            f"{path}: a sites file is a CSV with the columns {', '.join(SITE_COLUMNS)} and one "
            f"line per site{'; missing: ' + ', '.join(missing) if rows and missing else ''}"
        )
    lines = []
    for number, row in enumerate(rows, start=2):
        cells = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        if not all(cells.get(c) for c in SITE_COLUMNS):
            raise ConfigError(f"{path} line {number}: give input, mapping and site")
        name = f"{number:03d}-{cells['site'][:8]}"
        lines.append(SiteLine(name, path.parent / cells["input"], cells["mapping"], cells["site"]))
    return lines


def run_sites(
    requests: Sequence[tuple[SiteLine, RunRequest]], executor: Executor, out_dir: Path,
    *, cluster: Callable[..., Any] | None = None,
) -> SitesResult:  # fmt: skip
    """Run every site's request (its ``out`` is made ``out_dir/<name>``); one summary.

    ``cluster``: ``dask_cluster.cluster`` (imported by the caller only for a Dask executor).
    """
    private_files.make_run_dir(out_dir)
    started = time.monotonic()
    placed = [
        (line, dataclasses.replace(req, out=out_dir / line.name, overwrite=True))
        for line, req in requests
    ]
    if executor.spread:
        from importer.scale.spread import check_spreadable

        for _, req in placed:
            check_spreadable(req)
        assert cluster is not None
        ends = _on_cluster(placed, executor, cluster)
    else:
        ends = [_here(line, req) for line, req in placed]
    return _summarised(ends, out_dir, time.monotonic() - started)


def _here(line: SiteLine, req: RunRequest) -> SiteEnd:
    try:
        return SiteEnd(line, run_file(req))
    except ImporterError as exc:  # this site cannot run: the others still do
        return SiteEnd(line, None, str(exc))


def _on_cluster(
    placed: list[tuple[SiteLine, RunRequest]], executor: Executor, cluster: Callable[..., Any]
) -> list[SiteEnd]:
    tasks = [
        PieceTask(dataclasses.replace(req, credentials=None), n, None, req.out or Path())
        for n, (_, req) in enumerate(placed, start=1)
    ]
    ends: list[SiteEnd | None] = [None] * len(tasks)

    def done(index: int, result: RunResult | None, error: BaseException | None) -> None:
        ends[index] = SiteEnd(placed[index][0], result, None if result else _said(error))

    credentials = placed[0][1].credentials
    env = {"RG_USERNAME": credentials.username, "RG_PASSWORD": credentials.password}
    with cluster(executor, worker_env=env) as dask, terminate_stops():
        names = [f"rg-import-site-{req.run_id}-{line.name}" for line, req in placed]
        with contextlib.suppress(KeyboardInterrupt):  # the sites not done are said to be stopped
            dask.run(run_piece, tasks, names, done)
    return [
        end or SiteEnd(line, None, "stopped before this site's run ended")
        for end, (line, _) in zip(ends, placed, strict=True)
    ]


def _said(error: BaseException | None) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _summarised(ends: list[SiteEnd], out_dir: Path, duration: float) -> SitesResult:
    worst = max((end.exit_code for end in ends), default=0, key=_rank)
    sites = []
    for end in ends:
        result = end.result
        sites.append({
            "name": end.line.name, "site_uuid": end.line.site, "input": str(end.line.input),
            "mapping": end.line.mapping, "exit_code": end.exit_code, "error": end.error,
            "leads": {o.done: result.leads[o] for o in Outcome} if result else None,
            "report_file": str(result.report_file) if result and result.report_file else None,
        })  # fmt: skip
    summary = out_dir / SUMMARY
    private_files.write_json(
        summary, {"sites": sites, "exit_code": worst, "duration_s": round(duration, 3)}
    )
    return SitesResult(ends, out_dir, summary, worst)


def _rank(code: int) -> int:
    """Which exit code of several sites the batch takes: the one that most needs a look."""
    order = [ExitCode.OK, ExitCode.REJECTS, ExitCode.USAGE, ExitCode.LOCKED, ExitCode.ABORTED]
    return order.index(ExitCode(code)) if code in order else len(order)
