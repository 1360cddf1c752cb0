"""A PostgreSQL server for a measurement, from the ``pgserver`` wheel (the dev extra).

``postgres_server`` starts one in a temporary folder for a ``with`` block and
``new_database`` makes an empty database on it; ``bench/scale_out.py`` and
``bench/ledger_backends.py`` share them. (tests/conftest.py starts its own, for
the test session, with the durability a test server can do without turned off.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator


class Unavailable(Exception):
    """What the measurement needs cannot start here; the message says why."""


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server from the ``pgserver`` wheel for the ``with`` block: its socket folder."""
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver
            import psycopg  # noqa: F401  (the databases are made with it)
    except ImportError as exc:
        raise Unavailable(f"needs the pgserver and psycopg wheels (the dev extra): {exc}") from None
    # not under a 0700 folder: run as root, pgserver starts the server as another user
    folder = tempfile.mkdtemp(prefix="rg-bench-pg-")
    os.chmod(folder, 0o755)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:  # whatever stops it, the measurement records it
        shutil.rmtree(folder, ignore_errors=True)
        raise Unavailable(f"PostgreSQL from the pgserver wheel cannot start here: {exc}") from None
    try:
        yield folder
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


def new_database(folder: str) -> str:
    """A new, empty database on the server at ``folder``; its URL (no password in it)."""
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"postgresql://postgres@/postgres?host={folder}", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres@/{name}?host={folder}"
