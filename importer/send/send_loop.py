"""The send loop of ``rg-import run``: rows of planned chunks handed to sending threads.

The main thread plans chunks (``importer.send.run``) and hands their rows here;
sending threads (``importer.send.row_threads``) send them (``importer.send.sender``) and this
loop tallies how each ends, writes the run's files in input order and stops
early, cleanly, on Ctrl-C, SIGTERM or a stop of the breaker.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from importer.errors import LedgerWriteError, terminate_stops
from importer.models import Outcome, Problem
from importer.plan.known_rejects import RejectMemory
from importer.plan.rows import PlannedChunk
from importer.progress import Progress
from importer.send import run_log
from importer.send.missing import FileKeys
from importer.send.row_threads import RowOut, RowThreads
from importer.send.run_end import stop_reason
from importer.send.run_outputs import RunFiles, Tally
from importer.send.run_pieces import PlannedPieces
from importer.send.send_outcome import SendOutcome
from importer.send.sender import Sender

if TYPE_CHECKING:
    from importer.read.table import Table
    from importer.send.concurrency import ConcurrencyLimit

ProgressFactory = Callable[..., Progress]
THREADS_PER_WORKER = 4  # most sending threads per request in flight (importer.send.row_threads)
RESCAN_S = 0.5  # a wait for a row to end this long looks at every row out
RESULTS_BACKLOG = 32 << 20  # characters of results.csv lines held behind a row still out


class SendLoop:
    """Hands the rows of planned chunks to the sending threads and tallies how they end.

    Rejected and unchanged rows end here; the others are sent by the threads,
    at most ``limit`` waiting or in flight at once.
    """

    def __init__(
        self, sender: Sender, tally: Tally, files: RunFiles, table: Table, workers: int,
        make_bar: ProgressFactory, memory: RejectMemory, concurrency: ConcurrencyLimit | None = None,
    ) -> None:  # fmt: skip
        self.sender, self.breaker = sender, sender.breaker
        self.tally, self.files, self.table = tally, files, table
        self.reading = make_bar("Reading", total=table.info.size, unit="B", position=0)
        self.sending = make_bar("Sending", total=None, unit="rows", position=1)
        # each row puts itself here when done: waiting for one costs the same
        # however many are out
        self.finished: queue.SimpleQueue[RowOut] = queue.SimpleQueue()
        # --workers bounds the requests in flight (the client's max_in_flight; with
        # auto, --max-workers does); a thread per place, and one more per row that
        # sits out a Retry-After or a backoff meanwhile
        self.threads = RowThreads(
            sender.send, self.finished, places=self._places, most=workers * THREADS_PER_WORKER,
            # None from a client sending from other processes: it cannot see their waits
            waiting=getattr(sender.client, "waiting_retries", None), settle=sender.settled,
        )  # fmt: skip
        # the rows out, to be settled; the raw cells are read only if the row fails
        self.inflight: set[RowOut] = set()
        # rows out (queued for a thread or being sent): enough to keep the threads
        # busy while this thread plans the next chunk
        self.limit = max(workers * 8, 256)
        self.workers = workers
        self.read_so_far = 0
        self.read_to_end = False
        self.interrupt: KeyboardInterrupt | None = None  # Ctrl-C or SIGTERM, once it came
        self.memory = memory  # tells rejects an earlier run reported from new ones
        self.keys = FileKeys()  # what is in the file, to tell what vanished from it
        self.log_rows = run_log.enabled()
        self.concurrency = concurrency  # --workers auto: its limit now is shown as workers=

    def run(self, chunks: PlannedPieces) -> None:
        """Send every chunk, then wait for the rows in flight; a stop ends it early."""
        try:
            with terminate_stops():  # SIGTERM stops the run as Ctrl-C does
                self.read_to_end = self.keys.complete = self._send_chunks(chunks)
                self._drain()
                self._end_unreached(chunks)
        except (KeyboardInterrupt, LedgerWriteError) as exc:
            # a ledger write of this thread failed (refresh, remembered rejects):
            # the run stops as when a worker's does
            if isinstance(exc, LedgerWriteError):
                self.breaker.halt(exc)
            else:
                self.interrupt = exc
                self.breaker.interrupt(stop_reason(exc))
            self._drain()
            self._end_unreached(chunks)
        finally:
            self.threads.shutdown()
            self.reading.close()
            self.sending.close()
            self.files.close()

    def _send_chunks(self, chunks: PlannedPieces) -> bool:
        """Send chunk after chunk; returns whether the file was read to its end."""
        for planned in chunks:
            self._send_chunk(planned)
            if self.breaker.stop.is_set():
                # stopped (auth, breaker): the rest of the file is left for the
                # next run, unplanned, so a refused run ends at once on any size
                return False
        return True

    def _end_unreached(self, pieces: PlannedPieces) -> None:
        """The run stopped: the rows it never handed out, or never planned, end not sent."""
        if not self.read_to_end:
            self.tally.leads[Outcome.NOT_SENT] += self.files.results.end_unreached(
                pieces.unreached()
            )

    def _send_chunk(self, planned: PlannedChunk) -> None:
        while self.files.results.backlog > RESULTS_BACKLOG and self.inflight:
            # an early row is still out: wait for it rather than hold more lines in memory
            self._settle(self._next_done())
        self.files.results.chunk(planned)  # the plan ended its rejected and unchanged rows
        self.tally.leads[Outcome.UNCHANGED] += planned.actions.count(Outcome.UNCHANGED)
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
        self.files.results.handed_out(planned)
        self.sending.advance(quiet_rows)
        if self.inflight:
            self._settle(self._done_so_far())

    def _reject_rows(self, planned: PlannedChunk) -> int:
        """List the rows the plan rejected; returns how many."""
        rejected = [i for i, a in enumerate(planned.actions) if a is Outcome.REJECT]
        self.tally.leads[Outcome.REJECT] += len(rejected)
        for i, cells in zip(rejected, planned.cells_at(rejected), strict=True):
            issue = planned.issue(planned.rows[i])
            self.tally.rejects.add_row(issue.row, issue.problems)
            self.files.rejects.reject(cells, issue)
        self._count_rejects(planned.rejects_at(rejected))
        return len(rejected)

    def _send_row(self, planned: PlannedChunk, position: int) -> int:
        """Hand one row to the threads, unless it needs no request; returns 1 if it ended here."""
        action = planned.actions[position]
        if action is Outcome.REJECT:
            return 0
        plan = planned.plans.get(planned.rows[position])
        if action is Outcome.UNCHANGED:
            if plan is not None:
                if plan.refresh:
                    self.sender.refresh(plan)
                self.tally.activities["unchanged"] += plan.activities_unchanged
            return 1  # counted with its chunk
        assert plan is not None
        if self.breaker.stop.is_set():
            unsent = SendOutcome(plan, Outcome.NOT_SENT, activities_not_sent=len(plan.activities))
            self.tally.add(unsent, lambda: [], self.files)
            self.files.results.ended(planned, position, unsent)
            return 0
        while len(self.inflight) >= self.limit:
            self._settle(self._next_done())
        row = RowOut(planned, position, plan)
        self.inflight.add(row)
        self.threads.submit(row)
        return 0

    def _places(self) -> int:
        """How many requests may be in flight now: --workers, or the limit of --workers auto."""
        return self.workers if self.concurrency is None else self.concurrency.limit

    def _next_done(self) -> list[RowOut]:
        """Wait for a row out to end; returns it with every other one that ended meanwhile.

        After a quiet while it also looks at every row out: a Ctrl-C or SIGTERM
        between taking a row's notice and settling it loses that notice, and
        the row must still be settled.
        """
        try:
            first = self.finished.get(timeout=RESCAN_S)
        except queue.Empty:
            # every thread may be sitting out a retry: start one for the rows queued
            self.threads.grow()
            return [row for row in self.inflight if row.done]
        return [first, *self._done_so_far()]

    def _done_so_far(self) -> list[RowOut]:
        done = []
        while not self.finished.empty():
            done.append(self.finished.get_nowait())
        return done

    def _settle(self, done: list[RowOut]) -> None:
        refused = []  # rows the API refused: known or new rejects
        done = [row for row in done if row in self.inflight]  # not settled already
        for row in done:
            self.inflight.discard(row)
            planned, position = row.planned, row.position
            outcome = row.result()
            self.tally.add(outcome, partial(planned.cells, position), self.files)
            self.files.results.ended(planned, position, outcome)
            if outcome.result is Outcome.REJECT:
                digest = planned.digests[position] if planned.digests else None
                refused.append((digest, outcome.plan.key, outcome.problems))
        self._count_rejects(refused)
        self.sending.advance(len(done))
        if self.concurrency is None:
            self.sending.counts(**self.tally.live())
        else:
            self.sending.counts(workers=self.concurrency.limit, **self.tally.live())

    def _count_rejects(self, rejects: list[tuple[str | None, str, list[Problem]]]) -> None:
        """Known or new; a failed ledger write (of the new ones) stops the run as a worker's does."""
        try:
            self.memory.count(rejects)
        except LedgerWriteError as exc:
            self.breaker.halt(exc)

    def _drain(self) -> None:
        while self.inflight:
            self._settle(self._next_done())
