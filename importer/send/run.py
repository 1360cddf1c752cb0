"""``rg-import run``: plan each chunk, send what changed, record every row's end.

The main thread reads and plans chunks and writes the output files; a bounded
pool of worker threads sends rows (``importer.send.sender``). At most ``max_inflight``
rows are waiting or in flight at once, so memory stays flat on any file size.
Every input row ends in exactly one of: created, updated, unchanged, rejected,
in doubt, or not sent (the request never reached the server, or the run
stopped first; such rows stay pending for the next run); the report proves it.
"""

from __future__ import annotations

import errno
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
from typing import Any

from importer.errors import (
    ConfigError,
    ExitCode,
    LedgerGone,
    LedgerWriteError,
    RunWriteFailed,
)
from importer.mapping.files import read_overrides
from importer.mapping.spec import Mapping
from importer.models import Action, RowIssue, Stage
from importer.outputs import csv_files, private_files
from importer.plan.planner import Planner
from importer.plan.rows import PlannedChunk
from importer.progress import NullProgress, Progress
from importer.send.breaker import CircuitBreaker
from importer.send.sender import Sender, SendOutcome, SendPolicy
from importer.settings import DEFAULT_WORKERS

LEAD_RESULTS = ("created", "updated", "unchanged", "rejected", "in_doubt", "not_sent")
ACTIVITY_RESULTS = ("sent", "unchanged", "rejected", "in_doubt", "not_sent")
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


ProgressFactory = Callable[..., Progress]
Confirm = Callable[[dict[str, Any]], bool]


