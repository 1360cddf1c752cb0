"""Settings that come from the environment: credentials, base URL, ledger path.

Precedence, everywhere: command-line flag > environment variable > ``.env``
file in the working directory > built-in default. Secrets (the API password)
come only from the environment or ``.env``, never from a flag, and are never
printed: ``Credentials`` redacts itself in ``repr`` and ``str``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from importer.api_contract import DEFAULT_BASE_URL
from importer.errors import ConfigError

ENV_USERNAME = "RG_USERNAME"
ENV_PASSWORD = "RG_PASSWORD"
ENV_BASE_URL = "RG_BASE_URL"
ENV_SITE = "RG_SITE"
ENV_LEDGER = "RG_LEDGER"
ENV_PHONE_REGION = "RG_PHONE_REGION"


@dataclass(frozen=True)
class Credentials:
    """HTTP Basic credentials for the Incoming Leads API."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='***')"

    __str__ = __repr__


def environment(env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> dict[str, str]:
    """The process environment over the values of a ``.env`` file.

    ``dotenv`` defaults to ``./.env``; a missing file is not an error.
    """
    from dotenv import dotenv_values

    path = dotenv if dotenv is not None else Path.cwd() / ".env"
    merged: dict[str, str] = {}
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ if env is None else env)
    return merged


def load_credentials(env: Mapping[str, str] | None = None) -> Credentials:
    """Read ``RG_USERNAME`` / ``RG_PASSWORD`` (environment, then ``.env``).

    Raises ConfigError naming the missing variable when either is unset.
    """
    values = environment() if env is None else env
    missing = [name for name in (ENV_USERNAME, ENV_PASSWORD) if not values.get(name)]
    if missing:
        raise ConfigError(
            f"{' and '.join(missing)} not set: export them or put them in a .env file "
            "(use --sandbox to try the tool without credentials)"
        )
    return Credentials(values[ENV_USERNAME], values[ENV_PASSWORD])


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP addresses."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """Return the base URL without a trailing slash, or raise ConfigError.

    Only ``https://`` is accepted, except ``http://`` to a loopback host (the
    sandbox): credentials and personal data must never cross a network in clear.
    """
    return check_url(url, "base URL", example=DEFAULT_BASE_URL).rstrip("/")


def check_url(
    url: str, what: str, *, example: str = "https://example.com/hook", shown: str | None = None
) -> str:
    """Return ``url`` if it is ``https://`` (or ``http://`` to a loopback host); else ConfigError.

    ``what`` names the URL in the message (``base URL``, ``--notify-url``);
    ``shown`` replaces the URL there when the URL may hold a secret.
    """
    parts = urlsplit(url)
    said = repr(url) if shown is None else shown
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what} {said} is not an http(s) URL, e.g. {example}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{what} {said} uses plain http: use https:// (plain http is allowed only for a loopback host)"
        )
    return url


def check_site(site: str | None) -> str | None:
    """Return the site UUID in canonical dashed form, or raise ConfigError."""
    import uuid

    if site is None or site == "":
        return None
    try:
        return str(uuid.UUID(site.strip()))
    except ValueError:
        raise ConfigError(
            f"site {site!r} is not a UUID; Real Geeks site UUIDs look like 089df7bf-db46-4453-b29a-6b02700c4426"
        ) from None
