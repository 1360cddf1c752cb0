"""``rg-import.toml``: the project file that names jobs.

::

    [jobs.nightly]
    input = "exports/people-*.csv"   # a path, or a glob: its newest match is taken
    mapping = "followupboss"
    site = "089df7bf-db46-4453-b29a-6b02700c4426"
    ledger = "nightly.ledger.sqlite"
    out = "runs/nightly"              # the folder that holds this job's run directories
    keep_runs = 30                    # any flag of `rg-import run`, spelt with _ or -

Paths are relative to the file's folder, so a job means the same from any
working directory. Credentials never live here (they stay in the environment
or ``.env``): a key that looks like one is refused, and so is a URL carrying a
password. Which other keys a job may hold (the flags of ``rg-import run``) is
checked by the command line, which knows those flags.
"""

from __future__ import annotations

import glob
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from importer.errors import ConfigError

PROJECT_FILE = "rg-import.toml"
DEFAULT_SETTLE_S = 2.0  # a file in a drop folder must stay unchanged this long before it is run
# keys only a job has; every other key is a flag of `rg-import run`
JOB_KEYS = ("input", "inbox", "out", "settle_seconds")
# words in a key that mean a credential: those stay in the environment or .env
SECRET_WORDS = (
    "password", "passwd", "secret", "token", "credential", "api_key", "apikey", "username",
    "private_key", "auth",
)  # fmt: skip


@dataclass(frozen=True)
class Job:
    """One ``[jobs.NAME]`` table, its paths made absolute against the file's folder.

    ``input`` is a path or a glob (text, absolute); ``settings`` are the other
    keys (run flags, ``-`` spelt ``_``) with their values as the file has them.
    """

    name: str
    file: Path
    input: str | None = None
    inbox: Path | None = None
    out: Path | None = None
    settle_seconds: float = DEFAULT_SETTLE_S
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> Path:
        """The project file's folder: relative paths in it start here."""
        return self.file.parent

    def where(self, key: str | None = None) -> str:
        """How messages name this job (and one of its keys)."""
        return f"{self.file.name} [jobs.{self.name}]" + (f" {key}" if key else "")


def project_path(config: Path | None) -> Path:
    """``--config``, else ./rg-import.toml; raises ConfigError when it is missing."""
    path = config if config is not None else Path.cwd() / PROJECT_FILE
    if not path.is_file():
        if config is not None:
            raise ConfigError(f"no project file at {config}; check the path given to --config")
        raise ConfigError(
            f"no {PROJECT_FILE} in {Path.cwd()}: write one (see docs/scheduling.md) "
            "or pass --config PATH"
        )
    return path


def read_jobs(path: Path) -> dict[str, dict[str, Any]]:
    """The ``[jobs.*]`` tables of the project file at ``path``, as written.

    Raises ConfigError for a file that is not TOML, has other top-level keys,
    or holds anything that looks like a credential.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix it there") from None
    _refuse_secrets(path.name, data)
    extra = sorted(set(data) - {"jobs"})
    if extra:
        raise ConfigError(
            f"{path.name}: unknown top-level key {extra[0]!r}; jobs go in [jobs.NAME] tables"
        )
    jobs = data.get("jobs", {})
    if not isinstance(jobs, dict) or not all(isinstance(t, dict) for t in jobs.values()):
        raise ConfigError(f"{path.name}: jobs must be tables, written [jobs.NAME]")
    return jobs


def _refuse_secrets(file_name: str, data: dict[str, Any], prefix: str = "") -> None:
    """Raise ConfigError for a key that looks like a credential, or a URL with a password."""
    for key, value in data.items():
        here = f"{file_name} {prefix}{key}"
        if any(word in key.lower().replace("-", "_") for word in SECRET_WORDS):
            raise ConfigError(
                f"{here}: credentials never go in {PROJECT_FILE}; remove the key and set "
                "RG_USERNAME and RG_PASSWORD in the environment or a .env file"
            )
        if isinstance(value, dict):
            _refuse_secrets(file_name, value, f"{prefix}{key}.")
        elif isinstance(value, str) and "://" in value and urlsplit(value).password:
            raise ConfigError(
                f"{here}: a URL with a password in it; credentials never go in {PROJECT_FILE}"
            )


def load_job(path: Path, name: str) -> Job:
    """The job ``name`` of the project file at ``path``; ConfigError when absent or wrong."""
    jobs = read_jobs(path)
    if name not in jobs:
        known = ", ".join(sorted(jobs)) or "none"
        raise ConfigError(
            f"{path.name} has no job {name!r}; its jobs: {known} (see `rg-import jobs list`)"
        )
    return parse_job(path, name, jobs[name])


def parse_job(path: Path, name: str, table: dict[str, Any]) -> Job:
    """A ``Job`` from its table; raises ConfigError for a wrong job-only key."""
    job = Job(name=name, file=path.resolve())
    settings: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if isinstance(value, dict):
            raise ConfigError(f"{job.where(raw_key)}: a table here; give it a value")
        if key in settings:
            raise ConfigError(f"{job.where(raw_key)}: given twice (as _ and as -)")
        settings[key] = value
    input_, inbox, out = (settings.pop(k, None) for k in ("input", "inbox", "out"))
    settle = settings.pop("settle_seconds", DEFAULT_SETTLE_S)
    if input_ is not None and inbox is not None:
        raise ConfigError(f"{job.where()}: give input or inbox, not both")
    if not isinstance(settle, int | float) or isinstance(settle, bool) or settle < 0:
        raise ConfigError(f"{job.where('settle_seconds')}: must be a number of seconds, 0 or more")
    return Job(
        name=name, file=job.file, settle_seconds=float(settle), settings=settings,
        input=None if input_ is None else str(job.folder / _text(job, "input", input_)),
        inbox=None if inbox is None else job.folder / _text(job, "inbox", inbox),
        out=None if out is None else job.folder / _text(job, "out", out),
    )  # fmt: skip


def _text(job: Job, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{job.where(key)}: must be a path, written in quotes")
    return os.path.expanduser(value)


def newest_input(job: Job) -> Path:
    """The job's input: the file, or the newest (by modification time) match of its glob.

    Raises ConfigError when a glob matches no file (a path that does not exist
    is left for the reader, which says so in its own words).
    """
    assert job.input is not None
    if not glob.has_magic(job.input):
        return Path(job.input)
    matches = [Path(p) for p in glob.glob(job.input) if os.path.isfile(p)]
    if not matches:
        raise ConfigError(
            f"{job.where('input')}: no file matches {job.input}; check the pattern, "
            "or whether tonight's export has arrived"
        )
    return max(matches, key=lambda p: (p.stat().st_mtime_ns, p.name))
