"""Binding a mapping to one file's header: ``bind`` gives a ``BoundMapping``.

Column names in a mapping match the file's header case- and
whitespace-insensitively (``importer.read.headers.normalize_header``); a
missing key column stops the command here, before any row is mapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from importer.errors import InputError
from importer.mapping.spec import Mapping
from importer.read.headers import normalize_header

_MAX_GROUP_N = 50


@dataclass(frozen=True)
class BoundMapping:
    """A mapping whose column names are resolved against one file's header."""

    mapping: Mapping
    columns: dict[str, str]  # name used in the mapping -> frame column
    headers: dict[str, str]  # frame column -> original header text
    groups: tuple[tuple[str, ...], ...]  # frame columns of each group, in order
    unmapped: tuple[str, ...]  # frame columns nothing reads

    def col(self, name: str) -> str | None:
        return self.columns.get(name)


def bind(mapping: Mapping, columns: Sequence[str], headers: Sequence[str]) -> BoundMapping:
    """Resolve the mapping's column names against a file's columns.

    Names match case- and whitespace-insensitively. Raises InputError when a
    key column the mapping needs is missing.
    """
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalize_header(col), col)
    header_of = dict(zip(columns, headers, strict=True))

    resolved: dict[str, str] = {}
    for name in mapping.referenced_columns():
        if "{n}" in name:
            continue
        hit = by_norm.get(normalize_header(name))
        if hit is not None:
            resolved[name] = hit

    groups = []
    for group in mapping.groups:
        found: list[str] = []
        for pattern in group.columns:
            names = (
                [pattern.replace("{n}", str(n)) for n in range(1, _MAX_GROUP_N + 1)]
                if "{n}" in pattern
                else [pattern]
            )
            for name in names:
                hit = by_norm.get(normalize_header(name))
                if hit is not None and hit not in found:
                    found.append(hit)
                    resolved[name] = hit
        groups.append(tuple(found))

    needed = mapping.link.key if mapping.link else mapping.key
    missing = [k for k in needed if k not in resolved]
    if missing and not (mapping.key_fallback and mapping.kind != "activity"):
        raise InputError(
            f"column {', '.join(repr(m) for m in missing)} that mapping {mapping.name!r} needs as the key "
            f"is missing (the file has: {', '.join(headers[:12])}{' ...' if len(headers) > 12 else ''}); "
            "pick the mapping made for this export with --mapping, or change the key in the mapping"
        )
    _check_owner_columns(mapping, resolved, headers)
    # A country column only tells how to read phone numbers, and an owner
    # column whom to assign: neither is a lead field, so unless something else
    # reads it, it stays in the note.
    read_elsewhere = set(_without_country(mapping).referenced_columns())
    used = {col for name, col in resolved.items() if name in read_elsewhere or "{n}" in name}
    used |= {col for group in groups for col in group}
    # Columns listed under ignore: (Email 1 - Type, say) stay out of the note too.
    unmapped = tuple(
        c for c in columns if c not in used and normalize_header(c) not in _ignored(mapping)
    )
    return BoundMapping(mapping, resolved, header_of, tuple(groups), unmapped)


def _without_country(mapping: Mapping) -> Mapping:
    return replace(mapping, options=replace(mapping.options, country_columns=()), assign=None)


def _check_owner_columns(
    mapping: Mapping, resolved: dict[str, str], headers: Sequence[str]
) -> None:
    """An ``assign:`` role none of whose columns is in the file stops the command
    (owners would be lost without a word), unless the mapping says ``optional``."""
    if mapping.assign is None or mapping.assign.optional:
        return
    for role, names in mapping.assign.roles:
        if not any(name in resolved for name in names):
            shown = ", ".join(headers[:12]) + (" ..." if len(headers) > 12 else "")
            raise InputError(
                f"assign.{role}: column {' or '.join(repr(n) for n in names)} of mapping "
                f"{mapping.name!r} is not in the file (the file has: {shown}); fix assign: in "
                "the mapping, or pass --assign off"
            )


def _ignored(mapping: Mapping) -> set[str]:
    names: list[str] = []
    for pattern in mapping.ignore:
        if "{n}" in pattern:
            names += [pattern.replace("{n}", str(n)) for n in range(1, _MAX_GROUP_N + 1)]
        else:
            names.append(pattern)
    return {normalize_header(c) for c in names}
