"""Checking big files on several cores during a dry run.

Parsing, mapping and validating rows is Python work that one core cannot
share, so ``rg-import plan`` checks each piece of the file in a forked child
process. A forked child sees what the parent holds without copying or
pickling it: a block of raw records (``Table.pieces``), which the child
parses itself, or a chunk the parent parsed (files the parser must read as a
whole). Only the small result (rows, keys, lead ids, problems, output lines)
comes back through a pipe. The parent concludes the pieces in file order,
since duplicate keys are judged across the whole file, and reads the cells of
rejected rows again from the block it kept. In a small file (a piece per
worker and one more) the parent checks the last piece itself while the
children check theirs.

Where ``fork`` is not available, or a child fails in any way, the piece is
simply checked in the parent, so the outcome never depends on this module
(and a file that cannot be read fails with the parent's own error).
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

import pandas as pd

from importer.plan.formatted import Formatted
from importer.plan.plan_csv import format_chunk
from importer.plan.planner import Planner
from importer.plan.rows import Checked, PlannedChunk
from importer.read.records import RecordBlock
from importer.read.table import Table

if TYPE_CHECKING:
    # (no ForkContext where fork is not available: for types only)
    from multiprocessing.context import ForkContext

# Below this many rows a piece is checked in place: forking would cost more.
MIN_PARALLEL_ROWS = 5_000

Piece = RecordBlock | pd.DataFrame


def default_processes() -> int:
    """Checking processes to use: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def planned_chunks(
    planner: Planner, table: Table, *, processes: int | None = None
) -> Iterator[PlannedChunk]:
    """``planner.plan_piece`` over ``table.pieces()``, with the checking spread over processes.

    Only dry runs without a ledger are spread (the ledger's SQLite connection
    must not cross a fork); others are planned in this process.
    """
    workers = default_processes() if processes is None else processes
    parallel = (
        workers > 1
        and hasattr(os, "fork")
        and planner.ledger is None
        and not planner.payloads_needed
    )
    # pieces the size of chunks, the file split evenly between them
    pieces = table.pieces(even=parallel)
    if not parallel:
        for piece in pieces:
            yield planner.plan_piece(table, piece)
        return
    context = multiprocessing.get_context("fork")
    pending: deque[_Job] = deque()
    warmed = False
    try:
        for piece in pieces:
            if not warmed and len(piece) >= MIN_PARALLEL_ROWS:
                _warm_up()
                warmed = True
            _await_a_free_worker(table, pending, workers)
            pending.append(_started(planner, table, piece, pending, workers, context))
            # one piece more than there are workers: this process cuts the next
            # piece (or, in a small file, checks it) while the children check
            # theirs, and concludes the first in line once it is in
            while len(pending) > workers:
                yield _conclude(planner, table, _next_done(pending))
        while pending:
            yield _conclude(planner, table, _next_done(pending))
    finally:
        gc.unfreeze()
        for job in pending:
            job.abandon()


def _warm_up() -> None:
    """pandera's import and the schemas (a fifth of a second): done once here,
    before the first fork, every child inherits them. Checking a few rows here
    would warm a little more but costs more: each check has a fixed cost of
    about 0.05 s."""
    from importer.validate.chunk import prepare

    prepare()


def _await_a_free_worker(table: Table, pending: deque[_Job], workers: int) -> None:
    """In a big file, wait until fewer than ``workers`` children are checking.

    A child's piece, parsed and checked, is its own memory (about 100 MB for
    33,000 rows), and one more child than there are cores only shares the same
    cores: with ``workers`` + 1 children at once, the tree of a 1,000,000-row
    plan peaked at 1.6 times the PSS of a 100,000-row one. The result that
    frees a worker is taken in here; it is concluded, in file order, as before.
    A small file (a piece per worker and one more) keeps its last piece for
    this process to check while the children check theirs (``_started``).
    """
    if _few_pieces(table, workers):
        return
    while sum(job.running for job in pending) >= workers and _take_in_arrived(pending):
        pass


def _few_pieces(table: Table, workers: int) -> bool:
    """A small file: a piece per worker and one more (known once the first piece is cut)."""
    return table.even_pieces is not None and table.even_pieces <= workers + 1


def _take_in_arrived(pending: deque[_Job]) -> bool:
    """Wait for a result of a child still checking and take in every one that is
    in; False when no child is checking."""
    waiting = {job.receiver: job for job in pending if job.running and job.receiver}
    if not waiting:
        return False
    for ready in wait(list(waiting)):
        waiting[ready].receive()  # type: ignore[index]
    return True


