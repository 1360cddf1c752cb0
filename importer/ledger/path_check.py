"""Whether a run could use a ledger path, found without writing anything.

``rg-import jobs check`` asks this of every job's ledger: the same checks a
run makes when it opens the file (a regular file, an rg-import ledger of the
schema version this code reads), or, for a file not made yet, a folder a run
can create it in. The file is read as immutable, so SQLite makes no ``-wal``
or ``-shm`` file beside it. A PostgreSQL ledger (a ``postgresql://`` URL) is
checked by connecting to it read-only.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from importer.errors import LedgerError, LedgerLocked, LedgerMissing
from importer.ledger.locking import lock_holder, refuse_not_regular
from importer.ledger.schema import BASE_TABLES, SCHEMA_VERSION
from importer.ledger.spec import LedgerSpec


def check_ledger_path(path: LedgerSpec) -> None:
    """Raise LedgerError saying why a run could not use the ledger at ``path``.

    For a ``postgresql://`` URL: connect, and read the schema version of the
    ledger there, if one is there yet (read-only: nothing is created).
    """
    if not isinstance(path, Path):
        _check_database(path)
        return
    real = os.path.realpath(path)
    folder = os.path.dirname(real)
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        if not os.path.isdir(folder):
            raise LedgerError(
                f"ledger {path}: its folder {folder} does not exist; create it first"
            ) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise LedgerError(
                f"ledger {path}: a run cannot create it, {folder} is not writable"
            ) from None
        return
    except OSError as exc:
        raise LedgerError(f"cannot open the ledger {path}: {exc.strerror}") from None
    refuse_not_regular(str(path), real, mode)
    if not os.access(real, os.R_OK | os.W_OK) or not os.access(folder, os.W_OK | os.X_OK):
        raise LedgerError(
            f"ledger {path} is not writable (a run writes it, and its lock file beside it); "
            "check the permissions"
        )
    _check_schema(path, real)


def check_ledger_free(path: LedgerSpec) -> None:
    """Raise LedgerLocked naming the run that holds the ledger at ``path``, if one does.

    Runs share a PostgreSQL ledger: none holds it.
    """
    if not isinstance(path, Path):
        return
    holder = lock_holder(os.path.realpath(path))
    if holder is not None:
        raise LedgerLocked(
            f"ledger {path} is in use by a run ({holder}); wait for it to finish, "
            "or use --ledger to pick another file"
        )


def _check_database(url: str) -> None:
    from importer.ledger.ledger import open_store

    try:
        open_store(url, run_id="check", readonly=True).close()
    except LedgerMissing:
        return  # an empty database: a run makes the tables


def _check_schema(path: Path, real: str) -> None:
    uri = Path(real).as_uri() + "?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if not tables:
                return  # an empty file: a run makes the tables
            if not tables >= BASE_TABLES:
                raise LedgerError(
                    f"{path} is not an rg-import ledger (it has tables {', '.join(sorted(tables))})"
                    "; move it away, or pick another ledger"
                )
            version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise LedgerError(
            f"{path} is not an rg-import ledger ({exc}); move it away, or pick another ledger"
        ) from None
    if version != SCHEMA_VERSION:
        raise LedgerError(
            f"ledger {path} has schema version {version}, this rg-import reads version "
            f"{SCHEMA_VERSION}; use the rg-import version that wrote it"
        )
