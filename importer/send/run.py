"""``rg-import run``: plan each chunk, send what changed, record every row's end.

The main thread reads and plans chunks and writes the output files; a bounded
pool of worker threads sends rows (``importer.send.sender``). At most ``max_inflight``
rows are waiting or in flight at once, so memory stays flat on any file size.
Every input row ends in exactly one of: created, updated, unchanged, rejected,
in doubt, or not sent (the request never reached the server, or the run
stopped first; such rows stay pending for the next run); the report proves it.
"""

from __future__ import annotations

import dataclasses
import itertools
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.errors import ConfigError, ExitCode, LedgerWriteError, RunWriteFailed
from importer.mapping.files import read_overrides
from importer.mapping.spec import Mapping
from importer.models import PLANNED, Outcome
from importer.outputs import private_files
from importer.outputs.report import InputFacts, RunResult, report_json
from importer.plan.planner import Planner
from importer.plan.rows import PlannedChunk
from importer.progress import NullProgress, Progress
from importer.send import run_log
from importer.send.breaker import CircuitBreaker
from importer.send.missing import FileKeys, report_missing
from importer.send.run_outputs import FileWriteError, RunFiles, Tally, write_failure
from importer.send.send_outcome import SendOutcome, SendPolicy
from importer.send.sender import Sender
from importer.settings import DEFAULT_WORKERS

if TYPE_CHECKING:
    from importer.ledger.ledger import Ledger
    from importer.read.options import ReadOptions
    from importer.read.table import Table
    from importer.send.client import Client
    from importer.send.client_settings import ClientSettings

LEAD_RESULTS = tuple(o.done for o in Outcome)  # report.json's ``leads`` of a run, in order
THREADS_PER_WORKER = 4  # sending threads per request in flight (see the pool below)


@dataclass(frozen=True)
class RunRequest:
    """Everything ``rg-import run`` needs, resolved by the CLI."""

    input: Path
    mapping: Mapping
    site: str
    base_url: str
    credentials: Any  # importer.config.Credentials
    ledger: Path
    out: Path | None = None
    read_options: Any = None
    workers: int = DEFAULT_WORKERS
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


ProgressFactory = Callable[..., Progress]
Confirm = Callable[[dict[str, Any]], bool]


def run_file(
    req: RunRequest,
    *,
    progress: ProgressFactory | None = None,
    confirm: Confirm | None = None,
) -> RunResult:
    """Send ``req.input`` to Real Geeks; returns the result (also written as report.json).

    ``confirm`` is asked, with the planned counts, before the first write to a
    site this ledger has never written to; returning False stops with nothing sent.
    Raises RunWriteFailed, with the result, when an output file or the ledger
    could not be written.
    """
    from importer.ledger.ledger import Ledger
    from importer.read.options import ReadOptions
    from importer.read.table import open_table
    from importer.send.client_settings import ClientSettings

    started = time.monotonic()
    run_id = req.run_id or private_files.new_run_id()
    run_log.run_start(req.command, req.input_name or str(req.input), req.mapping, req.site)
    options = req.read_options or ReadOptions(**read_overrides(req.mapping))
    with Ledger(req.ledger, run_id=run_id) as ledger:
        recovered = ledger.recover()
        settings = req.client_settings or ClientSettings(base_url=req.base_url)
        _ask_or_read_through(req, options, ledger, settings, confirm)
        breaker = CircuitBreaker(req.max_consecutive_failures)
        client = _client(req, settings, breaker)
        sender = Sender(client, ledger, _policy(req, settings), breaker)
        tally = Tally(held_only=req.activities_at_most_once)
        # lazy: a re-run may not need to parse a single row (see Table.pieces)
        with open_table(req.input, options, lazy=True) as table, client:
            planner = Planner(
                req.mapping, table.info.columns, table.info.headers, site=req.site, ledger=ledger,
                payloads_needed=True, clears_fields=settings.update_api == "v2",
            )  # fmt: skip
            chunks = _first_planned(planner, table)
            # made once the input opened and fits the mapping: a bad input leaves no run dir
            out_dir = private_files.make_run_dir(
                req.out or Path("rg-import-runs") / run_id, overwrite=req.overwrite
            )
            files = RunFiles(out_dir, table.info.headers, breaker)
            loop = _SendLoop(sender, tally, files, table, req.workers, progress or _no_progress)
            loop.run(chunks)
            missing = report_missing(ledger, req.site, req.mapping, loop.keys, out_dir, breaker)
            info, stats = table.info, client.stats()
    if breaker.stop.is_set():
        # rows read but never sent are counted as not sent, so the sum holds
        tally.leads[Outcome.NOT_SENT] += info.rows - tally.total()
    result = RunResult(
        run_id=run_id, command=req.command, input=InputFacts.of(info, req.input_name or str(req.input)),
        read_to_end=loop.read_to_end, mapping=req.mapping, site=req.site, base_url=req.base_url,
        sandbox=req.sandbox, leads=tally.leads, activities=dict(tally.activities), requests=stats,
        recovered_in_doubt=recovered, warnings=tally.warnings, out_dir=out_dir, **files.written(),
        stopped=breaker.reason, duration_s=round(time.monotonic() - started, 3),
        missing_since_last_run=missing.count, missing_file=missing.file,
        exit_code=_exit_code(tally, breaker, interrupted=loop.interrupted),
    )  # fmt: skip
    return _write_report(result, breaker.write_error)