def _started(
    planner: Planner,
    table: Table,
    piece: Piece,
    pending: deque[_Job],
    workers: int,
    context: ForkContext,
) -> _Job:
    """The job of ``piece``: a small piece is left to ``_conclude`` to check
    here; a big one is checked in a forked child, or here at once (see below)."""
    if len(piece) < MIN_PARALLEL_ROWS:
        return _Job(piece)
    if _few_pieces(table, workers) and sum(job.running for job in pending) >= workers:
        # A small file (a piece per worker, and one more): with every
        # worker busy, this process checks the last piece itself,
        # sparing a fork (its page copies) and the trip of a result
        # through a pipe, ~3% of the run. Not in bigger files: piece
        # after piece checked here would fragment this process's
        # memory, already the largest (it keeps the whole file's
        # keys), by ~15% for the same ~3%.
        result = _checked_here(planner, table, piece)
        return _Job(piece, result=result, received=True)
    # objects alive now are never collected in a child: keep the
    # collector off the shared pages (copy-on-write stays cheap)
    gc.freeze()
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(
        target=_check_in_child, args=(planner, table, piece, sender), daemon=True
    )
    child.start()
    sender.close()
    return _Job(piece, child, receiver)


@dataclass
class _Job:
    """A piece and the child checking it; ``result`` once received (None: check here)."""

    piece: Piece
    child: Any = None
    receiver: Connection | None = None
    result: tuple[list[int], Checked, Formatted] | None = None
    received: bool = False

    @property
    def running(self) -> bool:
        """A child is (or was) checking the piece and its result is not in yet."""
        return self.child is not None and not self.received

    def receive(self) -> None:
        if self.received:
            return
        self.received = True
        if self.receiver is None:
            return
        try:
            self.result = self.receiver.recv()
        except (EOFError, OSError):
            self.result = None  # the child died; the piece is checked here instead
        finally:
            self.receiver.close()
            self.child.join()

    def abandon(self) -> None:
        if self.receiver is not None and not self.received:
            self.receiver.close()
        if self.child is not None and not self.received:
            self.child.terminate()
            self.child.join()


def _next_done(pending: deque[_Job]) -> _Job:
    """The first pending job, once its result is in; results of later jobs are
    taken in as they arrive meanwhile, so a child that finished early can exit
    and its result is not left to unpack at the very end."""
    head = pending[0]
    while not head.received and head.receiver is not None and _take_in_arrived(pending):
        pass
    head.receive()
    return pending.popleft()


def _checked(planner: Planner, table: Table, piece: Piece) -> tuple[list[int], Checked, Formatted]:
    """A piece's rows, checked, with their output lines (the concluding
    process only redoes those of rows it finds duplicated)."""
    frame = piece if isinstance(piece, pd.DataFrame) else table.parse(piece, count=False)
    checked = planner.check(frame)
    formatted = format_chunk(planner.unconcluded(frame, checked))
    # the lines show the mapped values: they need not travel to the concluding process
    shipped = dataclasses.replace(checked, leads=None, activity_rows=None)
    return frame.index.tolist(), shipped, formatted


def _checked_here(
    planner: Planner, table: Table, piece: Piece
) -> tuple[list[int], Checked, Formatted]:
    # The collector would walk the piece's many new objects several times for
    # nothing: they hold no cycles worth collecting before the piece is done.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _checked(planner, table, piece)
    finally:
        if enabled:
            gc.enable()


def _check_in_child(planner: Planner, table: Table, piece: Piece, sender: Connection) -> None:
    # A short-lived child: collecting garbage would only walk (and so copy) the
    # memory it shares with the parent.
    gc.disable()
    try:
        sender.send(_checked(planner, table, piece))
    except BaseException:
        sender.send(None)
    finally:
        sender.close()


def _conclude(planner: Planner, table: Table, job: _Job) -> PlannedChunk:
    piece, result = job.piece, job.result
    if result is None:  # checked here: errors in the rows surface as the parent's own
        return planner.plan_piece(table, piece)
    rows, checked, formatted = result
    if isinstance(piece, pd.DataFrame):
        planned = planner.conclude(piece, checked)
    else:
        table.count_dropped(len(piece) - len(rows))
        planned = planner.conclude(
            _EMPTY,
            checked,
            rows=rows,
            read_rows=lambda wanted: table.parse(piece, piece.positions(wanted), count=False),
        )
    planned.formatted = formatted
    return planned


_EMPTY = pd.DataFrame(index=pd.Index([], dtype="int64"))
