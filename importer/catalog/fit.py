"""Whether a mapping given with --mapping fits the file at all.

A mapping that finds none of its key or contact columns in the file's header
would reject every row as "no contact" (exit 3) after planning the whole file.
That is a wrong --mapping, not bad data: ``check_fit`` says so before anything
is planned or sent, naming the columns the mapping expects, the ones found, and
the layout detection picks for the file, if any.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from importer.catalog.detect import choose, column_matcher
from importer.errors import ConfigError
from importer.mapping.spec import Mapping
from importer.read.headers import normalize_header

# Fields that identify a lead: a row needs one of them (or the key) to be kept.
IDENTITY_FIELDS = ("email", "second_email", "phone", "phone2", "first_name", "last_name")


def expected_columns(mapping: Mapping) -> tuple[str, ...]:
    """The key and contact columns of ``mapping`` (``{n}`` patterns included)."""
    cols: list[str] = [*mapping.key, *mapping.key_any]
    if mapping.link is not None:
        cols += mapping.link.key
    for name in IDENTITY_FIELDS:
        spec = mapping.fields.get(name)
        if spec is not None:
            cols += spec.referenced_columns()
    if mapping.full_name is not None:  # a whole name, split where first and last are empty
        cols += mapping.full_name.referenced_columns()
    for group in mapping.groups:
        if set(group.fields) & set(IDENTITY_FIELDS):
            cols += group.columns
    return tuple(dict.fromkeys(cols))


def _readable(name: str) -> str:
    # A numbered pattern reads better as its first instance: 'Email 1' (2, 3, ...).
    if "{n}" in name:
        return f"{name.replace('{n}', '1')!r} (2, 3, ...)"
    return repr(name)


def _shown(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(_readable(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def check_fit(
    mapping: Mapping,
    headers: Sequence[str],
    file: str | Path,
    catalog: Iterable[Mapping] | None = None,
) -> None:
    """Raise ConfigError (exit 2, one line) when none of ``mapping``'s key or
    contact columns is among ``headers``. A mapping that names no such column
    is not checked. ``catalog`` is where detection looks for the file's own
    layout (default: every mapping on the search path)."""
    expected = expected_columns(mapping)
    if not expected:
        return
    matcher = column_matcher(expected)
    if any(matcher.fullmatch(normalize_header(h)) for h in headers):
        return
    try:
        detected = choose(headers, catalog)
        hint = f"detection picks '{detected.name}' for this file: pass --mapping {detected.name}"
        if detected.name == mapping.name:
            hint = "check the file's header row"
    except ConfigError:
        hint = "no mapping recognises its header: start one with rg-import mappings suggest FILE"
    where = mapping.path or mapping.name
    raise ConfigError(
        f"mapping {where} does not fit {file}: it expects one of {_shown(expected)}, "
        f"and the file has {_shown(list(headers)) or 'no columns'}; {hint}"
    )
