"""``rg-import run``: plan each chunk, send what changed, record every row's end.

The main thread reads and plans chunks and writes the output files; a bounded
pool of worker threads sends rows (``importer.send``). At most ``max_inflight``
rows are waiting or in flight at once, so memory stays flat on any file size.
Every input row ends in exactly one of: created, updated, unchanged, rejected,
in doubt, or skipped (only when the run stopped early); the report proves it.
"""

from __future__ import annotations

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

from importer import outputs
from importer.errors import ConfigError, ExitCode
from importer.mapfile import Mapping, read_overrides
from importer.models import Action, RowIssue, Stage
from importer.plan import PlannedChunk, Planner
from importer.progress import NullProgress, Progress
from importer.send import CircuitBreaker, Sender, SendOutcome, SendPolicy, Stopping

LEAD_RESULTS = ("created", "updated", "unchanged", "rejected", "in_doubt", "skipped")


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
    workers: int = 4
    rps: float | None = None
    activities_at_most_once: bool = False
    client_settings: Any = None  # importer.client.ClientSettings overrides (timeouts, attempts)
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
    from importer.client import Client, ClientSettings
    from importer.ledger import Ledger
    from importer.read import ReadOptions, open_table
    from importer.throttle import RateLimiter

    make_bar = progress or (lambda *a, **k: NullProgress())
    started = time.monotonic()
    run_id = outputs.new_run_id()
    options = req.read_options or ReadOptions(**read_overrides(req.mapping))
    source = req.mapping.source
    with Ledger(req.ledger, run_id=run_id) as ledger:
        recovered = ledger.recover()
        settings = req.client_settings or ClientSettings(base_url=req.base_url)
        clears_fields = settings.update_api == "v2"
        if confirm is not None and not _site_known(ledger, req.site):
            preview = _preview_counts(req, options, ledger, clears_fields=clears_fields)
            if not confirm({"site": req.site, **preview}):
                raise ConfigError("stopped before sending: nothing was sent")
        breaker = CircuitBreaker(req.max_consecutive_failures)
        limiter = RateLimiter(req.rps)
        client = Client(
            req.credentials, settings, rate_limiter=limiter, sleep=_stoppable_sleep(breaker.stop)
        )
        policy = SendPolicy(
            site=req.site, source=source, kind=req.mapping.kind,
            activities_at_most_once=req.activities_at_most_once,
            update_api=settings.update_api, max_consecutive_failures=req.max_consecutive_failures,
        )  # fmt: skip
        sender = Sender(client, ledger, policy, breaker)
        tally = _Tally()
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
            out_dir = outputs.make_run_dir(
                req.out or Path("rg-import-runs") / run_id, overwrite=req.overwrite
            )
            rejects = outputs.RejectWriter(out_dir / "rejects.csv", headers, send_columns=True)
            doubts = outputs.RejectWriter(out_dir / "in_doubt.csv", headers, send_columns=True)
            reading = make_bar("Reading", total=table.info.size, unit="B", position=0)
            sending = make_bar("Sending", total=None, unit="rows", position=1)
            pool = ThreadPoolExecutor(max_workers=req.workers, thread_name_prefix="send")
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
                                tally.add(SendOutcome(plan, "skipped"), lambda: [], rejects, doubts)
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
            except KeyboardInterrupt:
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
            info = table.info
            stats = client.stats()

    rows = info.rows
    if breaker.stop.is_set():
        # rows read but never sent are counted as skipped, so the sum holds
        tally.leads["skipped"] += rows - tally.total()
    if interrupted:
        code = ExitCode.INTERRUPTED
    elif breaker.reason is not None:
        code = ExitCode.ABORTED
    elif tally.leads["rejected"] or tally.leads["in_doubt"]:
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
        "stopped": breaker.reason,
        "duration_s": round(time.monotonic() - started, 3),
        "exit_code": int(code),
    }  # fmt: skip
    report["invariant_holds"] = rows == sum(tally.leads[k] for k in LEAD_RESULTS)
    outputs.write_json(out_dir / "report.json", report)
    report["out_dir"] = str(out_dir)
    return report


class _Tally:
    """Counts of how rows and activities ended; writes rejects and in-doubt rows."""

    def __init__(self) -> None:
        self.leads: Counter[str] = Counter({k: 0 for k in LEAD_RESULTS})
        self.activities: Counter[str] = Counter(
            {k: 0 for k in ("sent", "unchanged", "rejected", "in_doubt", "possible_duplicates")}
        )
        self.warnings: Counter[str] = Counter()

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
        rejects: outputs.RejectWriter,
        doubts: outputs.RejectWriter,
    ) -> None:
        self.leads[outcome.result] += 1
        self.activities["sent"] += outcome.activities_sent
        self.activities["rejected"] += outcome.activities_rejected
        self.activities["in_doubt"] += outcome.activities_in_doubt
        self.activities["possible_duplicates"] += outcome.possible_duplicates
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


def _site_known(ledger: Any, site: str) -> bool:
    return next(iter(ledger.iter_leads(site=site)), None) is not None


def _preview_counts(
    req: RunRequest, options: Any, ledger: Any, *, clears_fields: bool
) -> dict[str, int]:
    """Plan the whole file once (no network) to show what a run would send."""
    from importer.read import open_table

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


def _stoppable_sleep(stop: threading.Event) -> Callable[[float], None]:
    """A sleep for retry back-offs that ends the retries when the run stops."""

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Stopping()

    return sleep


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
