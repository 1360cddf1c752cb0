"""Checking big files on several cores during a dry run.

Mapping and validating a chunk is pure Python work that one core cannot
share, so ``rg-import plan`` checks each chunk in a forked child process. A
forked child sees the chunk the parent just read without copying or pickling
it; only the small result (keys, lead ids, problems) comes back through a
pipe. The parent keeps reading the next chunk meanwhile, and concludes the
chunks in file order, since duplicate keys are judged across the whole file.

Where ``fork`` is not available, or a child fails in any way, the chunk is
simply checked in the parent, so the outcome never depends on this module.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import pandas as pd

from importer.plan import Checked, PlannedChunk, Planner

# Below this many rows a chunk is checked in place: forking would cost more.
MIN_PARALLEL_ROWS = 5_000
WARM_UP_ROWS = 200


def default_processes() -> int:
    """Checking processes to use: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def planned_chunks(
    planner: Planner, frames: Iterable[pd.DataFrame], *, processes: int | None = None
) -> Iterator[PlannedChunk]:
    """``planner.plan_chunk`` over ``frames``, with the checking spread over processes.

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
    if not parallel:
        for frame in frames:
            yield planner.plan_chunk(frame)
        return
    context = multiprocessing.get_context("fork")
    pending: deque[tuple[pd.DataFrame, Any, Connection | None]] = deque()
    warmed = False
    try:
        for frame in frames:
            if len(frame) < MIN_PARALLEL_ROWS:
                pending.append((frame, None, None))
            else:
                if not warmed:
                    # First calls import pandera, build the schemas and compile
                    # patterns (a quarter of a second): done once here, before
                    # the first fork, every child inherits them ready.
                    planner.check(frame.iloc[:WARM_UP_ROWS])
                    warmed = True
                # objects alive now are never collected in a child: keep the
                # collector off the shared pages (copy-on-write stays cheap)
                gc.freeze()
                receiver, sender = context.Pipe(duplex=False)
                child = context.Process(
                    target=_check_in_child, args=(planner, frame, sender), daemon=True
                )
                child.start()
                sender.close()
                pending.append((frame, child, receiver))
            # one chunk more than there are workers: this process reads the next
            # chunk while the children check theirs
            while len(pending) > workers:
                yield _conclude(planner, *pending.popleft())
        while pending:
            yield _conclude(planner, *pending.popleft())
    finally:
        gc.unfreeze()
        for _, child, leftover in pending:
            if leftover is not None:
                leftover.close()
            if child is not None:
                child.terminate()
                child.join()


def _check_in_child(planner: Planner, frame: pd.DataFrame, sender: Connection) -> None:
    # A short-lived child: collecting garbage would only walk (and so copy) the
    # memory it shares with the parent.
    gc.disable()
    try:
        sender.send(planner.check(frame))
    except BaseException:
        sender.send(None)
    finally:
        sender.close()


def _conclude(
    planner: Planner, frame: pd.DataFrame, child: Any, receiver: Connection | None
) -> PlannedChunk:
    checked: Checked | None = None
    if receiver is not None:
        try:
            checked = receiver.recv()
        except (EOFError, OSError):
            checked = None  # the child died; fall back to checking here
        finally:
            receiver.close()
            child.join()
    if checked is None:
        checked = planner.check(frame)
    return planner.conclude(frame, checked)
