"""The ledger's SQL, as written for SQLite, turned into PostgreSQL's.

The transitions and queries are written once, in the SQL both databases
share (``INSERT ... ON CONFLICT ... DO UPDATE``, ``excluded.``, ``CASE``,
``coalesce``). What differs is spelt the SQLite way and translated here, so a
statement added later runs on both unchanged:

* ``?`` placeholders become ``%s`` (and a literal ``%`` becomes ``%%``);
* ``json_each(?)``, the IN-list of a JSON array of texts
  (``x IN (SELECT value FROM json_each(?))``), becomes
  ``json_array_elements_text(%s::json)``, whose column is ``value`` too.

A ``?`` in quoted text (``'...'`` and ``"..."``) is left as it is.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKENS = re.compile(
    r"""(?P<quoted>'(?:[^']|'')*'|"(?:[^"]|"")*")"""
    r"""|(?P<json_each>\bjson_each\(\s*\?\s*\))"""
    r"""|(?P<placeholder>\?)"""
    r"""|(?P<percent>%)""",
    re.IGNORECASE,
)


def _replace(match: re.Match[str]) -> str:
    kind = match.lastgroup
    if kind == "json_each":
        return "json_array_elements_text(%s::json)"
    if kind == "placeholder":
        return "%s"
    # psycopg reads every % as a placeholder's start, inside quotes too
    return match.group(0).replace("%", "%%")


@lru_cache(maxsize=512)
def postgres_sql(sql: str) -> str:
    """``sql`` (SQLite's spelling, ``?`` placeholders) as PostgreSQL runs it through psycopg."""
    return _TOKENS.sub(_replace, sql)
