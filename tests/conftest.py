"""Shared fixtures: a real sandbox on loopback, sample files, credentials."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import HealthCheck, settings

# No test may depend on how fast this machine is (CI runs on busy ones): Hypothesis's
# own timing checks (a deadline per example, "input generation is slow") are off for
# every property test. The properties and their example counts stay as each test sets.
settings.register_profile(
    "busy-machines", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("busy-machines")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
MAPPINGS = ROOT / "mappings"
SITE = "089df7bf-db46-4453-b29a-6b02700c4426"


def load_sample_generator() -> ModuleType:
    """``sample_data/generate.py`` loaded by path (it is not a package module)."""
    spec = importlib.util.spec_from_file_location(
        "rg_sample_generator", SAMPLE_DATA / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sandbox() -> Iterator[object]:
    """A fresh in-memory sandbox listening on a free loopback port."""
    from importer.sandbox.runner import start_sandbox

    server = start_sandbox(port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch, sandbox: object) -> object:
    """The sandbox, with RG_* variables pointing at it."""
    monkeypatch.setenv("RG_USERNAME", "sandbox")
    monkeypatch.setenv("RG_PASSWORD", "sandbox")
    monkeypatch.setenv("RG_BASE_URL", sandbox.url)  # type: ignore[attr-defined]
    return sandbox


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server for the session, from the ``pgserver`` wheel: its socket folder.

    Each pytest-xdist worker starts its own. Tests that need it skip, saying
    why, only where it cannot start (the wheel missing, or no server on this
    machine); ``make test`` installs it.
    """
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError:
        pytest.skip("PostgreSQL tests need the pgserver wheel: pip install -e '.[dev]'")
    # Not under pytest's 0700 temporary folder: run as root, pgserver starts the
    # server as another user, who must reach the folder (and its socket's path is short).
    folder = tempfile.mkdtemp(prefix="rg-pg-")
    os.chmod(folder, 0o755)
    try:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            server = pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:  # whatever stops it, the tests say so and skip
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"PostgreSQL from the pgserver wheel cannot start here: {exc}")
    # a server for tests only: nothing it holds must outlive a power cut, so skip the fsyncs
    server.psql("ALTER SYSTEM SET fsync = off")
    server.psql("ALTER SYSTEM SET full_page_writes = off")
    server.psql("SELECT pg_reload_conf()")
    try:
        yield folder
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """The URL of a new, empty PostgreSQL database for this test alone."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = f"postgresql://postgres:@/postgres?host={postgres_server}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres:@/{name}?host={postgres_server}"


@pytest.fixture
def ledger_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's ledger lives: a SQLite file, or (``postgres``) a new PostgreSQL
    database. tests/ledger runs its tests on both (see its conftest)."""
    if getattr(request, "param", "sqlite") == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return tmp_path / "ledger.sqlite"
