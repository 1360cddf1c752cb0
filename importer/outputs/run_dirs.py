"""The folder of run directories: the ``latest`` link, and keeping only the newest N.

A run directory is recognised only as rg-import makes one: a directory (not a
link) named after the run id written in its own ``report.json``. Anything else
in the folder (a file, a folder of your own, a run directory renamed, one
whose run never wrote its report) is never touched.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path

LATEST = "latest"  # the link to the newest run directory
_REPORT_LIMIT = 50 * 1024 * 1024  # a report.json larger than this is no report of ours


def run_id_of(path: Path) -> str | None:
    """The run id of the run directory ``path``; None when ``path`` is not one."""
    report = path / "report.json"
    if path.is_symlink() or not path.is_dir() or report.is_symlink() or not report.is_file():
        return None
    try:
        if report.stat().st_size > _REPORT_LIMIT:
            return None
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    run_id = data.get("run_id") if isinstance(data, dict) else None
    return run_id if isinstance(run_id, str) and run_id == path.name else None


def point_latest(folder: Path, run_dir: Path) -> Path:
    """Make ``folder/latest`` a link to ``run_dir`` (a folder in ``folder``); returns it.

    The link is made under a temporary name, then renamed over the old one, so
    ``latest`` always names a whole run directory. Relative, so the folder
    can be moved. Raises OSError when links cannot be made there, or when
    ``latest`` is a real directory.
    """
    link = folder / LATEST
    temporary = folder / f".{LATEST}-{secrets.token_hex(4)}"
    os.symlink(run_dir.name, temporary)
    try:
        os.replace(temporary, link)
    except OSError:
        os.unlink(temporary)
        raise
    return link


def prune_runs(folder: Path, keep: int, current: Path) -> list[Path]:
    """Remove the oldest run directories of ``folder`` beyond the newest ``keep``.

    ``current`` (the run just made) always counts as one of those kept. Runs
    are ordered by when their report.json was written (at the run's end), then
    by run id (which starts with the time the run started).
    Returns the directories removed.
    """
    found = sorted(
        (
            ((path / "report.json").stat().st_mtime_ns, run_id, path)
            for path in folder.iterdir()
            if (run_id := run_id_of(path))
        ),
        reverse=True,
    )
    others = [path for _, _, path in found if path.name != current.name]
    removed = others[max(keep - 1, 0) :]
    for path in removed:
        shutil.rmtree(path)
    return removed