def run_file(
    req: RunRequest,
    *,
    progress: ProgressFactory | None = None,
    confirm: Confirm | None = None,
) -> dict[str, Any]:
    """Send ``req.input`` to Real Geeks; returns the report (also written as report.json).

    ``confirm`` is asked, with the planned counts, before the first write to a
    site this ledger has never written to; returning False stops with nothing sent.
    """
    from importer.ledger.ledger import Ledger
    from importer.read.options import ReadOptions
    from importer.read.table import open_table, read_through
    from importer.send.client import Client
    from importer.send.client_settings import ClientSettings
    from importer.send.throttle import RateLimiter

    make_bar = progress or (lambda *a, **k: NullProgress())
    started = time.monotonic()
    run_id = private_files.new_run_id()
    options = req.read_options or ReadOptions(**read_overrides(req.mapping))
    source = req.mapping.source
    with Ledger(req.ledger, run_id=run_id) as ledger:
        recovered = ledger.recover()
        settings = req.client_settings or ClientSettings(base_url=req.base_url)
        clears_fields = settings.update_api == "v2"
        if confirm is not None and not _site_known(ledger, req.site):
            # (the preview reads the whole file too)
            preview = _preview_counts(req, options, ledger, clears_fields=clears_fields)
            if not confirm({"site": req.site, **preview}):
                raise ConfigError("stopped before sending: nothing was sent")
        else:
            # Exit 2 means nothing was sent: whatever would stop reading part-way
            # (a quote never closed) must stop the run before its first request.
            # After that, every row ends as a row outcome and the run has a report.
            read_through(req.input, options)
        breaker = CircuitBreaker(req.max_consecutive_failures)
        # every wait of the send path (rate limiter, retries, places in flight) ends on stop
        limiter = RateLimiter(
            req.rps, stop=breaker.stop, max_pause=settings.max_retry_after,
            on_give_up=breaker.server_asks_to_wait,
        )  # fmt: skip
        client = Client(
            req.credentials, settings, rate_limiter=limiter, stop=breaker.stop,
            max_in_flight=req.workers,
        )  # fmt: skip
        policy = SendPolicy(
            site=req.site, source=source, kind=req.mapping.kind,
            activities_at_most_once=req.activities_at_most_once,
            update_api=settings.update_api, max_consecutive_failures=req.max_consecutive_failures,
        )  # fmt: skip
        sender = Sender(client, ledger, policy, breaker)
        tally = _Tally(held_only=req.activities_at_most_once)
        interrupted = False
        read_to_end = False
        # lazy: a re-run may not need to parse a single row (see Table.pieces)
        with open_table(req.input, options, lazy=True) as table, client:
            headers = table.info.headers
            planner = Planner(
                req.mapping,
                table.info.columns,
                headers,
                site=req.site,
                ledger=ledger,
                payloads_needed=True,
                clears_fields=clears_fields,
            )
            planned_pieces = (planner.plan_piece(table, piece) for piece in table.pieces())
            # the first rows are read and planned now: a file that fails there sends nothing
            first = next(planned_pieces, None)
            # made once the input opened and fits the mapping: a bad input leaves no run dir
            out_dir = private_files.make_run_dir(
                req.out or Path("rg-import-runs") / run_id, overwrite=req.overwrite
            )
            rejects = _Guarded(
                csv_files.RejectWriter(out_dir / "rejects.csv", headers, send_columns=True), breaker
            )
            doubts = _Guarded(
                csv_files.RejectWriter(out_dir / "in_doubt.csv", headers, send_columns=True),
                breaker,
            )
            held = tally.held_file = csv_files.HeldWriter(out_dir / "held_activities.csv")
            reading = make_bar("Reading", total=table.info.size, unit="B", position=0)
            sending = make_bar("Sending", total=None, unit="rows", position=1)
            # --workers bounds the requests in flight (the client's max_in_flight); the
            # extra threads carry rows that sit out a Retry-After or a backoff meanwhile
            pool = ThreadPoolExecutor(
                max_workers=req.workers * THREADS_PER_WORKER, thread_name_prefix="send"
            )
            # future -> (chunk, position): the raw cells are read only if the row fails
            inflight: dict[Future[SendOutcome], tuple[PlannedChunk, int]] = {}
            limit = max(req.workers * 8, 256)

            def settle(done: set[Future[SendOutcome]]) -> None:
                for fut in done:
                    planned, position = inflight.pop(fut)
                    tally.add(fut.result(), partial(planned.cells, position), rejects, doubts)
                sending.advance(len(done))
                sending.counts(**tally.live())

            try:
                with _interrupt_stops(breaker):
                    read_so_far = 0
                    for planned in itertools.chain([first] if first else [], planned_pieces):
                        reading.advance(table.bytes_read - read_so_far)
                        read_so_far = table.bytes_read
                        tally.warnings.update(w.code for w in planned.warnings)
                        tally.activities["unchanged"] += planned.activities_unchanged
                        rejected = [i for i, a in enumerate(planned.actions) if a is Action.REJECT]
                        for i, cells in zip(rejected, planned.cells_at(rejected), strict=True):
                            rejects.reject(cells, planned.issue(planned.rows[i]))
                        tally.leads["rejected"] += len(rejected)
                        quiet_rows = len(rejected)
                        for i, row in enumerate(planned.rows):
                            action = planned.actions[i]
                            if action is Action.REJECT:
                                continue
                            plan = planned.plans.get(row)
                            if action is Action.UNCHANGED:
                                if plan is not None:
                                    if plan.refresh:
                                        sender.refresh(plan)
                                    tally.activities["unchanged"] += plan.activities_unchanged
                                tally.leads["unchanged"] += 1
                                quiet_rows += 1
                                continue
                            assert plan is not None
                            if breaker.stop.is_set():
                                unsent = SendOutcome(
                                    plan, "not_sent", activities_not_sent=len(plan.activities)
                                )
                                tally.add(unsent, lambda: [], rejects, doubts)
                                continue
                            while len(inflight) >= limit:
                                settle(wait(inflight, return_when=FIRST_COMPLETED).done)
                            inflight[pool.submit(sender.send, plan)] = (planned, i)
                        sending.advance(quiet_rows)
                        if inflight:
                            settle({f for f in inflight if f.done()})
                        if breaker.stop.is_set():
                            # stopped (auth, breaker): the rest of the file is left for the
                            # next run, unread, so a refused run ends at once on any size
                            break
                    else:
                        read_to_end = True
                    while inflight:
                        settle(wait(inflight, return_when=FIRST_COMPLETED).done)
            except (KeyboardInterrupt, LedgerWriteError) as exc:
                # a ledger write of this thread failed (refresh, remembered rejects):
                # the run stops as when a worker's does
                if isinstance(exc, LedgerWriteError):
                    breaker.halt(exc)
                else:
                    interrupted = True
                    breaker.interrupt("interrupted (Ctrl-C)")
                while inflight:
                    settle(wait(inflight, return_when=FIRST_COMPLETED).done)
            finally:
                pool.shutdown(wait=True)
                reading.close()
                sending.close()
                rejects.close()
                doubts.close()
                held.close()
            info = table.info
            stats = client.stats()

    rows = info.rows
    if breaker.stop.is_set():
        # rows read but never sent are counted as not sent, so the sum holds
        tally.leads["not_sent"] += rows - tally.total()
    if interrupted:
        code = ExitCode.INTERRUPTED
    elif breaker.reason is not None:
        code = ExitCode.ABORTED
    elif (
        any(tally.leads[k] for k in ("rejected", "in_doubt", "not_sent"))
        or tally.activities["held"]
    ):
        # the run finished, but rows or activities are not (surely) there: exit 3, so a
        # nightly job notices. Held activities may be missing from their leads and
        # someone has to look; rows not sent are sent by the next run.
        code = ExitCode.REJECTS
    else:
        code = ExitCode.OK
    report: dict[str, Any] = {
        "run_id": run_id,
        "command": req.command,
        "input": {
            "path": req.input_name or str(req.input), "sha256": info.sha256, "rows": rows,
            "encoding": info.encoding, "delimiter": info.delimiter, "sheet": info.sheet,
            "warnings": info.warnings,
            # False when the run stopped early: ``rows`` then counts the rows read
            "read_to_end": read_to_end,
        },
        "mapping": {"name": req.mapping.name, "path": str(req.mapping.path or ""), "kind": req.mapping.kind},
        "site_uuid": req.site,
        "base_url": req.base_url,
        "sandbox": req.sandbox,
        "leads": dict(tally.leads),
        "activities": dict(tally.activities),
        "requests": stats,
        "recovered_in_doubt": recovered,
        "warnings": {"total": sum(tally.warnings.values()), "by_code": dict(tally.warnings)},
        "rejects_file": str(rejects.path) if rejects.written else None,
        "in_doubt_file": str(doubts.path) if doubts.written else None,
        "held_file": str(held.path) if held.written else None,
        "stopped": breaker.reason,
        "duration_s": round(time.monotonic() - started, 3),
        "exit_code": int(code),
    }  # fmt: skip
    report["invariant_holds"] = rows == sum(tally.leads[k] for k in LEAD_RESULTS)
    failed = breaker.write_error
    if failed is not None:
        report["stopped"] = _write_failure(failed, tally.leads["created"] + tally.leads["updated"])
    try:
        private_files.write_json(out_dir / "report.json", report)
        report["report_file"] = str(out_dir / "report.json")
    except OSError as exc:
        # the run's outcome matters more than its report file: the caller shows it
        failed = failed or _FileWriteError(out_dir / "report.json", exc)
        report["stopped"] = report["stopped"] or _write_failure(
            failed, tally.leads["created"] + tally.leads["updated"]
        )
        report["exit_code"] = int(ExitCode.ABORTED)
        report["report_file"] = None
    report["out_dir"] = str(out_dir)
    if failed is not None:
        raise RunWriteFailed(report["stopped"], report)
    return report


