"""``rg-import run``: plan each chunk, send what changed, record every row's end.

The main thread reads and plans chunks and writes the output files; a bounded
pool of worker threads sends rows (``importer.send.sender``). At most ``max_inflight``
rows are waiting or in flight at once, so memory stays flat on any file size.
Every input row ends in exactly one of: created, updated, unchanged, rejected,
in doubt, or not sent (the request never reached the server, or the run
stopped first; such rows stay pending for the next run); the report proves it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.errors import ConfigError
from importer.mapping.files import read_overrides
from importer.mapping.spec import Mapping
from importer.models import PLANNED, Outcome, Problem
from importer.outputs import private_files
from importer.outputs.report import InputFacts, RunResult, input_problems
from importer.plan.known_rejects import RejectMemory
from importer.plan.planner import Planner
from importer.progress import NullProgress, Progress
from importer.send import run_log
from importer.send.assignment import users_for_run
from importer.send.breaker import CircuitBreaker
from importer.send.missing import Missing, report_missing
from importer.send.process_count import resolve_send_processes
from importer.send.run_end import Ending, exit_code, write_report
from importer.send.run_outputs import RunFiles, Tally
from importer.send.run_pieces import PlannedPieces
from importer.send.send_loop import ProgressFactory, SendLoop
from importer.send.send_outcome import SendPolicy
from importer.send.sender import Sender
from importer.settings import (
    AUTO_SEND_PROCESSES,
    AUTO_WORKERS,
    DEFAULT_FAIL_ON,
    DEFAULT_MAX_WORKERS,
    DEFAULT_WORKERS,
)

if TYPE_CHECKING:
    from importer.ledger.ledger import Ledger
    from importer.read.options import ReadOptions
    from importer.read.table import Table
    from importer.send.client import Client
    from importer.send.client_settings import ClientSettings

LEAD_RESULTS = tuple(o.done for o in Outcome)  # report.json's ``leads`` of a run, in order


@dataclass(frozen=True)
class RunRequest:
    """Everything ``rg-import run`` needs, resolved by the CLI."""

    input: Path
    mapping: Mapping
    site: str
    base_url: str
    credentials: Any  # importer.config.Credentials
    ledger: Path | str  # a SQLite file, or a postgresql:// URL (importer.ledger.spec)
    out: Path | None = None
    read_options: Any = None
    workers: int | str = DEFAULT_WORKERS  # requests in flight, or AUTO_WORKERS
    max_workers: int = DEFAULT_MAX_WORKERS  # the most that --workers auto may reach
    rps: float | None = None
    activities_at_most_once: bool = False
    client_settings: Any = (
        None  # importer.send.client.ClientSettings overrides (timeouts, attempts)
    )
    max_consecutive_failures: int = 10
    sandbox: bool = False
    command: str = "run"
    input_name: str | None = None  # the input as typed, when ``input`` is a copy of it (stdin)
    overwrite: bool = False  # replace the outputs of an earlier run in ``out``
    run_id: str | None = None  # made here unless given (the caller's log lines carry it)
    runs_dir: Path | None = None  # without ``out``: the run directory is <runs_dir>/<run id>
    fail_on: str = DEFAULT_FAIL_ON  # which rejects make exit 3 (settings.FAIL_ON)
    allow_empty: bool = False  # a file with no data rows is no problem (else empty_input)
    lock_wait: float = 0.0  # seconds to wait for a ledger another run holds (--wait)
    reject_workbook: bool = True  # write rejects.xlsx beside rejects.csv (--no-xlsx: not)
    # --assign on: list the site's users and assign each row's owner (the mapping's
    # assign:); off by default here, so a library caller asks for that read itself
    assign: bool = False
    agent_map: Path | None = None  # --agent-map: owner -> user
    # a piece of a run spread over tasks (importer.scale): only these records of the file
    # (a read.spans.Span); the run that cut it recovered the ledger, read the file through
    # and asked to go on, and lists what vanished from the file (not a piece's to say)
    span: Any = None
    # --send-processes: the requests are made by this many processes (importer.send.process_client),
    # or AUTO_SEND_PROCESSES: run_file decides how many (importer.send.process_count)
    send_processes: int | str = 1

    def __post_init__(self) -> None:
        if self.send_processes == AUTO_SEND_PROCESSES:
            return
        if (
            not isinstance(self.send_processes, int)
            or isinstance(self.send_processes, bool)
            or self.send_processes < 1
        ):
            raise ConfigError(
                f"send processes must be a whole number from 1 or {AUTO_SEND_PROCESSES!r}, "
                f"not {self.send_processes!r}"
            )
        if self.send_processes > 1:
            from importer.send.process_client import check_send_processes

            check_send_processes(self.send_processes, self.most_in_flight)

    @property
    def most_in_flight(self) -> int:
        """The most requests in flight at once: ``workers``, or ``max_workers`` with auto."""
        return self.max_workers if self.workers == AUTO_WORKERS else int(self.workers)

    @property
    def workbook_mapping(self) -> Mapping | None:
        """The mapping that marks the cells of rejects.xlsx; None: no workbook (--no-xlsx)."""
        return self.mapping if self.reject_workbook else None


Confirm = Callable[[dict[str, Any]], bool]


def run_file(
    req: RunRequest,
    *,
    progress: ProgressFactory | None = None,
    confirm: Confirm | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> RunResult:
    """Send ``req.input`` to Real Geeks; returns the result (also written as report.json).

    ``confirm`` is asked, with the planned counts, before the first write to a
    site this ledger has never written to; returning False stops with nothing sent.
    ``on_wait`` is told when the run waits for a ledger another run holds. Raises
    RunWriteFailed, with the result, when an output file or the ledger could not be written.
    """
    from importer.ledger.ledger import Ledger
    from importer.read.options import ReadOptions
    from importer.read.table import open_table
    from importer.send.client_settings import ClientSettings

    started = time.monotonic()
    run_id = req.run_id or private_files.new_run_id()
    run_log.run_start(req.command, req.input_name or str(req.input), req.mapping, req.site)
    options = req.read_options or ReadOptions(**read_overrides(req.mapping))
    with Ledger(req.ledger, run_id=run_id, wait=req.lock_wait, on_wait=on_wait) as ledger:
        settings = req.client_settings or ClientSettings(base_url=req.base_url)
        recovered = _before_sending(req, options, ledger, settings, confirm)
        breaker = CircuitBreaker(req.max_consecutive_failures)
        client = _client(req, settings, breaker)
        sender = Sender(client, ledger, _policy(req, settings), breaker)
        tally = Tally(held_only=req.activities_at_most_once)
        # lazy: a re-run may not need to parse a single row (see Table.pieces)
        with client, open_table(req.input, options, lazy=True) as table:
            if req.span is not None:
                table.only(req.span)
            chunks = _planned_pieces(req, table, ledger, settings, client, breaker)
            # made once the input opened and fits the mapping: a bad input leaves no run dir
            out_dir = _make_run_dir(req, run_id)
            files = RunFiles(out_dir, table.info.headers, breaker, req.workbook_mapping, piece=bool(req.span))  # fmt: skip
            loop = SendLoop(sender, tally, files, table, req.most_in_flight, progress or _no_progress,
                            RejectMemory(ledger, req.site, req.mapping.source), client.concurrency)  # fmt: skip
            loop.run(chunks)
            missing = (
                Missing() if req.span else report_missing(ledger, req.site, req.mapping, loop.keys, out_dir, breaker)
            )  # fmt: skip
            info, stats = table.info, {"send_processes": 1, **client.stats()}
    if breaker.stop.is_set():
        # rows read but never listed (a second Ctrl-C cut the listing) are counted as not sent
        tally.leads[Outcome.NOT_SENT] += info.rows - tally.total()
    problems, ending = _ending(req, loop, info.rows)
    result = RunResult(
        run_id=run_id, command=req.command, input=InputFacts.of(info, req.input_name or str(req.input)),
        read_to_end=loop.read_to_end, mapping=req.mapping, site=req.site, base_url=req.base_url,
        sandbox=req.sandbox, leads=tally.leads, activities=dict(tally.activities), requests=stats,
        recovered_in_doubt=recovered, rejects=tally.rejects, warnings=tally.warnings,
        out_dir=out_dir, **files.written(), stopped=breaker.reason,
        duration_s=round(time.monotonic() - started, 3), exit_code=exit_code(tally, breaker, ending),
        rejects_known=ending.rejects_known, problems=problems,
        missing_since_last_run=missing.count, missing_file=missing.file,
    )  # fmt: skip
    return write_report(result, breaker.write_error)


def _planned_pieces(
    req: RunRequest, table: Table, ledger: Ledger, settings: ClientSettings, client: Client,
    breaker: CircuitBreaker,
) -> PlannedPieces:  # fmt: skip
    """The file's pieces, planned as they are read; the first one is planned here, so a
    file that fails in its first rows stops before anything is made or sent."""
    planner = Planner(  # (the mapping with the site's users, for assign:)
        _with_users(req, table.info.columns, client, breaker), table.info.columns,
        table.info.headers, site=req.site, ledger=ledger, payloads_needed=True,
        clears_fields=settings.update_api == "v2",
    )  # fmt: skip
    chunks = PlannedPieces(planner, table)
    chunks.first()
    return chunks


def _with_users(
    req: RunRequest, columns: list[str], client: Client, breaker: CircuitBreaker
) -> Mapping:
    """The mapping carrying the site's users (``assign:``), asked once; on a refusal
    the mapping as it is, the breaker open (nothing is sent)."""
    if not req.assign:
        return req.mapping
    return users_for_run(
        req.mapping, columns, lambda: client.list_users(req.site), breaker,
        agent_map=req.agent_map, site=req.site,
    )  # fmt: skip


def _make_run_dir(req: RunRequest, run_id: str) -> Path:
    """``--out``, or a new directory named after the run in the folder of run directories."""
    where = req.out or (req.runs_dir or Path("rg-import-runs")) / run_id
    return private_files.make_run_dir(where, overwrite=req.overwrite)


def _ending(req: RunRequest, loop: SendLoop, rows: int) -> tuple[tuple[Problem, ...], Ending]:
    """The problems of the input as a whole, and what besides the tally decides the exit code."""
    problems = input_problems(rows, req.input_name or str(req.input), allow_empty=req.allow_empty)
    return problems, Ending(loop.interrupt, loop.memory.known, req.fail_on, bool(problems))


def _no_progress(*args: Any, **kwargs: Any) -> Progress:
    return NullProgress()


def _before_sending(
    req: RunRequest, options: ReadOptions, ledger: Ledger, settings: ClientSettings,
    confirm: Confirm | None,
) -> dict[str, int]:  # fmt: skip
    """Recover what a crashed run left sending, record the run, and ask or read through;
    returns what was recovered. A piece (``span``) only records the run: the run that
    cut it did the rest, and the rows other pieces are sending are not in doubt."""
    recovered = ledger.recover() if req.span is None else {"leads": 0, "activities": 0}
    ledger.begin_run()
    if req.span is None:
        _ask_or_read_through(req, options, ledger, settings, confirm)
    return recovered


def _ask_or_read_through(
    req: RunRequest, options: ReadOptions, ledger: Ledger, settings: ClientSettings,
    confirm: Confirm | None,
) -> None:  # fmt: skip
    """Before the first request: ask to go on (first write to a site), or read the whole file.

    Either way the whole file is read once, so whatever would stop reading
    part-way stops the run before anything is sent.
    """
    from importer.read.table import read_through

    if not ask_first_write(
        req, options, ledger, confirm, clears_fields=settings.update_api == "v2"
    ):
        # Exit 2 means nothing was sent: whatever would stop reading part-way
        # (a quote never closed) must stop the run before its first request.
        # After that, every row ends as a row outcome and the run has a report.
        read_through(req.input, options)


def ask_first_write(
    req: RunRequest, options: ReadOptions, ledger: Ledger, confirm: Confirm | None, *,
    clears_fields: bool,
) -> bool:  # fmt: skip
    """Ask ``confirm`` to go on, with the planned counts, when this ledger never wrote to
    the site; returns whether it asked (the preview read the whole file). Raises
    ConfigError when the answer is no: nothing was sent."""
    if confirm is None or _site_known(ledger, req.site):
        return False
    preview = _preview_counts(req, options, ledger, clears_fields=clears_fields)
    if not confirm({"site": req.site, **preview}):
        raise ConfigError("stopped before sending: nothing was sent")
    return True


def _client(req: RunRequest, settings: ClientSettings, breaker: CircuitBreaker) -> Client:
    """The API client, whose every wait (rate limiter, retries, places in flight) ends on stop;
    with more than one sending process, one that hands its calls to them (its ``stats``
    say how many, as ``send_processes``: report.json shows what --send-processes auto chose)."""
    from importer.send.client import Client
    from importer.send.concurrency import ConcurrencyLimit
    from importer.send.throttle import RateLimiter

    auto = req.workers == AUTO_WORKERS  # then a 429 teaches the limiter the server's rate
    # --send-processes auto decided once, before anything is sent
    processes = resolve_send_processes(req.send_processes, req.workers)
    if processes > 1:
        from importer.send.process_client import ProcessClient

        return ProcessClient(  # type: ignore[return-value]  # the methods the sender calls
            req.credentials, settings, processes=processes, workers=req.most_in_flight,
            stop=breaker.stop, auto=auto, rps=req.rps, on_give_up=breaker.server_asks_to_wait,
            on_dead=breaker.interrupt, on_attempt=run_log.request if run_log.enabled() else None,
        )  # fmt: skip
    limiter = RateLimiter(
        req.rps, stop=breaker.stop, max_pause=settings.max_retry_after,
        on_give_up=breaker.server_asks_to_wait, learn=auto,
    )  # fmt: skip
    return Client(
        req.credentials, settings, rate_limiter=limiter, stop=breaker.stop,
        max_in_flight=req.most_in_flight, concurrency=ConcurrencyLimit(req.max_workers) if auto else None,
        on_attempt=run_log.request if run_log.enabled() else None,
    )  # fmt: skip


def _policy(req: RunRequest, settings: ClientSettings) -> SendPolicy:
    return SendPolicy(
        site=req.site, source=req.mapping.source, kind=req.mapping.kind,
        activities_at_most_once=req.activities_at_most_once,
        update_api=settings.update_api, max_consecutive_failures=req.max_consecutive_failures,
    )  # fmt: skip


def _site_known(ledger: Any, site: str) -> bool:
    return next(iter(ledger.iter_leads(site=site)), None) is not None


def _preview_counts(
    req: RunRequest, options: Any, ledger: Any, *, clears_fields: bool
) -> dict[str, int]:
    """Plan the whole file once (no network) to show what a run would send."""
    from importer.read.table import open_table

    counts: Counter[Outcome] = Counter()
    with open_table(req.input, options) as table:
        planner = Planner(
            req.mapping,
            table.info.columns,
            table.info.headers,
            site=req.site,
            ledger=ledger,
            clears_fields=clears_fields,
        )
        for frame in table.chunks():
            counts.update(planner.plan_chunk(frame).actions)
    return {o.value: counts[o] for o in PLANNED}
