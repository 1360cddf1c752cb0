"""Checking the groups and activities sections of a mapping file (see ``importer.mapping.parse``)."""

from __future__ import annotations

from typing import Any

from importer import api_contract as contract
from importer.mapping.reader import MappingReader
from importer.mapping.spec import (
    DEFAULT_FIELD_TRANSFORMS,
    ON_INVALID,
    SECONDARY_FIELDS,
    ActivitySpec,
    Group,
    Transform,
    ValueSpec,
)


def with_default_transform(spec: ValueSpec, field_name: str) -> ValueSpec:
    """A lead field without a transform gets its natural one (email → email)."""
    default = DEFAULT_FIELD_TRANSFORMS.get(field_name)
    if spec.transforms or not default or spec.value is not None:
        return spec
    fallback = with_default_transform(spec.fallback, field_name) if spec.fallback else None
    return ValueSpec(
        spec.columns, spec.template, spec.value, (Transform(default),), fallback, spec.on_invalid
    )


def parse_groups(
    p: MappingReader, raw: Any, fields: dict[str, ValueSpec], allowed_fields: set[str]
) -> tuple[Group, ...]:
    """The ``groups:`` section; no field filled twice, by ``fields`` or another group."""
    groups = tuple(
        _parse_group(p, g, f"groups[{i}]", allowed_fields) for i, g in enumerate(raw or [])
    )
    filled = [f for g in groups for f in g.fields] + list(fields)
    dupes = sorted({f for f in filled if filled.count(f) > 1})
    if dupes:
        raise p.fail(
            "groups", f"field {dupes[0]!r} is filled twice (by fields and a group, or two groups)"
        )
    return groups


def _parse_group(p: MappingReader, raw: Any, key: str, allowed_fields: set[str]) -> Group:
    data = p.mapping(raw, key)
    p.unknown_keys(data, {"fields", "columns", "transform", "split", "on_invalid", "overflow"}, key)
    fields = p.texts(data.get("fields"), f"{key}.fields")
    if not fields:
        raise p.fail(
            f"{key}.fields", "name the fields this group fills, e.g. [email, second_email]"
        )
    for f in fields:
        if f not in allowed_fields:
            raise p.fail(f"{key}.fields", f"{f!r} is not a Real Geeks lead field")
    columns = p.texts(data.get("columns"), f"{key}.columns")
    if not columns:
        raise p.fail(f"{key}.columns", 'list the columns, e.g. ["Email {n}"]')
    transform = p.transform(data["transform"], f"{key}.transform") if "transform" in data else None
    if transform is None and fields[0] in DEFAULT_FIELD_TRANSFORMS:
        transform = Transform(DEFAULT_FIELD_TRANSFORMS[fields[0]])
    split = data.get("split")
    return Group(
        fields=fields,
        columns=columns,
        transform=transform,
        split=None if split is None else p.text(split, f"{key}.split", allow_empty=False),
        on_invalid=p.choice(
            data.get("on_invalid"), f"{key}.on_invalid", ON_INVALID, _group_default(fields)
        ),
        overflow=p.choice(data.get("overflow"), f"{key}.overflow", ("note", "ignore"), "note"),
    )


def _group_default(fields: tuple[str, ...]) -> str:
    """``note`` for a group of secondary fields, and for the email group
    (email, second_email): a bad cell there is a second email when the row
    keeps a valid one; ``reject`` otherwise."""
    secondary = [f in SECONDARY_FIELDS for f in fields]
    if any(secondary) and all(s or f == "email" for s, f in zip(secondary, fields, strict=True)):
        return "note"
    return "reject"


def parse_activity(p: MappingReader, raw: Any, key: str) -> ActivitySpec:
    data = p.mapping(raw, key)
    p.unknown_keys(data, {"type", "description", "created", "when", "property", "source"}, key)
    atype = p.text(data.get("type"), f"{key}.type")
    if atype not in contract.ACTIVITY_TYPES:
        raise p.fail(
            f"{key}.type", f"unknown activity type; known: {', '.join(contract.ACTIVITY_TYPES)}"
        )
    if "description" not in data:
        raise p.fail(
            f"{key}.description", "every activity needs a description (from: [column] or template:)"
        )
    description = p.value_spec(data["description"], f"{key}.description")
    if not description.transforms and description.value is None:
        description = ValueSpec(
            description.columns, description.template, None, (Transform("multiline"),),
            description.fallback, description.on_invalid,
        )  # fmt: skip
    created = None
    if "created" in data:
        created = with_default_transform(p.value_spec(data["created"], f"{key}.created"), "created")
    prop: dict[str, ValueSpec] = {}
    for pname, praw in p.mapping(data.get("property"), f"{key}.property").items():
        if pname not in contract.PROPERTY_FIELDS:
            raise p.fail(
                f"{key}.property.{pname}",
                f"not a property field; known: {', '.join(contract.PROPERTY_FIELDS)}",
            )
        spec = p.value_spec(praw, f"{key}.property.{pname}")
        if pname in contract.PROPERTY_INT_FIELDS and not spec.transforms:
            spec = ValueSpec(
                spec.columns,
                spec.template,
                spec.value,
                (Transform("integer"),),
                spec.fallback,
                spec.on_invalid,
            )
        prop[pname] = spec
    if prop and atype != "property_viewed":
        raise p.fail(f"{key}.property", "only property_viewed activities carry a property")
    return ActivitySpec(
        type=atype,
        description=description,
        created=created,
        when=p.texts(data.get("when"), f"{key}.when"),
        property=prop,
        source=p.text(data["source"], f"{key}.source") if "source" in data else None,
    )
