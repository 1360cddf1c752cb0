"""A drop folder: the files ready to run, and filing each away once its run returned.

A file is ready when it is a regular file (not a dotfile, not a folder) whose
size and modification time did not change between two looks ``settle_s``
seconds apart, and whose modification time is at least ``settle_s`` old: an
export still being copied in is left for the next run. After its run a file
is moved into ``processed/`` or ``failed/`` inside the drop folder (the same
file system, so the move is a rename), next to a link to its run directory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from importer.errors import ConfigError
from importer.outputs.private_files import make_private_dir, new_run_id, open_private

PROCESSED = "processed"
FAILED = "failed"


@dataclass(frozen=True)
class InboxFiles:
    """What a look at a drop folder found, each list in name order."""

    ready: list[Path]
    still_changing: list[Path]


def _look(path: Path) -> tuple[int, int] | None:
    """(size, modification time) of ``path``, None once it is gone."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_size, found.st_mtime_ns


def _candidates(inbox: Path) -> list[Path]:
    try:
        entries = sorted(inbox.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise ConfigError(
            f"cannot read the drop folder {inbox}: {exc.strerror}; check the job's inbox"
        ) from None
    return [p for p in entries if not p.name.startswith(".") and p.is_file()]


def ready_files(
    inbox: Path,
    settle_s: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> InboxFiles:
    """The files of ``inbox`` ready to run, and those still being written.

    Raises ConfigError when ``inbox`` is not a readable folder.
    """
    if not inbox.is_dir():
        raise ConfigError(f"drop folder {inbox} does not exist or is not a folder; create it")
    first = {path: _look(path) for path in _candidates(inbox)}
    if first and settle_s > 0:
        sleep(settle_s)  # one wait for all the files
    now_ns = int(clock() * 1e9)
    ready, changing = [], []
    for path, before in first.items():
        after = _look(path)
        if after is None:
            continue  # taken away meanwhile
        if after != before or now_ns - after[1] < settle_s * 1e9:
            changing.append(path)
        else:
            ready.append(path)
    return InboxFiles(ready, changing)


def file_away(
    path: Path, outcome: str, *, run_dir: Path | None = None, note: str | None = None
) -> Path:
    """Move ``path`` into ``<its folder>/<outcome>/``; returns where it went.

    A file of the same name already there is kept: this one gets the time
    added to its name. Beside it go ``<name>.run``, a link to ``run_dir``
    (``<name>.run.txt`` holding the path where links cannot be made), and
    ``<name>.error.txt`` holding ``note``.
    """
    folder = make_private_dir(path.parent / outcome)
    target = folder / path.name
    if os.path.lexists(target):
        target = folder / f"{path.stem}.{new_run_id()}{path.suffix}"
    os.rename(path, target)
    if run_dir is not None:
        try:
            os.symlink(run_dir.resolve(), folder / f"{target.name}.run")
        except OSError:
            _write(folder / f"{target.name}.run.txt", f"{run_dir.resolve()}\n")
    if note is not None:
        _write(folder / f"{target.name}.error.txt", f"{note}\n")
    return target


def _write(path: Path, text: str) -> None:
    with open_private(path) as f:
        f.write(text)
