"""Shared fixtures: a real sandbox on loopback, sample files, credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
MAPPINGS = ROOT / "mappings"
SITE = "089df7bf-db46-4453-b29a-6b02700c4426"


@pytest.fixture
def sandbox() -> Iterator[object]:
    """A fresh in-memory sandbox listening on a free loopback port."""
    from importer.sandbox import start_sandbox

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
