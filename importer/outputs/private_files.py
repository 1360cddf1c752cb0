"""The run directory and the files in it, made private and always new.

Everything a command writes may hold personal data, so files are created
readable by their owner only (0600; a directory made here 0700, an existing
one keeps its mode), and always as new files: a link planted at
``rejects.csv`` is never followed.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from importer.errors import ConfigError, OutputError


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id such as ``20261127T210704Z-3f9a``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


# The files a run directory can hold; a directory holding one already had a run.
OUTPUT_NAMES = (
    "report.json", "report.html", "plan.csv", "rejects.csv", "rejects.xlsx", "in_doubt.csv", "held_activities.csv",
    "results.csv", "missing.csv", "reject_problems.json",
)  # fmt: skip


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700; raises ConfigError if impossible.

    A directory that already exists (or a link to one) is used as it is: its
    mode belongs to whoever made it (``--out .`` must not lock others out of
    a shared folder), so only a directory made here is set to 0700.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not path.is_dir():
            raise ConfigError(
                f"cannot use {path} as output directory: it exists and is not a directory; "
                "pick another with --out"
            ) from None
        return path
    except OSError as exc:
        raise ConfigError(
            f"cannot create output directory {path}: {exc.strerror}; pick another with --out"
        ) from exc
    # the umask may have left it 0500 or so: set it through a handle on the directory
    # just made, never through a name that something else could now point elsewhere
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)
    return path


def make_run_dir(path: Path, *, overwrite: bool = False) -> Path:
    """The run directory ``path``, made if missing, holding no outputs of an earlier run.

    One that holds some (``OUTPUT_NAMES``) is refused with ConfigError unless
    ``overwrite``; then they are removed first (a link is removed, not followed),
    so nothing of the earlier run is left to be taken for this one's.
    """
    make_private_dir(path)
    found = [name for name in OUTPUT_NAMES if os.path.lexists(path / name)]
    if found and not overwrite:
        raise ConfigError(
            f"{path} already holds the outputs of a run ({', '.join(found)}); "
            "pick another --out, or add --overwrite to replace them"
        )
    for name in found:
        try:
            os.unlink(path / name)
        except OSError as exc:
            raise ConfigError(
                f"cannot replace {path / name}: {exc.strerror}; remove it or pick another --out"
            ) from None
    return path


def open_private(path: Path, *, encoding: str = "utf-8") -> IO[str]:
    """Create a new text file for writing with mode 0600.

    Never opens what is already there: a file or a link planted at ``path``
    (to make us write lead data through it) raises OutputError instead.
    """
    return os.fdopen(_create_private(path), "w", encoding=encoding, newline="")


def open_private_bytes(path: Path) -> IO[bytes]:
    """Create a new binary file (a workbook) for writing, as ``open_private`` does."""
    return os.fdopen(_create_private(path), "wb")


def _create_private(path: Path) -> int:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise OutputError(
            f"{path} appeared while rg-import was writing its outputs (rg-import did not make it); "
            "remove it and run again with a fresh --out"
        ) from None
    os.fchmod(fd, 0o600)  # the umask may have taken the owner's bits
    return fd


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON report (0600), pretty-printed for people."""
    with open_private(path) as f:
        json.dump(data, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
