"""Checking a mapping file's data and building a ``Mapping``: ``parse_mapping``.

Every section of the file (fields, groups, activities, link, detect, options,
read, empty_values) is read with ``importer.mapping.reader.MappingReader``, in
a step of its own (groups and activities in ``importer.mapping.parse_parts``),
and checked against the API contract, so a mistake is reported with its key and
what to do instead of surfacing later as odd rows. Reading the YAML file
itself is ``importer.mapping.files.load_mapping``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from importer import api_contract as contract
from importer.mapping.parse_assign import parse_assign
from importer.mapping.parse_parts import parse_activity, parse_groups, with_default_transform
from importer.mapping.reader import MappingReader
from importer.mapping.spec import (
    BUILTIN_VALUE_MAPS,
    CONFIDENCES,
    KINDS,
    SECONDARY_FIELDS,
    UNMAPPED,
    ActivitySpec,
    Detect,
    EmptyValues,
    Link,
    Mapping,
    Options,
    Transform,
    ValueSpec,
)
from importer.read.regex_guard import SAFER, nested_quantifier


def parse_mapping(data: Any, *, path: Path | None = None, name: str | None = None) -> Mapping:
    """Check raw mapping data (as loaded from YAML) and build a ``Mapping``.

    The sections are checked in this order, so a file's first mistake is the one reported.
    """
    p = MappingReader(path)
    top = _top_level(p, data)
    p.value_maps = _value_maps(p, top)
    kind = p.choice(top.get("kind"), "kind", KINDS, "lead")
    source = _source(p, top)
    fields, allowed_fields = _fields(p, top, kind)
    fields, full_name = _split_name_fallbacks(fields, _full_name(p, top, kind))
    groups = parse_groups(p, top.get("groups"), fields, allowed_fields)
    activities = tuple(
        parse_activity(p, a, f"activities[{i}]") for i, a in enumerate(top.get("activities") or [])
    )
    link = _link(p, top, kind, activities)
    detect_raw = p.mapping(top.get("detect"), "detect")
    p.unknown_keys(detect_raw, {"require_all", "require_any", "prefix_any"}, "detect")
    options = _options(p, top)
    read = _read(p, top)
    key_fallback = top.get("key_fallback", True)
    if not isinstance(key_fallback, bool):
        raise p.fail("key_fallback", "expected true or false")
    return Mapping(
        name=name
        or (p.text(top["name"], "name") if "name" in top else (path.stem if path else "mapping")),
        path=path,
        kind=kind,
        source=source,
        crm=p.text(top.get("crm", ""), "crm", allow_empty=True),
        description=p.text(top.get("description", ""), "description", allow_empty=True),
        confidence=p.choice(top.get("confidence"), "confidence", CONFIDENCES, "unverified"),
        detect=Detect(
            p.texts(detect_raw.get("require_all"), "detect.require_all"),
            p.texts(detect_raw.get("require_any"), "detect.require_any"),
            p.texts(detect_raw.get("prefix_any"), "detect.prefix_any"),
        ),
        read=read,
        options=options,
        key=() if isinstance(top.get("key"), dict) else p.texts(top.get("key"), "key"),
        key_any=_key_aliases(p, top.get("key")),
        key_fallback=key_fallback,
        unmapped=p.choice(top.get("unmapped"), "unmapped", UNMAPPED, "note"),
        fields=fields,
        groups=groups,
        activities=activities,
        link=link,
        ignore=p.texts(top.get("ignore"), "ignore"),
        empty_values=tuple(
            _parse_empty_values(p, e, f"empty_values[{i}]")
            for i, e in enumerate(p.items(top.get("empty_values"), "empty_values"))
        ),
        fingerprint=hashlib.sha256(repr(data).encode("utf-8")).hexdigest(),
        full_name=full_name,
        assign=parse_assign(p, top.get("assign"), kind),
    )


def _top_level(p: MappingReader, data: Any) -> dict[str, Any]:
    top = p.mapping(data, "(top level)")
    if not top:
        raise p.fail("(top level)", "the mapping file is empty")
    allowed = {
        "name", "crm", "description", "confidence", "kind", "source", "detect", "read", "options",
        "key", "key_fallback", "unmapped", "fields", "groups", "activities", "link", "ignore",
        "value_maps", "empty_values", "full_name", "assign",
    }  # fmt: skip
    p.unknown_keys(top, allowed, "")
    return top


def _value_maps(p: MappingReader, top: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The built-in value maps and the file's own (``value_maps:``)."""
    value_maps = dict(BUILTIN_VALUE_MAPS)
    for mname, mvalues in p.mapping(top.get("value_maps"), "value_maps").items():
        table = p.mapping(mvalues, f"value_maps.{mname}")
        value_maps[str(mname)] = {
            str(k): p.text(v, f"value_maps.{mname}.{k}", allow_empty=True) for k, v in table.items()
        }
    return value_maps


