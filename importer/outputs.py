"""Files a command writes for people: the run directory, rejects.csv, plan.csv, report.json,
held_activities.csv.

Everything here may hold personal data, so files are created readable by their
owner only (0600; a directory made here 0700, an existing one keeps its mode),
and always as new files: a link planted at ``rejects.csv`` is never followed. Every CSV cell that a spreadsheet would
run as a formula is prefixed with ``'``; ``importer.read.table`` removes exactly that
prefix again, so a reject file fixed in a spreadsheet feeds back unchanged.
CSVs are written as UTF-8 with a BOM, which is what Excel needs to show
accented names correctly.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from importer.errors import ConfigError, OutputError
from importer.models import RowIssue
from importer.normalize.column_text import cells_at

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
REJECT_DIAGNOSTICS = ("_row", "_stage", "_code", "_message")
SEND_DIAGNOSTICS = ("_http_status", "_attempts")


def neutralise(value: str) -> str:
    """Prefix a cell that a spreadsheet would evaluate as a formula with ``'``.

    The reader removes exactly one ``'`` before a formula character, so a value
    that already starts with quotes and then ``=`` gets one more: it reads back
    as it was.
    """
    return "'" + value if value.lstrip("'").startswith(FORMULA_START) else value


def _may_need_quote(column: Sequence[str]) -> bool:
    """Whether any cell of a column starts like a formula (one C-speed scan)."""
    joined = "\n" + "\n".join(column)
    return any(f"\n{c}" in joined for c in (*FORMULA_START, "'"))


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id such as ``20261127T210704Z-3f9a``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


# The files a run directory can hold; a directory holding one already had a run.
OUTPUT_NAMES = ("report.json", "plan.csv", "rejects.csv", "in_doubt.csv", "held_activities.csv")


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
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise OutputError(
            f"{path} appeared while rg-import was writing its outputs (rg-import did not make it); "
            "remove it and run again with a fresh --out"
        ) from None
    os.fchmod(fd, 0o600)  # the umask may have taken the owner's bits
    return os.fdopen(fd, "w", encoding=encoding, newline="")


def csv_lines(
    *columns: Sequence[str], safe: Sequence[int] = (), plain: Sequence[int] = ()
) -> list[str]:
    """Rows given column by column as CSV text, one string per row (cells neutralised).

    For pieces formatted in one process and written by another
    (``CsvOut.write_lines``). Columns whose positions are in ``safe`` hold
    nothing a spreadsheet could run (row numbers, ids) and are not checked;
    those in ``plain`` hold plain tokens (digits, ids, codes: no formula start,
    comma, quote or line break) and are not checked at all.
    """
    if not columns or not len(columns[0]):
        return []
    checked = [
        c if n in safe or n in plain or not _may_need_quote(c) else [neutralise(v) for v in c]
        for n, c in enumerate(columns)
    ]
    quoted = sorted(
        {i for n, c in enumerate(checked) if n not in plain for i in _cells_to_quote(c)}
    )
    if len(quoted) * 4 > len(checked[0]):
        return _written(zip(*checked, strict=True))
    # Most rows need no quoting at all: joined directly, several times faster
    # than the csv writer, which then writes only the rows that do.
    lines = [",".join(row) + "\r\n" for row in zip(*checked, strict=True)]
    for i, line in zip(quoted, _written([c[i] for c in checked] for i in quoted), strict=True):
        lines[i] = line
    return lines


_QUOTE_CHARS = re.compile('[,"\r\n]')


def _cells_to_quote(column: Sequence[str]) -> list[int]:
    """Positions of the cells the csv writer would quote (a comma, quote or line break)."""
    text = "\x00" + "\x00".join(column)
    if text.count("\x00") != len(column):  # a cell holds the separator itself
        return [i for i, v in enumerate(column) if _QUOTE_CHARS.search(v)]
    hits = [m.start() for m in _QUOTE_CHARS.finditer(text)]
    return sorted(set(cells_at(text, hits))) if hits else []


def _written(rows: Iterable[Sequence[str]]) -> list[str]:
    lines: list[str] = []
    # csv.writer calls write() once per row: a list's append collects the rows apart
    csv.writer(_Sink(lines.append), lineterminator="\r\n").writerows(rows)
    return lines


class _Sink:
    def __init__(self, write: Any):
        self.write = write


class CsvOut:
    """A CSV file created on the first row, so a clean run leaves no empty file."""

    def __init__(self, path: Path, header: Sequence[str]):
        self.path = path
        self.header = list(header)
        self.rows = 0
        self._file: IO[str] | None = None
        self._writer: Any = None

    def _start(self) -> None:
        if self._writer is None:
            self._file = open_private(self.path)
            self._file.write("\ufeff")  # the BOM, once: utf-8-sig would re-check it on every write
            self._writer = csv.writer(self._file, lineterminator="\r\n")
            self._writer.writerow([neutralise(h) for h in self.header])

    def write(self, cells: Iterable[str]) -> None:
        self._start()
        self._writer.writerow([neutralise(c) for c in cells])
        self.rows += 1

    def write_lines(self, lines: Sequence[str]) -> None:
        """Write rows formatted by ``csv_lines``."""
        self.write_text("".join(lines), len(lines))

    def write_text(self, text: str, rows: int) -> None:
        """Write ``rows`` rows formatted by ``csv_lines`` and joined into ``text``."""
        if not rows:
            return
        self._start()
        assert self._file is not None
        self._file.write(text)
        self.rows += rows

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def written(self) -> bool:
        return self.rows > 0


class RejectWriter(CsvOut):
    """``rejects.csv``: the original columns as read, then the diagnostics."""

    def __init__(self, path: Path, headers: Sequence[str], *, send_columns: bool = False):
        diagnostics = REJECT_DIAGNOSTICS + (SEND_DIAGNOSTICS if send_columns else ())
        super().__init__(path, [*headers, *diagnostics])
        self.send_columns = send_columns

    def reject(self, cells: Sequence[str], issue: RowIssue) -> None:
        self.write(reject_cells(cells, issue, send_columns=self.send_columns))


def reject_cells(cells: Sequence[str], issue: RowIssue, *, send_columns: bool = False) -> list[str]:
    """A row of rejects.csv: the cells as read, then the diagnostics."""
    extra = [str(issue.row), issue.stage.value, issue.codes, issue.message]
    if send_columns:
        extra += [
            "" if issue.http_status is None else str(issue.http_status),
            "" if issue.attempts is None else str(issue.attempts),
        ]
    return [*cells, *extra]


HELD_COLUMNS = ("row", "key", "lead_id", "type", "created", "description", "activity_hash")


class HeldWriter(CsvOut):
    """``held_activities.csv``: one line per activity an at-most-once run did not send.

    Their earlier send is unknown, so they may or may not be on the lead; the
    file names the lead and the activity, so someone can look and decide.
    """

    def __init__(self, path: Path):
        super().__init__(path, HELD_COLUMNS)

    def held(self, row: int, key: str, lead_id: str, digest: str, activity: dict[str, Any]) -> None:
        self.write(
            [str(row), key, lead_id, str(activity.get("type", "")),
             str(activity.get("created", "")), str(activity.get("description", "")), digest]
        )  # fmt: skip


PLAN_COLUMNS = ("row", "key", "lead_id", "action", "codes", "message")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON report (0600), pretty-printed for people."""
    with open_private(path) as f:
        json.dump(data, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
