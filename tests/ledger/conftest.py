"""The ledger suite runs on both stores: every test that takes ``ledger_spec`` (or the
``ledger`` built on it) runs on a SQLite file and on a PostgreSQL database.

Tests about the SQLite file itself (its locks, modes, pragmas) take ``path``,
or are marked ``sqlite_only``: they run on SQLite alone.
"""

from __future__ import annotations

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ledger_spec" not in metafunc.fixturenames:
        return
    file_only = "path" in metafunc.fixturenames or metafunc.definition.get_closest_marker(
        "sqlite_only"
    )
    backends = ["sqlite"] if file_only else ["sqlite", "postgres"]
    metafunc.parametrize("ledger_spec", backends, indirect=True)
