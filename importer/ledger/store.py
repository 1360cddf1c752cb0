"""The ledger's SQLite file: opening, checking, file modes, one transaction per call.

``LedgerStore`` opens (or creates) the file, checks that it is an rg-import
ledger of a schema version this code reads, brings an older one up to date
when opened for writing (tables and migrations in ``importer.ledger.schema``,
locks in ``importer.ledger.locking``), and gives
one short transaction per call to what builds on it: the write-ahead state
transitions (``importer.ledger.transitions``) and the lookups and listings
(``importer.ledger.queries``), which ``importer.ledger.ledger.Ledger`` joins.

Concurrency: one connection shared by the sender's worker threads, guarded by
a lock, one short transaction per call, WAL journal with ``synchronous=NORMAL``.
The transitions commit the writes of threads that write at the same moment in
one such transaction (``importer.ledger.group_commit``).
That survives a crash of the process; after a power loss the last few commits
may be lost. A second *run* cannot share the file, whatever name it uses for
it (a symlink, a relative path, a hard link): unless opened ``readonly`` the
store takes an exclusive ``flock`` on ``<real path>.lock`` (symlinks resolved),
which names the holder, and on Linux also locks the database file itself (an
open-file-description lock on one byte SQLite never locks), which every hard
link meets. Before each write it checks that its path still names the file it
opened: a ledger deleted or replaced during a run raises ``LedgerGone``
instead of writing into a file nobody will read again.

The file holds personal data, so it is created mode 0600 (SQLite gives the
``-wal`` and ``-shm`` files the database's mode). It never holds credentials.

Payloads are stored as canonical JSON (``canonical_json``) next to their
SHA-256 (``payload_hash``), and lead ids as lower-case dashed UUID text
(``normalize_lead_id``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from importer.errors import LedgerError, LedgerGone, LedgerLocked, LedgerMissing, LedgerWriteError
from importer.ledger.locking import PRIVATE_MODE, RunLock, lock_inode, refuse_not_regular
from importer.ledger.schema import (
    ADDED_TABLES,
    ADDITIONS,
    BASE_TABLES,
    MIGRATED_TABLES,
    MIGRATIONS,
    SCHEMA,
    SCHEMA_VERSION,
)


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The one JSON text of ``payload`` that hashing and storage use.

    Raises ValueError for NaN or infinity (they are not JSON, and a request
    carrying them could not be sent) and TypeError for non-JSON values.
    """
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def payload_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of ``payload`` (UTF-8).

    Equal for equal mappings whatever their key order. The format is stored
    in every ledger, so changing it would make every row look changed.
    """
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def normalize_lead_id(lead_id: str) -> str:
    """``lead_id`` as lower-case dashed UUID text; raises ValueError if it is no UUID."""
    try:
        return str(uuid.UUID(str(lead_id)))
    except ValueError:
        raise ValueError(f"lead id {lead_id!r} is not a UUID") from None


def _disk_full(exc: sqlite3.Error) -> bool:
    """Whether SQLite failed because the disk (or the file's size limit) is full."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    elif moment.tzinfo is not UTC:  # the clock's own time is UTC already
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LedgerStore:
    """The ledger file at ``path``, opened for the run ``run_id``.

    ``importer.ledger.postgres.PostgresStore`` offers the same to runs sharing
    one PostgreSQL database; the transitions and queries run the same SQL on both.

    Creates the file and its schema when missing. Raises LedgerError when
    another run holds the file, when it is not an rg-import ledger, or when it
    cannot be opened (LedgerLocked when another run holds it, after waiting
    ``wait`` seconds for it; see ``RunLock``). ``readonly=True`` (for reports
    and plans) takes no lock, creates nothing and refuses writes. ``clock``
    returns the current time.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        run_id: str,
        readonly: bool = False,
        clock: Callable[[], datetime] = utc_now,
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ):
        if sqlite3.sqlite_version_info < (3, 24, 0):
            raise LedgerError(
                f"SQLite {sqlite3.sqlite_version} is too old for the ledger (3.24 or newer "
                "needed); use a Python built with a newer SQLite"
            )
        self.path = os.fspath(path)
        self.run_id = run_id
        self.readonly = readonly
        self._clock = clock
        self._lock = threading.Lock()
        self._file_lock: RunLock | None = None
        self._conn: sqlite3.Connection | None = None
        self._fd: int | None = None  # the database file, held open for its inode lock
        self._identity: tuple[int, int] | None = None  # (device, inode) of the file opened
        self.real_path = self.path
        self.tables: frozenset[str] = frozenset()  # the file's tables, known once open
        # the file's schema version once open: older than SCHEMA_VERSION only when read-only
        self.version = SCHEMA_VERSION
        try:
            self._open(wait, on_wait)
        except BaseException:
            self.close()
            raise

    def _open(self, wait: float, on_wait: Callable[[str], None] | None) -> None:
        # The lock and the files SQLite writes belong to the file, not to the name given.
        self.real_path = os.path.realpath(self.path)
        try:
            refuse_not_regular(self.path, self.real_path, os.stat(self.real_path).st_mode)
        except FileNotFoundError:
            if self.readonly:
                raise LedgerMissing(
                    f"no ledger at {self.path}: a run creates it; check the path or --ledger"
                ) from None
        except OSError as exc:
            raise LedgerError(f"cannot open the ledger {self.path}: {exc.strerror}") from None
        if self.readonly:
            target, uri = Path(self.real_path).as_uri() + "?mode=ro", True
        else:
            self._file_lock = RunLock(
                self.real_path, self.run_id, name=self.path, wait=wait, on_wait=on_wait
            )
            self._hold_file()
            target, uri = self.real_path, False
        try:
            self._conn = sqlite3.connect(
                target, uri=uri, isolation_level=None, check_same_thread=False, timeout=30
            )
            tables = {
                row[0]
                for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            if tables or self.readonly:
                self._check_schema(tables)
            if not self.readonly:
                self._prepare(create=not tables)
                tables |= BASE_TABLES | ADDED_TABLES | MIGRATED_TABLES
            # a read-only ledger written by an earlier rg-import may lack the added tables
            self.tables = frozenset(tables)
        except sqlite3.OperationalError as exc:
            raise LedgerError(
                f"cannot open the ledger {self.path} ({exc}); check its permissions and free space"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise self._not_a_ledger(str(exc)) from None

    def _hold_file(self) -> None:
        """Create the database file if missing, lock it and remember which file it is.

        O_NOFOLLOW: the path is resolved, so a symlink here was planted after
        resolving; the descriptor is checked again because the path was only
        looked at before opening.
        """
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            self._fd = os.open(self.real_path, flags, PRIVATE_MODE)
        except OSError as exc:
            raise LedgerError(f"cannot create the ledger {self.path}: {exc.strerror}") from None
        found = os.fstat(self._fd)
        refuse_not_regular(self.path, self.real_path, found.st_mode)
        if not lock_inode(self._fd):
            raise LedgerLocked(
                f"ledger {self.path} is in use by another run under another name (a hard link "
                "to the same file); wait for it to finish, or use --ledger to pick another file"
            )
        self._identity = (found.st_dev, found.st_ino)

    def _check_still_there(self) -> None:
        """Raise LedgerGone if the ledger's path no longer names the file this run opened."""
        try:
            now = os.stat(self.path)
        except FileNotFoundError:
            raise LedgerGone(
                f"the ledger {self.path} was deleted during the run", path=self.path
            ) from None
        except OSError:
            return  # cannot look (a permission changed): SQLite reports real write errors
        if (now.st_dev, now.st_ino) != self._identity:
            raise LedgerGone(
                f"the ledger {self.path} was replaced by another file during the run",
                path=self.path,
            )

    def _prepare(self, *, create: bool) -> None:
        """Make the files private, switch to WAL and create the schema if ``create``."""
        conn = self.connection()
        for suffix in ("", "-wal", "-shm"):  # tighten files an older or laxer tool left
            with suppress(FileNotFoundError, PermissionError):
                os.chmod(self.real_path + suffix, PRIVATE_MODE)
        journal = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if journal != "wal":
            raise LedgerError(
                f"ledger {self.path} cannot use SQLite's WAL journal (got {journal!r}); "
                "put it on a local disk with --ledger"
            )
        conn.execute("PRAGMA synchronous=NORMAL")
        with self.transaction() as tx:
            if create:
                for statement in SCHEMA:
                    tx.execute(statement)
                tx.execute("INSERT INTO schema_version VALUES (?, ?)", (SCHEMA_VERSION, self.now()))
            for statement in ADDITIONS:
                tx.execute(statement)
            self._migrate(tx)

    def _migrate(self, tx: sqlite3.Connection) -> None:
        """Bring a ledger of an older schema version up to ``SCHEMA_VERSION`` (in ``tx``)."""
        for version in range(self.version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                tx.execute(statement)
            tx.execute("INSERT INTO schema_version VALUES (?, ?)", (version, self.now()))
        self.version = SCHEMA_VERSION

    def _not_a_ledger(self, why: str) -> LedgerError:
        return LedgerError(
            f"{self.path} is not an rg-import ledger ({why}); move it away, "
            "or use --ledger to pick another file"
        )

    def _check_schema(self, tables: set[str]) -> None:
        if not tables >= BASE_TABLES:
            found = "tables " + ", ".join(sorted(tables)) if tables else "no tables"
            raise self._not_a_ledger(f"it has {found}")
        version = self.connection().execute("SELECT max(version) FROM schema_version").fetchone()[0]
        if not isinstance(version, int) or not 1 <= version <= SCHEMA_VERSION:
            raise LedgerError(
                f"ledger {self.path} has schema version {version}, this rg-import reads "
                f"versions 1 to {SCHEMA_VERSION}; use the rg-import version that wrote it"
            )
        # an older version is read as it is, and brought up to date by a run (``_migrate``)
        self.version = version

    def close(self) -> None:
        """Close the database and release the run lock; safe to call twice."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        if self._fd is not None:
            os.close(self._fd)  # releases the lock on the file itself
            self._fd = None
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what the transitions and queries build on ------------------------------

    # what a statement breaking a unique index raises (the lead id's)
    integrity_error: type[Exception] = sqlite3.IntegrityError
    # whether other runs may write this ledger while this one does (never: the run lock)
    shared = False

    def abandoned(self, table: str) -> str:
        """SQL narrowing ``state = 'sending'`` rows of ``table`` to those no live run sends.

        Nothing here: while this run holds the file, no other run sends.
        """
        return ""

    def now(self) -> str:
        """The clock's time as the ledger stores it (``_iso``)."""
        return _iso(self._clock())

    def connection(self) -> sqlite3.Connection:
        """The open connection; LedgerError once closed. Share it only under the lock."""
        if self._conn is None:
            raise LedgerError(f"ledger {self.path} is closed")
        return self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the thread lock; committed before it returns.

        Raises LedgerGone before writing if the file was deleted or replaced,
        and LedgerWriteError when SQLite cannot write (``disk_full`` for SQLITE_FULL).
        """
        if self.readonly:
            raise LedgerError(f"ledger {self.path} was opened read-only")
        with self._lock:
            conn = self.connection()
            self._check_still_there()
            try:
                conn.execute("BEGIN IMMEDIATE")
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):  # SQLite may have rolled back already
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise LedgerWriteError(
                        f"cannot write the ledger {self.path} ({exc}); check free disk space "
                        "and permissions, then re-run to resume",
                        path=self.path,
                        disk_full=_disk_full(exc),
                    ) from exc
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows ``sql`` reads, under the thread lock."""
        with self._lock:
            return self.connection().execute(sql, params).fetchall()