def _source(p: MappingReader, top: dict[str, Any]) -> str:
    if "source" not in top:
        raise p.fail(
            "source",
            "missing: Real Geeks requires a lead source, e.g. source: Follow Up Boss import",
        )
    return p.text(top["source"], "source")


def _fields(
    p: MappingReader, top: dict[str, Any], kind: str
) -> tuple[dict[str, ValueSpec], set[str]]:
    """The ``fields:`` section, and the fields a mapping of this kind may fill."""
    fields: dict[str, ValueSpec] = {}
    allowed_fields = set(contract.LEAD_TEXT_FIELDS)
    if kind == "potential_seller":
        allowed_fields = {"created"}
    if kind == "activity":
        allowed_fields = set()
    for fname, raw in p.mapping(top.get("fields"), "fields").items():
        if fname not in allowed_fields:
            hint = "; tags, stages and custom fields go into a note activity or source_details"
            known = ", ".join(sorted(allowed_fields)) or "none for this kind"
            raise p.fail(f"fields.{fname}", f"not a Real Geeks {kind} field (known: {known}){hint}")
        if fname == "source":
            raise p.fail("fields.source", "set the top-level source: instead")
        default = "note" if fname in SECONDARY_FIELDS else "reject"
        fields[fname] = with_default_transform(p.value_spec(raw, f"fields.{fname}", default), fname)
    return fields, allowed_fields


def _full_name(p: MappingReader, top: dict[str, Any], kind: str) -> ValueSpec | None:
    full_name = p.value_spec(top["full_name"], "full_name") if "full_name" in top else None
    if full_name is not None and kind != "lead":
        raise p.fail("full_name", "only a lead mapping has names")
    return full_name


def _link(
    p: MappingReader, top: dict[str, Any], kind: str, activities: tuple[ActivitySpec, ...]
) -> Link | None:
    """An activity file's ``link:`` to its leads; and the activities its kind needs."""
    link = None
    if kind == "activity":
        raw_link = p.mapping(top.get("link"), "link")
        if not raw_link:
            raise p.fail(
                "link",
                "an activity mapping needs link: {source: <lead mapping source>, key: [column]}",
            )
        p.unknown_keys(raw_link, {"source", "key"}, "link")
        link = Link(
            p.text(raw_link.get("source"), "link.source"), p.texts(raw_link.get("key"), "link.key")
        )
        if not link.key:
            raise p.fail("link.key", "name the column(s) holding the lead's source key")
        if not activities:
            raise p.fail("activities", "an activity mapping needs at least one activity")
    if kind == "potential_seller" and not any(
        a.type == "property_viewed" and a.property for a in activities
    ):
        raise p.fail(
            "activities", "a potential seller needs a property_viewed activity with a property"
        )
    return link


def _options(p: MappingReader, top: dict[str, Any]) -> Options:
    options_raw = p.mapping(top.get("options"), "options")
    p.unknown_keys(
        options_raw,
        {"phone_region", "country_columns", "timezone", "date_formats", "email_deny_domains"},
        "options",
    )
    defaults = Options()
    return Options(
        phone_region=_check_phone_region(p, options_raw.get("phone_region")),
        country_columns=p.texts(options_raw.get("country_columns"), "options.country_columns"),
        timezone=_check_timezone(p, options_raw.get("timezone", defaults.timezone)),
        date_formats=p.texts(options_raw.get("date_formats"), "options.date_formats")
        or defaults.date_formats,
        email_deny_domains=p.texts(
            options_raw.get("email_deny_domains"), "options.email_deny_domains"
        ),
    )


