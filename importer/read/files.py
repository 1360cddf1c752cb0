"""Opening an input file for the reading stage: every OS-level failure as one InputError line.

The reader opens its input several times (to sniff it, hash it, then read it),
so a pipe or device is refused here: ``importer.read.spool`` copies such an
input to a file first.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from importer.errors import InputError


def open_binary(path: str) -> BinaryIO:
    """Open ``path`` for reading bytes; raises InputError for every OS-level failure."""
    if os.path.isdir(path):
        raise InputError(
            "is a directory, not a file; pass the path of a CSV or XLSX file", path=path
        )
    if _is_stream(path):
        # a pipe or device yields its bytes once, and the reader opens its input several
        # times: the second look would find nothing (0 rows) or block (a FIFO)
        raise InputError(
            "is a pipe or device, not a regular file; save it to a file first, "
            "or let the rg-import command read it (it copies such an input once)",
            path=path,
        )
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError("no such file; check the path", path=path) from None
    except PermissionError:
        raise InputError(
            "cannot be read (permission denied); check the file's permissions", path=path
        ) from None
    except OSError as exc:
        raise InputError(
            f"cannot be opened ({exc.strerror or exc}); check the path", path=path
        ) from None


def _is_stream(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False  # open() reports it in its own words
    return not stat.S_ISREG(mode)
