"""The client's network policy as one checked, frozen value: ``ClientSettings``.

Timeouts, retry bounds, the update API and the connection pool size, with safe
defaults; a bad URL or value raises ``ConfigError`` when the settings are made,
before any request. ``importer.send.client.Client`` applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from importer import api_contract as contract
from importer.config import check_base_url
from importer.errors import ConfigError
from importer.settings import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT_S,
    DEFAULT_UPDATE_API,
    UPDATE_APIS,
)


@dataclass(frozen=True)
class ClientSettings:
    """Network policy of the client; every field has a safe default.

    ``base_url`` must be https (plain http only to a loopback host, i.e. the
    sandbox). ``read_timeout`` is the most one try may take in all (connecting,
    sending, the whole answer), not a limit per socket read; ``connect_timeout``
    bounds the connecting alone. ``max_attempts`` counts every try of one
    request, first included.
    ``not_found_attempts`` is how many tries an update or activities call gets
    while it keeps answering 404 (the service may still be processing the
    create), ``not_found_delay`` the pause between them. ``max_retry_after`` is
    the longest server-requested wait the client sits out; a longer one fails
    the request at once (and the run pauses no longer than this). ``update_api`` picks PATCH v1 (absent fields are kept)
    or v2 (fields sent as "" are unset); ``v2_path_template`` is relative to the
    server root (scheme and host of ``base_url``). ``pool_size`` is the number
    of connections kept per host; size it to the worker count.

    Raises ConfigError for a bad URL or value.
    """

    base_url: str = contract.DEFAULT_BASE_URL
    connect_timeout: float = 5.0
    read_timeout: float = DEFAULT_TIMEOUT_S
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    not_found_attempts: int = 3
    not_found_delay: float = 2.0
    max_retry_after: float = 120.0
    update_api: str = DEFAULT_UPDATE_API
    v2_path_template: str = contract.V2_PATH_TEMPLATES[0]
    pool_size: int = 16

    def __post_init__(self) -> None:
        base = check_base_url(self.base_url)
        parts = urlsplit(base)
        if parts.username or parts.password:
            raise ConfigError(
                "the base URL must not contain a user name or password: "
                "set RG_USERNAME and RG_PASSWORD instead"
            )
        if parts.query or parts.fragment:
            raise ConfigError(f"base URL {base!r} must not have a query or fragment")
        object.__setattr__(self, "base_url", base)
        for name in ("connect_timeout", "read_timeout", "backoff_base", "backoff_max"):
            if not getattr(self, name) > 0:
                raise ConfigError(
                    f"client setting {name} must be positive, not {getattr(self, name)!r}"
                )
        for name in ("not_found_delay", "max_retry_after"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"client setting {name} must not be negative")
        for name in ("max_attempts", "not_found_attempts", "pool_size"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"client setting {name} must be at least 1, not {getattr(self, name)!r}"
                )
        if self.update_api not in UPDATE_APIS:
            raise ConfigError(
                f"update API must be one of {', '.join(UPDATE_APIS)}, not {self.update_api!r}"
            )
        template = self.v2_path_template
        if not template.startswith("/") or "{site}" not in template or "{lead}" not in template:
            raise ConfigError(
                f"v2 path template {template!r} must start with '/' and contain {{site}} and {{lead}}, "
                f"e.g. {contract.V2_PATH_TEMPLATES[0]}"
            )

    @property
    def server_root(self) -> str:
        """Scheme and host of ``base_url`` (what the v2 path is relative to)."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"
