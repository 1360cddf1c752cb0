"""``rg-import run --executor dask``: one file's pieces sent as tasks of a Dask cluster.

The run here does what must happen once: it recovers the ledger, records the
run, asks before the first write to a site, and cuts the file into byte ranges
of whole records (reading it through, so a file that would stop part-way
stops before anything is sent). Each piece is then a task (``pieces.run_piece``)
against the shared PostgreSQL ledger; their results are merged into one
report with the same invariant as a run in one process (``merge``).

Limits are shared by dividing them: ``--workers`` (requests in flight) and
``--rps`` are the run's totals for the site, each of the tasks running at once
(the cluster's worker threads, at most one per piece) getting an equal share.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from importer.errors import ConfigError, terminate_stops
from importer.mapping.files import read_overrides
from importer.models import Problem
from importer.outputs import private_files
from importer.outputs.report import InputFacts, RunResult, input_problems
from importer.progress import NullProgress, Progress
from importer.read.options import ReadOptions
from importer.read.spans import Cut, cut, shrinking
from importer.scale.executors import Executor
from importer.scale.merge import Totals, file_keys, gather_problems, join_files
from importer.scale.pieces import PieceTask, run_piece
from importer.send import run_log
from importer.send.breaker import CircuitBreaker
from importer.send.missing import FileKeys, Missing, checked, report_missing
from importer.send.process_count import resolve_send_processes
from importer.send.run import Confirm, RunRequest, ask_first_write
from importer.send.run_end import Ending, outcome_code, stop_reason, write_report
from importer.send.run_outputs import FileWriteError
from importer.settings import AUTO_WORKERS

if TYPE_CHECKING:
    from importer.scale.dask_cluster import Starting

# the file is cut into this many spans per task running at once, gathered into pieces
# that shrink along the file (read.spans.shrinking): 3 pieces per task, the last ones
# short, and a retried piece redoes little
SPANS_PER_SLOT = 4
PIECES_DIR = "pieces"  # each piece's run directory, under the run's


def run_spread(
    req: RunRequest, executor: Executor, *, progress: Callable[..., Progress] | None = None,
    confirm: Confirm | None = None, on_wait: Callable[[str], None] | None = None,
) -> RunResult:  # fmt: skip
    """Send ``req.input`` as pieces on the Dask cluster of ``executor``; one merged result
    (also written as report.json). Raises ConfigError (exit 2) for a ledger the tasks
    cannot share, a cluster out of reach or Dask missing; nothing was sent then."""
    from importer.scale.dask_cluster import cluster, require

    started = time.monotonic()
    check_spreadable(req)
    require(executor)  # before the ledger is touched: nothing was done when Dask is missing
    req = dataclasses.replace(req, run_id=req.run_id or private_files.new_run_id())
    run_log.run_start(req.command, req.input_name or str(req.input), req.mapping, req.site)
    options = req.read_options or ReadOptions(**read_overrides(req.mapping))
    # the cluster starts (its workers load what a piece needs) while this recovers the
    # ledger and cuts the file; a run stopped before sending stops it again
    with cluster(executor, worker_env=_worker_env(req)) as dask:
        recovered = _before_sending(req, options, confirm, on_wait)
        found = cut(req.input, options, parts=dask.slots() * SPANS_PER_SLOT)
        dask.ready()  # up, or it says why not, before a run directory is made
        out_dir = _make_run_dir(req)
        tasks = _tasks(req, found, out_dir, dask.slots())
        totals, interrupt = _gather(dask, tasks, found, progress or _no_progress)
    name = req.input_name or str(req.input)
    problems = input_problems(totals.rows, name, allow_empty=req.allow_empty)
    ending = Ending(interrupt, totals.rejects_known, req.fail_on, bool(problems))
    stopped = stop_reason(interrupt) if interrupt is not None else totals.stopped
    pieces = [t.out for t in tasks]
    rejected = gather_problems(pieces) if req.reject_workbook else None
    files = join_files(pieces, out_dir)
    breaker = CircuitBreaker(req.max_consecutive_failures)  # hears of a file it cannot write
    workbook = _workbook(req, found, files["rejects_file"], rejected, breaker)
    # like a run in one process: only a run that read its whole file, and did not stop
    whole = stopped is None and totals.read_to_end and breaker.write_error is None
    missing = (
        _missing(req, files["results_file"], out_dir, breaker)
        if checked(req.mapping, read_to_end=whole) else Missing()
    )  # fmt: skip
    stopped = stopped or breaker.reason
    result = RunResult(
        run_id=req.run_id or "", command=req.command,
        input=dataclasses.replace(InputFacts.of(found.info, name), rows=totals.rows),
        read_to_end=totals.read_to_end, mapping=req.mapping, site=req.site,
        base_url=req.base_url, sandbox=req.sandbox, leads=totals.leads,
        activities=dict(totals.activities), requests=totals.requests,
        recovered_in_doubt=recovered, rejects=totals.rejects, warnings=totals.warnings,
        out_dir=out_dir, rejects_file=files["rejects_file"], rejects_workbook=workbook,
        in_doubt_file=files["in_doubt_file"], held_file=files["held_file"],
        results_file=files["results_file"], stopped=stopped,
        missing_since_last_run=missing.count, missing_file=missing.file,
        duration_s=round(time.monotonic() - started, 3), rejects_known=totals.rejects_known,
        exit_code=outcome_code(totals.leads, totals.activities["held"], stopped, ending),
        problems=problems,
    )  # fmt: skip
    return write_report(result, breaker.write_error)


def _workbook(
    req: RunRequest, found: Cut, rejects: Path | None, problems: dict[int, list[Problem]] | None,
    breaker: CircuitBreaker,
) -> Path | None:  # fmt: skip
    """rejects.xlsx of the joined rejects.csv, when the pieces kept their rows' problems."""
    if rejects is None or problems is None:
        return None
    from importer.outputs.problem_cells import ProblemCells
    from importer.outputs.reject_workbook import write_reject_workbook

    path = rejects.with_suffix(".xlsx")
    try:
        return write_reject_workbook(
            rejects, path, problems, ProblemCells(found.info.headers, req.mapping)
        )
    except OSError as exc:  # a full disk: said like any other file of the run
        breaker.halt(FileWriteError(path, exc))
        return None