def _read(p: MappingReader, top: dict[str, Any]) -> dict[str, Any]:
    read = p.mapping(top.get("read"), "read")
    p.unknown_keys(read, {"drop_rows_matching", "delimiter", "encoding", "sheet"}, "read")
    for i, rx in enumerate(read.get("drop_rows_matching") or []):
        try:
            re.compile(rx)
        except re.error as exc:
            raise p.fail(
                f"read.drop_rows_matching[{i}]", f"not a valid regular expression ({exc})"
            ) from exc
        if risk := nested_quantifier(rx):
            raise p.fail(
                f"read.drop_rows_matching[{i}]", f"could take for ever to match: {risk}; {SAFER}"
            )
    return read


def _split_name_fallbacks(
    fields: dict[str, ValueSpec], full_name: ValueSpec | None
) -> tuple[dict[str, ValueSpec], ValueSpec | None]:
    """Read ``first_name: {from: [Given], fallback: {from: [Name], transform:
    first_name}}`` (and the same for last_name) as ``full_name: [Name]``.

    As two separate fallbacks, a row whose whole name sits in the given-name
    column ("AADI SESHAN", family name empty) got its last word copied into
    the last name too. A whole name is used only where both names are empty.
    """
    fields = dict(fields)
    for name in ("first_name", "last_name"):
        spec = fields.get(name)
        fallback = spec.fallback if spec is not None else None
        if spec is None or fallback is None or fallback.transforms != (Transform(name),):
            continue
        fields[name] = replace(spec, fallback=None)
        if full_name is None:
            full_name = replace(fallback, transforms=())
    return fields, full_name


def _parse_empty_values(p: MappingReader, raw: Any, key: str) -> EmptyValues:
    data = p.mapping(raw, key)
    p.unknown_keys(data, {"columns", "matching", "note"}, key)
    columns = p.texts(data.get("columns"), f"{key}.columns")
    if not columns:
        raise p.fail(
            f"{key}.columns", 'list the columns, e.g. ["E-mail Address", "E-mail {n} Address"]'
        )
    patterns = p.texts(data.get("matching"), f"{key}.matching")
    if not patterns:
        raise p.fail(
            f"{key}.matching", "list regular expressions a whole cell must match, e.g. ['/o=.*']"
        )
    for i, rx in enumerate(patterns):
        try:
            re.compile(rx)
        except re.error as exc:
            raise p.fail(f"{key}.matching[{i}]", f"not a valid regular expression ({exc})") from exc
    note = data.get("note", True)
    if not isinstance(note, bool):
        raise p.fail(f"{key}.note", "expected true (keep the text in the note) or false")
    return EmptyValues(columns, patterns, note)


def _key_aliases(p: MappingReader, raw: Any) -> tuple[str, ...]:
    """``key: {from: [ID, Record ID]}``: the first of these columns present and non-empty."""
    if not isinstance(raw, dict):
        return ()
    p.unknown_keys(raw, {"from"}, "key")
    aliases = p.texts(raw.get("from"), "key.from")
    if not aliases:
        raise p.fail("key.from", "list the columns that may hold the record id")
    return aliases


def _check_phone_region(p: MappingReader, value: Any) -> str | None:
    if value is None:
        return None
    from importer.errors import ConfigError
    from importer.normalize.phones import check_region

    try:
        return check_region(p.text(value, "options.phone_region"))
    except ConfigError as exc:
        raise p.fail("options.phone_region", str(exc)) from exc


def _check_timezone(p: MappingReader, value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    tz = p.text(value, "options.timezone")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise p.fail(
            "options.timezone", f"unknown time zone {tz!r}; use a name like America/New_York"
        ) from exc
    return tz