class _FileWriteError(Exception):
    """Writing one of the run's output files failed (``path``, the OSError)."""

    def __init__(self, path: Path, error: OSError):
        super().__init__(f"cannot write {path} ({error.strerror})")
        self.path = path
        self.reason = error.strerror
        self.disk_full = error.errno in _DISK_FULL


# ENOSPC: no space left; EDQUOT: over the user's quota; EFBIG: over the file size limit
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _write_failure(error: Exception, sent: int) -> str:
    """The one line that ends a run stopped by a file it could not write."""
    if isinstance(error, LedgerGone):
        return (
            f"{error}; {sent} rows were sent. Put that ledger file back, then run again to "
            "resume: a run with a new ledger sends every row again and repeats its notes"
        )
    path = getattr(error, "path", "")
    if getattr(error, "disk_full", False):
        return f"disk full at {path}; {sent} rows were sent, run again to resume"
    reason = getattr(error, "reason", None) or error.__cause__ or error
    return f"cannot write {path} ({reason}); {sent} rows were sent, fix it and run again to resume"


class _Guarded:
    """A run output file whose write errors stop the run instead of crashing it.

    After the first failure the file takes no more rows: the ledger still
    knows every row, and the report counts them.
    """

    def __init__(self, writer: csv_files.RejectWriter, breaker: CircuitBreaker):
        self.writer = writer
        self.path = writer.path
        self._breaker = breaker
        self._failed = False

    @property
    def written(self) -> bool:
        return self.writer.written

    def reject(self, cells: list[str], issue: RowIssue) -> None:
        if not self._failed:
            self._do(self.writer.reject, cells, issue)

    def close(self) -> None:
        self._do(self.writer.close)

    def _do(self, action: Callable[..., None], *args: Any) -> None:
        try:
            action(*args)
        except OSError as exc:
            self._failed = True
            self._breaker.halt(_FileWriteError(self.path, exc))