def _no_progress(*args: Any, **kwargs: Any) -> Progress:
    return NullProgress()


def _ask_or_read_through(
    req: RunRequest, options: ReadOptions, ledger: Ledger, settings: ClientSettings,
    confirm: Confirm | None,
) -> None:  # fmt: skip
    """Before the first request: ask to go on (first write to a site), or read the whole file.

    Either way the whole file is read once, so whatever would stop reading
    part-way stops the run before anything is sent.
    """
    from importer.read.table import read_through

    if confirm is not None and not _site_known(ledger, req.site):
        # (the preview reads the whole file too)
        preview = _preview_counts(req, options, ledger, clears_fields=settings.update_api == "v2")
        if not confirm({"site": req.site, **preview}):
            raise ConfigError("stopped before sending: nothing was sent")
    else:
        # Exit 2 means nothing was sent: whatever would stop reading part-way
        # (a quote never closed) must stop the run before its first request.
        # After that, every row ends as a row outcome and the run has a report.
        read_through(req.input, options)


def _client(req: RunRequest, settings: ClientSettings, breaker: CircuitBreaker) -> Client:
    """The API client, whose every wait (rate limiter, retries, places in flight) ends on stop."""
    from importer.send.client import Client
    from importer.send.throttle import RateLimiter

    limiter = RateLimiter(
        req.rps, stop=breaker.stop, max_pause=settings.max_retry_after,
        on_give_up=breaker.server_asks_to_wait,
    )  # fmt: skip
    return Client(
        req.credentials, settings, rate_limiter=limiter, stop=breaker.stop,
        max_in_flight=req.workers, on_attempt=run_log.request if run_log.enabled() else None,
    )  # fmt: skip


def _policy(req: RunRequest, settings: ClientSettings) -> SendPolicy:
    return SendPolicy(
        site=req.site, source=req.mapping.source, kind=req.mapping.kind,
        activities_at_most_once=req.activities_at_most_once,
        update_api=settings.update_api, max_consecutive_failures=req.max_consecutive_failures,
    )  # fmt: skip


def _first_planned(planner: Planner, table: Table) -> Iterator[PlannedChunk]:
    """The planned pieces of the file, the first one read and planned already.

    A file that fails in its first rows then stops before the run directory is
    made and before anything is sent.
    """
    pieces = (planner.plan_piece(table, piece) for piece in table.pieces())
    first = next(pieces, None)
    return itertools.chain([first] if first else [], pieces)


