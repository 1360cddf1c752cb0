"""Input that is not a regular file (``-``, /dev/stdin, a FIFO, ``<(…)``), read exactly once.

The reading stage opens its input several times (to sniff it, hash it, then
parse it from an offset), which a pipe cannot give: the second open of
/dev/stdin sees nothing left (0 rows, exit 0) and a FIFO blocks until a second
writer comes. So such an input is copied once into a private (0600) temporary
file, which the command reads instead and removes when it ends::

    with spooled_input(Path("-")) as source:
        plan(source.path, name=source.name)

A regular file (or a path that does not exist, for the reader to report) is
used as it is, without a copy.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from importer.errors import ImporterError, InputError, terminate_stops

STDIN = "-"


@dataclass(frozen=True)
class Source:
    """The file to read (``path``) and the name to show for it (what was typed; "standard input" for ``-``)."""

    path: Path
    name: str

    @property
    def spooled(self) -> bool:
        return str(self.path) != self.name


def needs_spooling(path: Path) -> bool:
    """True for ``-`` and for anything that exists but is neither a regular file nor a directory."""
    if str(path) == STDIN:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # missing or unreadable: the reader says so in its own words
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextmanager
def spooled_input(path: Path) -> Iterator[Source]:
    """``path`` as a regular file the reader can open as often as it likes.

    Raises InputError when standard input is a terminal (nothing was piped in)
    or when the copy fails (e.g. the temporary directory is full). An error
    raised inside the block names the input as typed, not the temporary copy.
    """
    name = "standard input" if str(path) == STDIN else str(path)
    if not needs_spooling(path):
        yield Source(path, name)
        return
    if str(path) == STDIN and sys.stdin is not None and sys.stdin.isatty():
        raise InputError(
            "standard input is a terminal, not a file; pipe the export in "
            "(cat export.csv | rg-import plan -) or pass its path"
        )
    fd, copy = tempfile.mkstemp(prefix="rg-import-input-")  # 0600, in a fresh name
    try:
        # SIGTERM raises Terminated meanwhile, so the copy is removed
        with terminate_stops():
            with os.fdopen(fd, "wb") as sink:
                _copy(path, sink)
            try:
                yield Source(Path(copy), name)
            except ImporterError as exc:
                # the one-line message names the input as typed, not the copy
                if copy in str(exc):
                    exc.args = (str(exc).replace(copy, name),)
                raise
    finally:
        os.unlink(copy)


def _copy(path: Path, sink: BinaryIO) -> None:
    """Copy ``path`` (``-``: standard input) into ``sink``; one pass, opened once."""
    name = str(path)
    try:
        if name == STDIN:
            name = "standard input"
            shutil.copyfileobj(sys.stdin.buffer, sink, 1 << 20)
        else:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, sink, 1 << 20)
        sink.flush()
    except OSError as exc:
        raise InputError(
            f"cannot be copied to a temporary file ({exc.strerror or exc}); "
            "save it to a file first and pass that file's path (or set TMPDIR to a roomier folder)",
            path=name,
        ) from None
