"""Lint a mapping file: every problem on one line, before any import is tried.

``load_mapping`` stops at the first mistake. ``check`` looks further: it
lists every unknown target field and unknown transform of the file at once,
then the first remaining mistake ``load_mapping`` finds, and, given a sample
export, every part of the mapping that reads none of the sample's columns
(a key column that is missing, a field whose aliases are all absent, a
fingerprint that does not match). Lines look like ``load_mapping``'s errors:
``path [key]: message``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from importer import api_contract as contract
from importer.catalog.detect import column_matcher, fingerprint_evidence, has_fingerprint
from importer.errors import ImporterError, MappingError
from importer.mapping.files import find_mapping, load_mapping, read_yaml
from importer.mapping.spec import TRANSFORMS, Mapping
from importer.read.headers import normalize_header
from importer.read.options import ReadOptions
from importer.read.table import peek_headers

_CONTAINERS = ("fields", "groups", "activities")


def _line(path: Path | str, key: str, message: str) -> str:
    return str(MappingError(message, path=str(path), key=key))


def _allowed_fields(kind: Any) -> set[str]:
    if kind == "potential_seller":
        return {"created"}
    if kind == "activity":
        return set()
    return set(contract.LEAD_TEXT_FIELDS) - {"source"}


def _transform_names(raw: Any) -> Iterator[str]:
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict) and len(item) == 1:
            yield str(next(iter(item)))


def _walk_transforms(node: Any, key: str) -> Iterator[tuple[str, str]]:
    """(key, transform name) of every ``transform:`` below ``node``."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "transform":
                for name in _transform_names(v):
                    yield f"{key}.transform", name
            else:
                yield from _walk_transforms(v, f"{key}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_transforms(v, f"{key}[{i}]")


def _raw_problems(path: Path, data: Any) -> list[str]:
    """Unknown target fields and transforms, all of them (the parser stops at one)."""
    if not isinstance(data, dict):
        return []
    problems = []
    allowed = _allowed_fields(data.get("kind", "lead"))
    fields = data.get("fields")
    if isinstance(fields, dict):
        for name in fields:
            if name not in allowed and name != "source":
                known = ", ".join(sorted(allowed)) or "none for this kind"
                problems.append(
                    _line(path, f"fields.{name}", f"not a Real Geeks lead field (known: {known})")
                )
    groups = data.get("groups")
    for i, group in enumerate(groups if isinstance(groups, list) else []):
        targets = group.get("fields") if isinstance(group, dict) else None
        for name in targets if isinstance(targets, list) else []:
            if name not in allowed:
                problems.append(
                    _line(path, f"groups[{i}].fields", f"{name!r} is not a Real Geeks lead field")
                )
    activities = data.get("activities")
    for i, act in enumerate(activities if isinstance(activities, list) else []):
        prop = act.get("property") if isinstance(act, dict) else None
        for name in prop if isinstance(prop, dict) else []:
            if name not in contract.PROPERTY_FIELDS:
                problems.append(
                    _line(path, f"activities[{i}].property.{name}", "not a property field")
                )
    for container in _CONTAINERS:
        for key, name in _walk_transforms(data.get(container), container):
            if name not in TRANSFORMS:
                known = ", ".join(TRANSFORMS)
                problems.append(_line(path, key, f"unknown transform {name!r}; known: {known}"))
    return problems


def _present(names: tuple[str, ...], headers: set[str]) -> bool:
    matcher = column_matcher(names)
    return any(matcher.fullmatch(h) for h in headers)


def _against_sample(mapping: Mapping, headers: list[str]) -> list[str]:
    path = mapping.path or mapping.name
    have = {normalize_header(h) for h in headers}
    problems = []

    def absent(key: str, columns: tuple[str, ...], consequence: str) -> None:
        if not columns or _present(columns, have):
            return
        if len(columns) == 1:
            what = f"column {columns[0]!r} is not"
        else:
            listed = ", ".join(repr(c) for c in columns[:6]) + (" ..." if len(columns) > 6 else "")
            what = f"none of the columns {listed} is"
        problems.append(_line(path, key, f"{what} in the sample's header; {consequence}"))

    fallback = "rows are keyed by email, or by phone and name"
    if not mapping.key_fallback or mapping.kind == "activity":
        fallback = "every row would be rejected missing_key"
    for column in mapping.key:
        absent("key", (column,), fallback)
    absent("key.from", mapping.key_any, fallback)
    if mapping.link is not None:
        for column in mapping.link.key:
            absent("link.key", (column,), "no row could find its lead")
    for name, spec in mapping.fields.items():
        if spec.value is None:
            absent(f"fields.{name}", spec.referenced_columns(), f"{name} stays empty")
    for i, group in enumerate(mapping.groups):
        absent(f"groups[{i}].columns", group.columns, f"{', '.join(group.fields)} stay empty")
    for i, act in enumerate(mapping.activities):
        key = f"activities[{i}]"
        absent(
            f"{key}.description",
            act.description.referenced_columns(),
            "this activity is never made",
        )
        absent(f"{key}.when", act.when, "this activity is never made")
        if act.created is not None:
            absent(f"{key}.created", act.created.referenced_columns(), "its date stays empty")
        for pname, spec in act.property.items():
            absent(
                f"{key}.property.{pname}",
                spec.referenced_columns(),
                f"the property's {pname} stays empty",
            )
    for i, rule in enumerate(mapping.empty_values):
        absent(f"empty_values[{i}].columns", rule.columns, "the rule does nothing")
    for role, columns in mapping.assign.roles if mapping.assign else ():
        optional = mapping.assign is not None and mapping.assign.optional
        absent(f"assign.{role}", columns, "leads are sent unassigned" if optional
               else "a run stops (exit 2) unless --assign off")  # fmt: skip
    if has_fingerprint(mapping) and fingerprint_evidence(mapping.detect, headers) is None:
        problems.append(
            _line(path, "detect", "the fingerprint does not match the sample's header, so files "
                  "like it are not recognised; fix require_all / require_any / prefix_any")
        )  # fmt: skip
    return problems


def _sample_headers(mapping: Mapping, sample: Path, read_options: ReadOptions | None) -> list[str]:
    if read_options is None:
        wanted = {
            k: mapping.read[k] for k in ("delimiter", "encoding", "sheet") if k in mapping.read
        }
        read_options = ReadOptions(**wanted)
    return peek_headers(sample, read_options)


def check(
    mapping_path: str | Path,
    sample: str | Path | None = None,
    *,
    read_options: ReadOptions | None = None,
) -> list[str]:
    """Every problem of a mapping file (and against a sample export), one line each.

    ``mapping_path`` is a path or a mapping name; ``sample`` an export whose
    header the mapping should read; ``read_options`` how to read it (default:
    the mapping's ``read:`` settings). Returns [] when the mapping is clean.
    Never raises for a problem of the mapping or the sample: it is a line.
    """
    try:
        path = find_mapping(str(mapping_path))
        text = path.read_text(encoding="utf-8")
    except MappingError as exc:
        return [str(exc)]
    except (OSError, UnicodeDecodeError) as exc:
        return [_line(mapping_path, "(file)", f"cannot read the file ({exc})")]
    try:
        data = read_yaml(text)
    except yaml.YAMLError:
        data = None  # load_mapping below words the YAML error
    problems = _raw_problems(path, data)
    if problems:
        return problems
    try:
        mapping = load_mapping(path)
    except MappingError as exc:
        return [str(exc)]
    if sample is None:
        return []
    try:
        headers = _sample_headers(mapping, Path(sample), read_options)
    except ImporterError as exc:
        return [f"{sample}: cannot read the sample ({exc})"]
    return _against_sample(mapping, headers)