def _missing(
    req: RunRequest, results: Path | None, out_dir: Path, breaker: CircuitBreaker
) -> Missing:
    """What vanished from the file since the ledger last saw it: the keys of every row
    (results.csv of the whole file) against the ledger's (``send.missing``)."""
    from importer.ledger.ledger import Ledger

    seen = FileKeys(file_keys(results), complete=True)
    with Ledger(req.ledger, run_id=req.run_id or "", readonly=True) as ledger:
        return report_missing(ledger, req.site, req.mapping, seen, out_dir, breaker)


def _before_sending(
    req: RunRequest, options: ReadOptions, confirm: Confirm | None,
    on_wait: Callable[[str], None] | None,
) -> dict[str, int]:  # fmt: skip
    """Recover what a crashed run left sending, record the run, ask before a first write."""
    from importer.ledger.ledger import Ledger

    assert req.run_id is not None
    with Ledger(req.ledger, run_id=req.run_id, wait=req.lock_wait, on_wait=on_wait) as ledger:
        recovered = ledger.recover()
        ledger.begin_run()
        update_api = req.client_settings.update_api if req.client_settings else "v1"
        ask_first_write(req, options, ledger, confirm, clears_fields=update_api == "v2")
    return recovered


def _worker_env(req: RunRequest) -> dict[str, str]:
    """The credentials, for the environment of workers started here (dask-local)."""
    credentials = req.credentials
    return {"RG_USERNAME": credentials.username, "RG_PASSWORD": credentials.password}


def _make_run_dir(req: RunRequest) -> Path:
    assert req.run_id is not None
    where = req.out or (req.runs_dir or Path("rg-import-runs")) / req.run_id
    return private_files.make_run_dir(where, overwrite=req.overwrite)


