"""Keeping a ledger file to one run: refusing paths that are no regular file, the run
lock file naming its holder, and the lock on the database file itself.

``importer.ledger.store`` takes both locks on the resolved path before opening
the file for writing, so every name of one file (a symlink, a relative path, a
hard link) meets the same locks.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import struct
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from importer.errors import LedgerError, LedgerLocked

PRIVATE_MODE = 0o600  # the ledger holds personal data
LOCK_POLL_S = 0.25  # how often a run waiting for the ledger (--wait) tries its lock again

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def refuse_not_regular(path: str, resolved: str, mode: int) -> None:
    """Raise LedgerError unless ``mode`` is a regular file's (a ledger must be one)."""
    if stat.S_ISREG(mode):
        return
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a file")
    shown = path if resolved == os.path.abspath(path) else f"{path} (which is {resolved})"
    raise LedgerError(
        f"ledger {shown} is {what}, not a regular file; "
        "give --ledger the path of a file (a run creates it if missing)"
    )


# One byte locked in the database file itself. SQLite locks bytes from 1 GiB
# on (PENDING_BYTE, RESERVED_BYTE and 510 SHARED bytes); locks are advisory, so
# a byte far beyond those never meets SQLite's own locks or its data.
_INODE_LOCK_BYTE = 1 << 40


def lock_inode(fd: int) -> bool:
    """Lock the open file itself, whatever its name; False if another run holds it.

    An open-file-description lock (Linux) belongs to this descriptor, not to
    the process: SQLite closing its own descriptors of the file cannot drop it,
    and a second open in the same process is refused like another process.
    Elsewhere, or where the file system cannot lock, the lock file alone holds.
    """
    if not hasattr(fcntl, "F_OFD_SETLK"):
        return True
    # struct flock: l_type, l_whence, l_start, l_len, l_pid (must be 0), padding
    spec = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, _INODE_LOCK_BYTE, 1, 0)
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, spec)
    except OSError as exc:
        return not isinstance(exc, BlockingIOError) and exc.errno != errno.EACCES
    return True


class RunLock:
    """An exclusive ``flock`` on ``<db_path>.lock`` naming its holder.

    ``db_path`` is the resolved path, so every name of one file meets one lock.
    When another run holds it, ``wait`` seconds are spent waiting for it
    (polling, so Ctrl-C and SIGTERM end the wait at once; ``on_wait`` is told
    once whom it waits for), then LedgerLocked is raised.
    """

    def __init__(
        self, db_path: str, run_id: str, *, name: str, wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ):  # fmt: skip
        self.path = db_path + ".lock"
        try:
            # O_NOFOLLOW: a symlink planted as the lock file must not get its target truncated
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
            self._fd = os.open(self.path, flags, PRIVATE_MODE)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the ledger lock file {self.path}: {exc.strerror}; "
                "check that the directory exists and is writable"
            ) from None
        try:
            self._take(name, wait, on_wait)
        except BaseException:
            os.close(self._fd)
            raise
        with suppress(PermissionError):
            os.fchmod(self._fd, PRIVATE_MODE)
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps({"pid": os.getpid(), "run_id": run_id}).encode(), 0)

    def _take(self, name: str, wait: float, on_wait: Callable[[str], None] | None) -> None:
        """Lock, waiting up to ``wait`` seconds for another run to let go."""
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            except OSError as exc:
                raise LedgerError(f"cannot lock the ledger {name}: {exc.strerror}") from None
            held_by = _holder_text(_read_holder(self._fd))
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait:g} s" if wait else ""
                advice = "wait longer with --wait SECONDS" if wait else "or pass --wait SECONDS"
                raise LedgerLocked(
                    f"ledger {name} is in use by another run ({held_by}){waited}; "
                    f"try again when it has finished, {advice}, or use --ledger to pick another file"
                ) from None
            if on_wait is not None and not told:
                on_wait(
                    f"Waiting up to {wait:g} s for ledger {name}, in use by another run ({held_by})"
                )
                told = True
            time.sleep(min(LOCK_POLL_S, max(deadline - time.monotonic(), 0.0)))

    def release(self) -> None:
        """Forget the holder and unlock; the file stays so no other run's lock is orphaned."""
        with suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the only descriptor releases the flock


def lock_holder(db_path: str) -> str | None:
    """Which run holds the ledger at (resolved) ``db_path``: "pid N, run R", or None.

    Writes nothing: the lock file is opened read-only (a missing one means no
    run), and a shared lock is tried and let go at once. A run starting in
    that instant could find it taken and stop as if another run held it.
    """
    try:
        fd = os.open(db_path + ".lock", os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder_text(_read_holder(fd))
    except OSError:
        return None  # a file system that cannot lock: runs rely on the lock file alone there
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _holder_text(holder: dict[str, Any]) -> str:
    return f"pid {holder.get('pid', '?')}, run {holder.get('run_id', '?')}"
