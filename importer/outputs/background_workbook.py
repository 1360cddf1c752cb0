"""rejects.xlsx filled in a forked process while rejects.csv is being written.

Writing the workbook is Python work of its own (openpyxl builds and
serialises every cell: some 0.4 s for 500 rejected rows of 40 columns),
and done after rejects.csv is closed it adds all of it to the command's
time. ``BackgroundWorkbook`` forks a process at the first rejected rows; it
imports openpyxl and adds each part of the rows to
``importer.outputs.reject_workbook.RejectBook`` while this process goes on
reading and writing, so on a machine with a second core the workbook is
mostly done by the time rejects.csv is. The rows travel as the very lines
written to rejects.csv and are parsed back there with the csv reader, as
reading the closed file would: the workbook is the same.

Where ``fork`` is not available, or the process fails in any way, ``finish``
says so and the caller writes the workbook itself from rejects.csv, so the
outcome never depends on this module.
"""

from __future__ import annotations

import atexit
import contextlib
import csv
import gc
import io
import multiprocessing
import os
from collections.abc import Iterable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from importer.models import Problem
from importer.outputs.csv_files import neutralise
from importer.outputs.problem_cells import ProblemCells

ABANDON_WAIT_S = 10.0  # how long an abandoned process may take to clean up and end


class BackgroundWorkbook:
    """rejects.xlsx at ``xlsx_path``, filled in another process as rows are given."""

    def __init__(self, xlsx_path: Path, header: Iterable[str], cells: ProblemCells):
        self.xlsx_path = xlsx_path
        # the header as rejects.csv has it (read back, the book takes the guards off)
        self._header = [neutralise(h) for h in header]
        self._cells = cells
        self._child: Any = None
        self._connection: Connection | None = None  # while the process fills the book
        self._given_up = not hasattr(os, "fork")

    def add(self, lines: Iterable[str], problems: dict[int, list[Problem]]) -> None:
        """Rows just written to rejects.csv (its lines, in order) and their problems."""
        text = "".join(lines)
        if self._given_up or not text:
            return
        try:
            if self._connection is None:
                self._start()
            assert self._connection is not None
            self._connection.send((text, problems))
        except (OSError, ValueError):
            self.abandon()  # the process is gone: the caller writes the workbook instead

    def finish(self) -> bool:
        """Wait for the workbook to be saved; False if it was not (none is left then)."""
        connection, self._connection = self._connection, None
        if connection is None or self._given_up:
            return False
        try:
            connection.send(None)  # no more rows
            saved = connection.recv() is True
        except (EOFError, OSError, ValueError):
            saved = False
        finally:
            atexit.unregister(self.abandon)
            connection.close()
            self._child.join()
        self._given_up = not saved
        if not saved:
            self._remove_partial()
        return saved

    def abandon(self) -> None:
        """Stop filling the workbook, and leave none (unless ``finish`` saved it)."""
        if self._given_up:
            return
        self._given_up = True
        connection, self._connection = self._connection, None
        if connection is not None:
            atexit.unregister(self.abandon)
            # the process sees the end of its rows and removes the sheets openpyxl
            # has streamed to temporary files (rows of personal data); killed at
            # once it would leave them behind, so only one that does not end is
            connection.close()
            self._child.join(timeout=ABANDON_WAIT_S)
            if self._child.is_alive():
                self._child.terminate()
                self._child.join()
            self._remove_partial()

    def _start(self) -> None:
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe(duplex=True)
        self._child = context.Process(
            target=_fill_in_child,
            args=(theirs, ours, self._header, self._cells, self.xlsx_path),
            daemon=True,
        )
        self._child.start()
        theirs.close()
        self._connection = ours
        # a command ending by an error before ``finish``: the process ends cleanly first
        # (multiprocessing's own handler, registered earlier so run later, would kill it)
        atexit.register(self.abandon)

    def _remove_partial(self) -> None:
        # (the process removes a half-written file itself, unless it was killed)
        if self.xlsx_path.exists():
            os.unlink(self.xlsx_path)


def _fill_in_child(
    connection: Connection, parents: Connection, header: list[str], cells: ProblemCells,
    xlsx_path: Path,
) -> None:  # fmt: skip
    # The parent's end, inherited: closed, so that the parent closing it is an end of rows here
    parents.close()
    # A short-lived child: collecting garbage would only walk (and so copy) the
    # memory it shares with the parent.
    gc.disable()
    try:
        _fill(connection, header, cells, xlsx_path)
        saved = True
    except BaseException:  # (stopped too): told as False, the parent decides
        saved = False
    with contextlib.suppress(OSError, ValueError):  # the parent may be gone
        connection.send(saved)
    connection.close()


def _fill(connection: Connection, header: list[str], cells: ProblemCells, xlsx_path: Path) -> None:
    from importer.outputs.reject_workbook import RejectBook

    book = RejectBook(header, cells)
    try:
        while (part := connection.recv()) is not None:
            text, problems = part
            book.add(csv.reader(io.StringIO(text, newline="")), problems)
    except BaseException:
        book.discard()
        raise
    book.save(xlsx_path)  # (removes what it wrote if it fails)
