"""Settings of the local sandbox server, checked when they are made."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from importer.errors import ConfigError
from importer.sandbox.rules import is_uuid
from importer.sandbox.users import check_users, load_users_file

# Fault kinds, in the order the documentation lists them.
FAULT_KINDS: tuple[str, ...] = (
    "500",  # JSON error, request not applied
    "503-html",  # HTML page from a proxy, request not applied
    "429",  # too many requests with Retry-After, not applied
    "timeout",  # waits fault_delay_s, then 503, not applied
    "reset",  # connection reset before the request is applied
    "reset-after-commit",  # request applied, then the connection is reset
    # a success status without the API's JSON, as a captive portal or single
    # sign-on proxy answers in the API's place; not applied
    "2xx-html",  # the route's success status (201 or 200) with an HTML login page
    "2xx-empty",  # 204 with no body
    "2xx-garbage",  # the route's success status with a body that is not JSON
)
DEFAULT_FAULTS: tuple[str, ...] = ("500", "503-html", "429", "timeout", "reset")
UNKNOWN_FIELD_POLICIES: tuple[str, ...] = ("reject", "ignore")

# click option name -> config field name, where they differ.
_CLI_NAMES = {"fault_delay": "fault_delay_s", "retry_after": "retry_after_s"}


@dataclass(frozen=True)
class SandboxConfig:
    """How a sandbox listens, whom it lets in and how it misbehaves.

    Raises ConfigError (from ``__post_init__``) naming the first bad value.
    """

    host: str = "127.0.0.1"
    port: int = 0
    username: str = "sandbox"
    password: str = "sandbox"
    sites: tuple[str, ...] = ()  # empty: any well-formed site UUID is writable
    latency_ms: float = 0.0  # added to every API response
    fault_rate: float = 0.0  # share of API requests that get a fault
    faults: tuple[str, ...] = DEFAULT_FAULTS
    fault_delay_s: float = 35.0  # how long the 'timeout' fault waits before answering
    retry_after_s: int = 1  # Retry-After sent with 429s
    seed: int | None = None
    rate_limit: float | None = None  # requests/second; above it -> 429 + Retry-After
    store: str | None = None  # SQLite path; None = in memory
    unknown_fields: str = "reject"  # "reject" (422) or "ignore" (dropped silently)
    # Users GET /sites/{site}/users lists: a CSV or JSON file, or users as dicts or
    # dataclasses; None lists ``users.DEFAULT_USERS`` on every site. Made a tuple of
    # checked dicts here.
    users: str | os.PathLike[str] | Iterable[Mapping[str, Any] | Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sites", tuple(self.sites))
        object.__setattr__(self, "faults", tuple(self.faults))
        if self.users is not None:
            object.__setattr__(self, "users", _checked_users(self.users))
        for site in self.sites:
            if not is_uuid(site):
                raise ConfigError(
                    f"site {site!r} is not a UUID: pass the site's UUID, e.g. 089df7bf-db46-4453-b29a-6b02700c4426"
                )
        if not 0 <= self.port <= 65535:
            raise ConfigError(
                f"port {self.port} is out of range: use 1-65535, or 0 for a free port"
            )
        if not self.username:
            raise ConfigError("the sandbox username must not be empty")
        if not _finite(self.latency_ms) or self.latency_ms < 0:
            raise ConfigError(f"latency {self.latency_ms} ms is not a number of milliseconds >= 0")
        if not _finite(self.fault_rate) or not 0 <= self.fault_rate <= 1:
            raise ConfigError(
                f"fault rate {self.fault_rate} must be between 0 and 1 (e.g. 0.05 for 5%)"
            )
        for kind in self.faults:
            if kind not in FAULT_KINDS:
                raise ConfigError(
                    f"unknown fault kind {kind!r}: choose from {', '.join(FAULT_KINDS)}"
                )
        if self.fault_rate > 0 and not self.faults:
            raise ConfigError("a fault rate above 0 needs at least one fault kind in --faults")
        if not _finite(self.fault_delay_s) or self.fault_delay_s < 0:
            raise ConfigError(
                f"fault delay {self.fault_delay_s} s must be a number of seconds >= 0"
            )
        if self.retry_after_s < 0:
            raise ConfigError(f"Retry-After {self.retry_after_s} s must be >= 0")
        if self.rate_limit is not None and (not _finite(self.rate_limit) or self.rate_limit <= 0):
            raise ConfigError(
                f"rate limit {self.rate_limit} must be a number of requests per second above 0"
            )
        if self.unknown_fields not in UNKNOWN_FIELD_POLICIES:
            raise ConfigError(
                f"unknown-fields policy {self.unknown_fields!r}: choose 'reject' or 'ignore'"
            )

    @classmethod
    def from_cli(cls, **options: Any) -> SandboxConfig:
        """Build a config from the options of ``rg-import sandbox``.

        ``faults`` is a comma-separated string there; ``fault_delay`` and
        ``retry_after`` are the click names of ``fault_delay_s`` and
        ``retry_after_s``. Options left at None keep the defaults.
        Raises ConfigError for an unknown option or a bad value (e.g. a fault kind).
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, value in options.items():
            target = _CLI_NAMES.get(name, name)
            if target not in known:
                raise ConfigError(f"unknown sandbox option {name!r}")
            if value is None:
                continue
            if target == "faults" and isinstance(value, str):
                value = parse_faults(value)
            values[target] = value
        return cls(**values)


def _checked_users(users: Any) -> tuple[dict[str, Any], ...]:
    if isinstance(users, str | os.PathLike):
        return load_users_file(users)
    return check_users(users)


def parse_faults(text: str) -> tuple[str, ...]:
    """Split a comma-separated list of fault kinds; raise ConfigError naming a bad one."""
    kinds = tuple(part.strip() for part in text.split(",") if part.strip())
    for kind in kinds:
        if kind not in FAULT_KINDS:
            raise ConfigError(
                f"unknown fault kind {kind!r} in --faults: choose from {', '.join(FAULT_KINDS)}"
            )
    return kinds


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
