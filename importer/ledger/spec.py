"""Where a ledger lives: a SQLite file (a path), or a PostgreSQL database (a URL).

``--ledger`` and ``RG_LEDGER`` take either. A ``postgresql://`` (or
``postgres://``) URL stays text, because ``Path`` would fold its ``//``;
anything else is a path. The URL may carry a password, so messages and
reports show ``shown(spec)``, which masks it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# A path to a SQLite file, or the URL (text) of a PostgreSQL database: a ``str``
# is a URL (``ledger_spec`` makes anything else a ``Path``).
LedgerSpec = Path | str

_URL_SCHEMES = ("postgresql://", "postgres://")
# the password of user:password@ in the URL's authority
_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:@/?#\s]*):[^@/?#\s]*@", re.IGNORECASE)
# password=... among the query parameters (libpq accepts it there too)
_PASSWORD_PARAM = re.compile(r"(?P<head>[?&]password=)[^&#]*", re.IGNORECASE)


def is_database_url(spec: object) -> bool:
    """Whether ``spec`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(spec, str) and spec.strip().lower().startswith(_URL_SCHEMES)


def ledger_spec(given: str | os.PathLike[str]) -> LedgerSpec:
    """``given`` as a ledger spec: a database URL as it is, anything else as a ``Path``."""
    if isinstance(given, str) and is_database_url(given):
        return given.strip()
    return Path(given)


def mask_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    masked = _PASSWORD.sub(r"\g<head>:***@", url)
    return _PASSWORD_PARAM.sub(r"\g<head>***", masked)


def shown(spec: LedgerSpec) -> str:
    """How messages name the ledger: the path, or the URL without its password."""
    return mask_url(spec) if isinstance(spec, str) else os.fspath(spec)