class _Tally:
    """Counts of how rows and activities ended; writes rejects, in-doubt rows and held activities.

    ``held_only``: the run sends activities at most once, so every activity it
    leaves in doubt is held (never resent on its own) and listed in ``held_file``.
    """

    def __init__(self, *, held_only: bool = False) -> None:
        self.leads: Counter[str] = Counter({k: 0 for k in LEAD_RESULTS})
        self.activities: Counter[str] = Counter(
            {k: 0 for k in (*ACTIVITY_RESULTS, "held", "possible_duplicates")}
        )
        self.warnings: Counter[str] = Counter()
        self.held_only = held_only
        self.held_file: csv_files.HeldWriter | None = None  # made with the run directory

    def total(self) -> int:
        return sum(self.leads.values())

    def live(self) -> dict[str, int]:
        return {
            k: self.leads[k]
            for k in ("created", "updated", "unchanged", "rejected")
            if self.leads[k]
        }

    def add(
        self,
        outcome: SendOutcome,
        cells: Callable[[], list[str]],
        rejects: _Guarded,
        doubts: _Guarded,
    ) -> None:
        self.leads[outcome.result] += 1
        self.activities["sent"] += outcome.activities_sent
        self.activities["rejected"] += outcome.activities_rejected
        self.activities["in_doubt"] += outcome.activities_in_doubt
        self.activities["not_sent"] += outcome.activities_not_sent
        self.activities["possible_duplicates"] += outcome.possible_duplicates
        if self.held_only and outcome.in_doubt_hashes:
            self._held(outcome)
        self.activities["unchanged"] += outcome.plan.activities_unchanged
        if outcome.result in ("rejected", "in_doubt"):
            issue = RowIssue(
                outcome.plan.row,
                Stage.SEND,
                outcome.problems,
                outcome.http_status,
                outcome.attempts,
            )
            (rejects if outcome.result == "rejected" else doubts).reject(cells(), issue)

    def _held(self, outcome: SendOutcome) -> None:
        plan = outcome.plan
        activities = dict(plan.activities)
        assert self.held_file is not None
        for digest in outcome.in_doubt_hashes:
            self.activities["held"] += 1
            self.held_file.held(
                plan.row, plan.key, plan.lead_id, digest, activities.get(digest, {})
            )


def _site_known(ledger: Any, site: str) -> bool:
    return next(iter(ledger.iter_leads(site=site)), None) is not None


def _preview_counts(
    req: RunRequest, options: Any, ledger: Any, *, clears_fields: bool
) -> dict[str, int]:
    """Plan the whole file once (no network) to show what a run would send."""
    from importer.read.table import open_table

    counts: Counter[str] = Counter()
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
            counts.update(a.value for a in planner.plan_chunk(frame).actions)
    return {k: counts[k] for k in ("create", "update", "unchanged", "reject")}


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
