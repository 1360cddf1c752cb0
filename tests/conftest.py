"""Shared fixtures: a real sandbox on loopback, sample files, credentials."""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

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
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the session, from the ``pgserver`` wheel: its socket folder.

    Each pytest-xdist worker starts its own. Tests that need it skip, saying
    why, only where it cannot start (the wheel missing, or no server on this
    machine); ``make test`` installs it.
    """
    try:
        import pgserver
    except ImportError:
        pytest.skip("PostgreSQL tests need the pgserver wheel: pip install -e '.[dev]'")
    folder = tmp_path_factory.mktemp("pg", numbered=True)
    try:
        server = pgserver.get_server(folder, cleanup_mode="stop")
    except Exception as exc:  # whatever stops it, the tests say so and skip
        pytest.skip(f"PostgreSQL from the pgserver wheel cannot start here: {exc}")
    try:
        yield str(folder)
    finally:
        server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """The URL of a new, empty PostgreSQL database for this test alone."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = f"postgresql://postgres:@/postgres?host={postgres_server}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres:@/{name}?host={postgres_server}"