class _SendLoop:
    """Hands the rows of planned chunks to a pool of senders and tallies how they end.

    Rejected and unchanged rows end here; the others are sent by the pool,
    at most ``limit`` waiting or in flight at once.
    """

    def __init__(
        self, sender: Sender, tally: Tally, files: RunFiles, table: Table, workers: int,
        make_bar: ProgressFactory,
    ) -> None:  # fmt: skip
        self.sender, self.breaker = sender, sender.breaker
        self.tally, self.files, self.table = tally, files, table
        self.reading = make_bar("Reading", total=table.info.size, unit="B", position=0)
        self.sending = make_bar("Sending", total=None, unit="rows", position=1)
        # --workers bounds the requests in flight (the client's max_in_flight); the
        # extra threads carry rows that sit out a Retry-After or a backoff meanwhile
        self.pool = ThreadPoolExecutor(
            max_workers=workers * THREADS_PER_WORKER, thread_name_prefix="send"
        )
        # future -> (chunk, position): the raw cells are read only if the row fails
        self.inflight: dict[Future[SendOutcome], tuple[PlannedChunk, int]] = {}
        self.limit = max(workers * 8, 256)
        self.read_so_far = 0
        self.read_to_end = False
        self.interrupted = False
        self.keys = FileKeys()  # what is in the file, to tell what vanished from it
        self.log_rows = run_log.enabled()

    def run(self, chunks: Iterator[PlannedChunk]) -> None:
        """Send every chunk, then wait for the rows in flight; a stop ends it early."""
        try:
            with _interrupt_stops(self.breaker):
                self.read_to_end = self.keys.complete = self._send_chunks(chunks)
                self._drain()
        except (KeyboardInterrupt, LedgerWriteError) as exc:
            # a ledger write of this thread failed (refresh, remembered rejects):
            # the run stops as when a worker's does
            if isinstance(exc, LedgerWriteError):
                self.breaker.halt(exc)
            else:
                self.interrupted = True
                self.breaker.interrupt("interrupted (Ctrl-C)")
            self._drain()
        finally:
            self.pool.shutdown(wait=True)
            self.reading.close()
            self.sending.close()
            self.files.close()

    def _send_chunks(self, chunks: Iterator[PlannedChunk]) -> bool:
        """Send chunk after chunk; returns whether the file was read to its end."""
        for planned in chunks:
            self._send_chunk(planned)
            if self.breaker.stop.is_set():
                # stopped (auth, breaker): the rest of the file is left for the
                # next run, unread, so a refused run ends at once on any size
                return False
        return True

    def _send_chunk(self, planned: PlannedChunk) -> None:
        self.reading.advance(self.table.bytes_read - self.read_so_far)
        self.read_so_far = self.table.bytes_read
        self.tally.warnings.add(planned.warnings)
        self.tally.activities["unchanged"] += planned.activities_unchanged
        self.keys.add(planned)
        if self.log_rows:
            run_log.rows_ended(planned)
        quiet_rows = self._reject_rows(planned)
        for position in range(len(planned.rows)):
            quiet_rows += self._send_row(planned, position)
        self.sending.advance(quiet_rows)
        if self.inflight:
            self._settle({f for f in self.inflight if f.done()})

    def _reject_rows(self, planned: PlannedChunk) -> int:
        """List the rows the plan rejected; returns how many."""
        rejected = [i for i, a in enumerate(planned.actions) if a is Outcome.REJECT]
        for i, cells in zip(rejected, planned.cells_at(rejected), strict=True):
            self.files.rejects.reject(cells, planned.issue(planned.rows[i]))
        self.tally.leads[Outcome.REJECT] += len(rejected)
        return len(rejected)

    def _send_row(self, planned: PlannedChunk, position: int) -> int:
        """Hand one row to the pool, unless it needs no request; returns 1 if it ended here."""
        action = planned.actions[position]
        if action is Outcome.REJECT:
            return 0
        plan = planned.plans.get(planned.rows[position])
        if action is Outcome.UNCHANGED:
            if plan is not None:
                if plan.refresh:
                    self.sender.refresh(plan)
                self.tally.activities["unchanged"] += plan.activities_unchanged
            self.tally.leads[Outcome.UNCHANGED] += 1
            return 1
        assert plan is not None
        if self.breaker.stop.is_set():
            unsent = SendOutcome(plan, Outcome.NOT_SENT, activities_not_sent=len(plan.activities))
            self.tally.add(unsent, lambda: [], self.files)
            return 0
        while len(self.inflight) >= self.limit:
            self._settle(wait(self.inflight, return_when=FIRST_COMPLETED).done)
        self.inflight[self.pool.submit(self.sender.send, plan)] = (planned, position)
        return 0

    def _settle(self, done: set[Future[SendOutcome]]) -> None:
        for fut in done:
            planned, position = self.inflight.pop(fut)
            self.tally.add(fut.result(), partial(planned.cells, position), self.files)
        self.sending.advance(len(done))
        self.sending.counts(**self.tally.live())

    def _drain(self) -> None:
        while self.inflight:
            self._settle(wait(self.inflight, return_when=FIRST_COMPLETED).done)


def _exit_code(tally: Tally, breaker: CircuitBreaker, *, interrupted: bool) -> ExitCode:
    if interrupted:
        return ExitCode.INTERRUPTED
    if breaker.reason is not None:
        return ExitCode.ABORTED
    unsure = (Outcome.REJECT, Outcome.IN_DOUBT, Outcome.NOT_SENT)
    if any(tally.leads[o] for o in unsure) or tally.activities["held"]:
        # the run finished, but rows or activities are not (surely) there: exit 3, so a
        # nightly job notices. Held activities may be missing from their leads and
        # someone has to look; rows not sent are sent by the next run.
        return ExitCode.REJECTS
    return ExitCode.OK


def _write_report(result: RunResult, failed: Exception | None) -> RunResult:
    """Write report.json; raises RunWriteFailed when a file of the run could not be written."""
    sent = result.leads[Outcome.CREATE] + result.leads[Outcome.UPDATE]
    if failed is not None:
        result = dataclasses.replace(result, stopped=write_failure(failed, sent))
    report_file = result.out_dir / "report.json"
    try:
        private_files.write_json(report_file, report_json(result))
        result = dataclasses.replace(result, report_file=report_file)
    except OSError as exc:
        # the run's outcome matters more than its report file: the caller shows it
        failed = failed or FileWriteError(report_file, exc)
        stopped = result.stopped or write_failure(failed, sent)
        result = dataclasses.replace(result, stopped=stopped, exit_code=ExitCode.ABORTED)
    if failed is not None:
        raise RunWriteFailed(result.stopped or "", result)
    return result


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


@contextmanager
def _interrupt_stops(breaker: CircuitBreaker) -> Iterator[None]:
    """SIGTERM stops the run like Ctrl-C does: finish in-flight rows, then exit 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
