"""``rg-import ledger backup``: a consistent copy of the ledger, made while no run uses it.

The copy is made with SQLite's online backup API from the ledger opened
read-only, while this process holds the ledger's run lock (so no run can
start meanwhile, and a run that holds it makes the backup refuse with the
lock's own message). It is written owner-only (0600: the ledger holds personal
data) under a temporary name, then linked to its name, so a backup that
failed half-way is never found under the name asked for, and nothing that is
already there is replaced.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from contextlib import suppress
from pathlib import Path

from importer.errors import ConfigError, LedgerError
from importer.ledger.ledger import Ledger
from importer.ledger.locking import PRIVATE_MODE, RunLock, lock_inode

BACKUP_RUN_ID = "backup"  # what the lock file names while a backup holds it


def backup_ledger(source: Path, target: Path) -> int:
    """Copy the ledger at ``source`` to the new file ``target``; returns its number of leads.

    Raises LedgerError when a run holds the ledger or it is no ledger, and
    ConfigError when ``target`` exists or cannot be written.
    """
    if os.path.lexists(target):
        raise ConfigError(f"{target} already exists; give the backup a new file name")
    real = os.path.realpath(source)
    lock = RunLock(real, BACKUP_RUN_ID, name=str(source))
    fd = -1
    try:
        fd = os.open(real, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        if not lock_inode(fd):
            raise LedgerError(
                f"ledger {source} is in use by another run under another name (a hard link "
                "to the same file); wait for it to finish"
            )
        with Ledger(source, run_id=BACKUP_RUN_ID, readonly=True) as book:
            leads = sum(book.counts()["leads"].values())
            _copy(book.store.connection(), target)
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger {source}: {exc.strerror}") from None
    finally:
        if fd >= 0:
            os.close(fd)
        lock.release()
    return leads


def _copy(conn: sqlite3.Connection, target: Path) -> None:
    """Back ``conn``'s database up into the new 0600 file ``target``."""
    temporary = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(temporary, flags, PRIVATE_MODE)
    except OSError as exc:
        raise ConfigError(f"cannot write the backup in {target.parent}: {exc.strerror}") from None
    try:
        os.fchmod(fd, PRIVATE_MODE)  # the umask may have taken the owner's bits
        os.close(fd)
        copy = sqlite3.connect(temporary)
        try:
            conn.backup(copy)
        finally:
            copy.close()
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        try:
            os.link(temporary, target)  # never replaces a file that appeared meanwhile
        except OSError as exc:
            raise ConfigError(f"cannot write the backup {target}: {exc.strerror}") from None
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with suppress(FileNotFoundError):
                os.unlink(f"{temporary}{suffix}")