def _tasks(req: RunRequest, found: Cut, out_dir: Path, slots: int) -> list[PieceTask]:
    """A task per span (one for the whole file when it has none), each with its share
    of the run's requests in flight and requests per second."""
    spans: list[Any] = shrinking(found.spans, slots) if found.spans is not None else [None]
    at_once = max(1, min(slots, len(spans)))
    shared = dataclasses.replace(
        req, credentials=None, rps=None if req.rps is None else req.rps / at_once,
        # each task sends from its own process: --send-processes auto is 1 there
        send_processes=resolve_send_processes(req.send_processes, req.workers, local=False),
        **_share_of_workers(req, at_once),
    )  # fmt: skip
    pieces = out_dir / PIECES_DIR
    private_files.make_run_dir(pieces, overwrite=True)
    return [
        PieceTask(
            # each piece is a run of the ledger with a lease of its own (see piece_run_id)
            dataclasses.replace(shared, run_id=piece_run_id(req.run_id or "", n)),
            n,
            span,
            pieces / f"{n:03d}",
        )
        for n, span in enumerate(spans, start=1)
    ]


def _share_of_workers(req: RunRequest, at_once: int) -> dict[str, Any]:
    """A task's share of the requests in flight: of --workers, or with --workers auto of
    --max-workers (each task's limit then adapts on its own, within its share)."""
    if req.workers == AUTO_WORKERS:
        return {"max_workers": max(1, req.max_workers // at_once)}
    return {"workers": max(1, int(req.workers) // at_once)}


def piece_run_id(run_id: str, piece: int) -> str:
    """The ledger's run id of a piece: ``<run id>-p001``...

    A piece holds the rows it sends through a lease of its own on the shared
    ledger, given back when it ends; a retried piece takes up its dead try's
    rows under the same id. ``rg-import ledger export --run`` takes these ids.
    """
    return f"{run_id}-p{piece:03d}"


def _gather(
    dask: Starting, tasks: list[PieceTask], found: Cut, progress: Callable[..., Progress]
) -> tuple[Totals, KeyboardInterrupt | None]:
    """Run the tasks; the totals of those that came back and of those that did not."""
    totals = Totals()
    came_back: set[int] = set()
    bar = progress("Sending", total=len(tasks), unit="pieces", position=0)

    def done(index: int, result: RunResult | None, error: BaseException | None) -> None:
        task = tasks[index]
        if result is None:
            totals.lost(_records(task, found), f"piece {task.index} failed: {_said(error)}")
        else:
            totals.add(result)
        came_back.add(index)
        bar.advance(1)

    interrupt = None
    try:
        with terminate_stops():
            dask.run(run_piece, tasks, [_task_name(t) for t in tasks], done)
    except KeyboardInterrupt as exc:
        interrupt = exc
    finally:
        bar.close()
    for index, task in enumerate(tasks):
        if index not in came_back:
            totals.lost(_records(task, found), stop_reason(interrupt or KeyboardInterrupt()))
    return totals, interrupt


def _records(task: PieceTask, found: Cut) -> int:
    return task.span.records if task.span is not None else found.info.rows


def _task_name(task: PieceTask) -> str:
    return f"rg-import-{task.request.run_id}"


def _said(error: BaseException | None) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _no_progress(*args: Any, **kwargs: Any) -> Progress:
    return NullProgress()


def check_spreadable(req: RunRequest) -> None:
    """ConfigError unless the tasks can share the run's ledger: a PostgreSQL database,
    named without a password (the URL travels in the tasks' arguments)."""
    from importer.ledger.spec import is_database_url

    if not is_database_url(req.ledger):
        raise ConfigError(
            "--executor dask and dask-local need a ledger every task can write at once: "
            "--ledger postgresql://USER@HOST/DB (see docs/scale.md)"
        )
    url = urlsplit(str(req.ledger))
    if url.password or "password=" in url.query.lower():
        raise ConfigError(
            "the --ledger URL holds a password, which would travel in every task's arguments: "
            "leave it out and set PGPASSWORD (or ~/.pgpass) where the workers run"
        )
