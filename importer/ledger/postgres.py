"""The ledger in a PostgreSQL database that any number of runs, on any machines, share.

``PostgresStore`` offers what ``importer.ledger.store.LedgerStore`` offers
(one short transaction per call, reads, the schema and its versions), so the
same transitions and queries run on it; their SQL is translated by
``importer.ledger.pg_sql``. This is the only module that imports psycopg, and
it is imported only for a ``postgresql://`` ledger
(``importer.ledger.ledger.open_store``).

Sharing: instead of SQLite's one run per file, each row is claimed. A run
holds a lease (``importer.ledger.pg_lease``) that a thread renews every quarter
of ``lease`` seconds, on the database's clock; the ``claim`` triggers
(``importer.ledger.pg_schema``) refuse to make a row ``sending`` for this run
while another live run sends it, or when another run began it since this run
started, and ``begin_lead`` then raises RowClaimed (the row ends not sent for
this run). ``recover()`` takes only rows whose run's lease ran out, so a dead
run's rows are picked up once its lease expires (a run that closes its ledger
gives its lease back at once). A run whose lease could not be renewed for
longer than ``lease`` stops writing (LedgerWriteError): others may have taken
its rows.

Write-ahead holds as in SQLite: every transition commits before the request.
The run's threads share a few connections (``importer.ledger.pg_pool``), each
taking one for a transaction. A writing run keeps the planner's statistics
fresh as the tables grow (``importer.ledger.pg_statistics``).
The URL may carry a password; messages name the database by
``importer.ledger.spec.mask_url``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Self

import psycopg

from importer.errors import LedgerError, LedgerMissing, LedgerWriteError, RowClaimed
from importer.ledger import pg_lease, pg_schema
from importer.ledger.pg_pool import ConnectionPool
from importer.ledger.pg_sql import postgres_sql
from importer.ledger.pg_statistics import StatisticsKeeper
from importer.ledger.schema import BASE_TABLES, SCHEMA_VERSION
from importer.ledger.spec import mask_url
from importer.ledger.store import _iso, utc_now

_SCHEMA_LOCK = 0x7267_696D  # advisory lock key while creating or migrating the schema
_DISK_FULL = "53100"
_DEADLOCK = "40P01"


class _Connection:
    """A psycopg connection that takes the SQLite spelling of the ledger's SQL.

    A statement a claim trigger refuses raises RowClaimed at once, so that a
    caller running several writes in one transaction (each under its own
    savepoint) can roll that one back and keep the others.
    """

    def __init__(self, raw: psycopg.Connection[Any]):
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        try:
            return self.raw.execute(postgres_sql(sql), tuple(params))
        except psycopg.Error as exc:
            raise _claim_refused(exc) or exc from None

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cursor = self.raw.cursor()
        try:
            cursor.executemany(postgres_sql(sql), [tuple(r) for r in rows])
        except psycopg.Error as exc:
            raise _claim_refused(exc) or exc from None
        return cursor


def _claim_refused(exc: psycopg.Error) -> RowClaimed | None:
    """RowClaimed when a claim trigger refused the statement, or when it lost a deadlock
    to another run writing the same rows at that moment; None for any other error.

    (Runs that write several rows per transaction can take them in opposite
    orders; the server then refuses one of them, which leaves those rows to
    the other, as a refused claim does.)
    """
    if exc.sqlstate == pg_schema.CLAIM_REFUSED:
        why = exc.diag.message_primary
    elif exc.sqlstate == _DEADLOCK:
        why = "being written by another run at the same moment"
    else:
        return None
    return RowClaimed(
        f"{why}: another run sharing the ledger has this row, "
        "so this run leaves it (the next run sends it if needed)"
    )


def _literal(text: str) -> str:
    """``text`` as an SQL string literal (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _reason(exc: BaseException, url: str) -> str:
    """The first line of psycopg's message, the URL's password masked if it shows."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.replace(url, mask_url(url))


class PostgresStore:
    """The ledger in the PostgreSQL database at ``url``, opened for the run ``run_id``.

    Creates the tables when the database has none; raises LedgerError when it
    cannot connect, when the database holds another application's tables
    under the ledger's names, or a newer schema. ``readonly=True`` takes no
    lease, creates nothing and refuses writes. ``wait`` and ``on_wait`` are
    accepted for the SQLite store's sake: runs never wait for each other here.
    """

    integrity_error: type[Exception] = psycopg.IntegrityError
    shared = True

    def __init__(
        self,
        url: str,
        *,
        run_id: str,
        readonly: bool = False,
        clock: Callable[[], datetime] = utc_now,
        wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
        lease: float = pg_lease.LEASE_S,
    ):
        self.url = url
        self.path = mask_url(url)  # what messages call it
        self.run_id = run_id
        self.readonly = readonly
        self.lease = lease
        self._clock = clock
        self._conn: _Connection | None = None  # the connection that opened the ledger
        self._pool: ConnectionPool[_Connection] | None = None
        self._lease: pg_lease.RunLease | None = None  # a writing run's, once open
        self._statistics: StatisticsKeeper | None = None  # a writing run's, once open
        self.tables: frozenset[str] = frozenset()
        self.version = SCHEMA_VERSION
        try:
            try:
                self._conn = self._connect()
            except psycopg.Error as exc:
                raise LedgerError(
                    f"cannot connect to the ledger database {self.path} "
                    f"({_reason(exc, self.url)}); check the URL given to --ledger or RG_LEDGER"
                ) from None
            self._open()
            self._pool = ConnectionPool(
                self._connect, broken=lambda c: c.raw.closed, close=lambda c: c.raw.close()
            )
            self._pool.give(self._conn)
        except BaseException:
            self.close()
            raise

    def _connect(self, name: str = "rg-import") -> _Connection:
        """A new connection, set up as every connection of the run is."""
        conn = _Connection(
            psycopg.connect(self.url, autocommit=True, connect_timeout=10, application_name=name)
        )
        # SQLite's synchronous=NORMAL: a commit survives this process's crash (the
        # server has it); a crash of the server itself may lose the last few
        conn.execute("SET synchronous_commit = off")
        if self.readonly:
            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return conn

    def _open(self) -> None:
        conn = self.connection()
        try:
            if self.readonly:
                self._check_schema(self._tables(conn), create=False)
                return
            with conn.raw.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
                tables = self._tables(conn)
                self._check_schema(tables, create=True)
                if not tables:
                    for statement in pg_schema.SCHEMA:
                        conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_version VALUES (?, ?)",
                        (pg_schema.FIRST_VERSION, self.now()),
                    )
                    self.version = pg_schema.FIRST_VERSION
                self._migrate(conn)
                conn.execute(pg_lease.TAKE, (self.run_id, self.lease))
            self.tables = pg_schema.TABLES
        except psycopg.Error as exc:
            raise LedgerError(
                f"cannot open the ledger {self.path} ({_reason(exc, self.url)})"
            ) from None
        connect = functools.partial(self._connect, "rg-import lease")
        self._lease = pg_lease.RunLease(connect, self.run_id, self.lease, name=self.path)
        self._statistics = StatisticsKeeper(functools.partial(self._connect, "rg-import analyze"))

    @staticmethod
    def _tables(conn: _Connection) -> set[str]:
        return {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        }

    def _check_schema(self, tables: set[str], *, create: bool) -> None:
        """Read the schema version, or raise LedgerError for a database that is no ledger."""
        if not tables & BASE_TABLES and create:
            return  # an empty database (or one of other tables): this run makes the ledger
        if not tables >= pg_schema.TABLES:
            if not tables & BASE_TABLES:
                raise LedgerMissing(
                    f"no ledger in the database {self.path}: a run creates it; "
                    "check the URL or --ledger"
                )
            raise LedgerError(
                f"the database {self.path} has some of the ledger's tables but not all "
                f"({', '.join(sorted(tables & pg_schema.TABLES))}); it is not an rg-import "
                "ledger: use another database or schema"
            )
        version = self.connection().execute("SELECT max(version) FROM schema_version").fetchone()
        found = version[0] if version else None
        if not isinstance(found, int) or not pg_schema.FIRST_VERSION <= found <= SCHEMA_VERSION:
            raise LedgerError(
                f"ledger {self.path} has schema version {found}, this rg-import reads "
                f"versions {pg_schema.FIRST_VERSION} to {SCHEMA_VERSION}; use the rg-import "
                "version that wrote it"
            )
        self.version = found
        self.tables = pg_schema.TABLES

    def _migrate(self, conn: _Connection) -> None:
        """Bring the ledger up to ``SCHEMA_VERSION`` (inside the opening transaction)."""
        for version in range(self.version + 1, SCHEMA_VERSION + 1):
            for statement in pg_schema.MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, self.now()))
        self.version = SCHEMA_VERSION

    def close(self) -> None:
        """Give the lease back (the run's rows are free at once), disconnect; safe twice."""
        if self._statistics is not None:
            self._statistics.stop()
            self._statistics = None
        if self._lease is not None:
            self._lease.release(self._conn)
            self._lease = None
        if self._conn is None:
            return
        if self._pool is not None:
            self._pool.close()
        self._conn.raw.close()
        self._conn = None

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

    def now(self) -> str:
        """The clock's time as the ledger stores it (as the SQLite ledger does)."""
        return _iso(self._clock())

    def connection(self) -> _Connection:
        """The connection that opened the ledger; LedgerError once closed. The
        transitions and queries take one of the pool's (``transaction``, ``query``)."""
        if self._conn is None:
            raise LedgerError(f"ledger {self.path} is closed")
        return self._conn

    def abandoned(self, table: str) -> str:
        """SQL narrowing ``state = 'sending'`` rows of ``table`` to this run's and those
        whose run's lease ran out (or that no run holds)."""
        return (
            " AND NOT EXISTS (SELECT 1 FROM run_leases AS l WHERE l.run_id = "
            f"{table}.run_id AND l.run_id <> {_literal(self.run_id)} "
            "AND l.lease_until > clock_timestamp())"
        )

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        """One transaction on one of the pool's connections; committed before it returns.

        Lets RowClaimed (a claim trigger refused a row) and a unique violation
        (``integrity_error``) through; raises LedgerWriteError when the database
        cannot write (``disk_full`` for SQLSTATE 53100) or the lease ran out.
        """
        if self.readonly:
            raise LedgerError(f"ledger {self.path} was opened read-only")
        with self._connection() as conn:
            if self._lease is not None:
                self._lease.check()
            try:
                with conn.raw.transaction():
                    yield conn
            except psycopg.IntegrityError:
                raise
            except psycopg.Error as exc:
                raise LedgerWriteError(
                    f"cannot write the ledger {self.path} ({_reason(exc, self.url)}); "
                    "check the database, then re-run to resume",
                    path=self.path,
                    disk_full=exc.sqlstate == _DISK_FULL,
                ) from exc
            if self._statistics is not None:  # committed: a write that may grow the tables
                self._statistics.wrote()

    @contextmanager
    def _connection(self) -> Iterator[_Connection]:
        """One of the pool's connections, this thread's until the block ends."""
        if self._pool is None or self._conn is None:
            raise LedgerError(f"ledger {self.path} is closed")
        try:
            with self._pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:  # reconnecting failed
            raise LedgerWriteError(
                f"cannot reach the ledger {self.path} ({_reason(exc, self.url)}); "
                "check the database, then re-run to resume",
                path=self.path,
            ) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows ``sql`` reads, on one of the pool's connections.

        A lost connection raises LedgerWriteError, as a failed write does: a
        run then stops (exit 4) rather than plan without its ledger.
        """
        with self._connection() as conn:
            try:
                return conn.execute(sql, params).fetchall()
            except psycopg.OperationalError as exc:
                raise LedgerWriteError(
                    f"cannot read the ledger {self.path} ({_reason(exc, self.url)}); "
                    "check the database, then re-run to resume",
                    path=self.path,
                ) from None
            except psycopg.Error as exc:
                raise LedgerError(
                    f"cannot read the ledger {self.path} ({_reason(exc, self.url)})"
                ) from None
