"""Mapping files: find them, parse the YAML, check it, and describe it as data.

A mapping file says how one source layout (a CRM's export) becomes Real Geeks
leads and activities. The format is documented in docs/mappings.md; this module
turns a file into a frozen ``Mapping`` or raises ``MappingError`` with the file,
the key and what to do. Applying a mapping to rows is ``importer.mapping``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from importer import contract
from importer.errors import MappingError

KINDS = ("lead", "potential_seller", "activity")
CONFIDENCES = ("verified", "partial", "unverified")
ON_INVALID = ("reject", "drop")
UNMAPPED = ("ignore", "note")

# name -> whether the transform takes a parameter (``{map: role}``) or not
TRANSFORMS: dict[str, bool] = {
    "text": False,
    "multiline": False,
    "lower": False,
    "upper": False,
    "title": False,
    "email": False,
    "phone": False,
    "zip": False,
    "state": False,
    "datetime": False,
    "integer": False,
    "floor_integer": False,
    "half_part": False,
    "first_name": False,
    "last_name": False,
    "map": True,
}

# Each lead field's natural transform, used when the mapping names none.
DEFAULT_FIELD_TRANSFORMS: dict[str, str] = {
    "email": "email",
    "second_email": "email",
    "phone": "phone",
    "phone2": "phone",
    "zip": "zip",
    "state": "state",
    "created": "datetime",
}

# Problem codes for a field whose value cannot be normalised.
INVALID_CODES: dict[str, str] = {
    "email": "invalid_email",
    "phone": "invalid_phone",
    "zip": "invalid_zip",
    "state": "invalid_state",
    "datetime": "invalid_date",
    "integer": "invalid_number",
    "floor_integer": "invalid_number",
    "half_part": "invalid_number",
    "map": "invalid_value",
}

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")

# Value maps every mapping can use by name (``transform: {map: role}``); keys are
# compared case- and space-insensitively; "*" is the value for anything else.
BUILTIN_VALUE_MAPS: dict[str, dict[str, str]] = {
    "role": {
        "buyer": "Buyer",
        "buying": "Buyer",
        "seller": "Seller",
        "selling": "Seller",
        "listing": "Seller",
        "buyer and seller": "Buyer and Seller",
        "buyer & seller": "Buyer and Seller",
        "buyer/seller": "Buyer and Seller",
        "seller/buyer": "Buyer and Seller",
        "both": "Buyer and Seller",
        "renter": "Renter",
        "rental": "Renter",
        "tenant": "Renter",
        "rent": "Renter",
    },
}


def _where(path: Path | None) -> str | None:
    return str(path) if path else None


@dataclass(frozen=True)
class Transform:
    """One named transform with its optional argument (``map: role``)."""

    name: str
    arg: Any = None

    @property
    def invalid_code(self) -> str:
        return INVALID_CODES.get(self.name, "invalid_value")


@dataclass(frozen=True)
class Template:
    """Text built from source columns: ``"FUB ID {ID}"``.

    With several parts, each part whose placeholders are all empty is left
    out, and the rest are joined with ``join``.
    """

    parts: tuple[str, ...]
    join: str = "; "

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.strip() for p in self.parts for c in _PLACEHOLDER.findall(p)))


@dataclass(frozen=True)
class ValueSpec:
    """Where one output value comes from: columns, a template or a constant."""

    columns: tuple[str, ...] = ()  # aliases; per row, the first non-empty wins
    template: Template | None = None
    value: str | None = None
    transforms: tuple[Transform, ...] = ()
    fallback: ValueSpec | None = None  # used where this spec gives nothing
    on_invalid: str = "reject"

    def referenced_columns(self) -> tuple[str, ...]:
        cols = list(self.columns)
        if self.template:
            cols += self.template.columns
        if self.fallback:
            cols += self.fallback.referenced_columns()
        return tuple(dict.fromkeys(cols))


@dataclass(frozen=True)
class Group:
    """A repeated group (``Email 1..N``) that fills a few fields in order."""

    fields: tuple[str, ...]
    columns: tuple[str, ...]  # may contain ``{n}``, expanded against the file
    transform: Transform | None
    split: str | None = None  # separator of several values inside one cell
    on_invalid: str = "reject"
    overflow: str = "note"  # values beyond ``fields``: "note" or "ignore"


@dataclass(frozen=True)
class ActivitySpec:
    """Activities made from columns: one per row where ``description`` is non-empty."""

    type: str
    description: ValueSpec
    created: ValueSpec | None = None
    when: tuple[str, ...] = ()  # emit only where one of these columns is non-empty
    property: dict[str, ValueSpec] = field(default_factory=dict)
    source: str | None = None  # defaults to the mapping's source

    def referenced_columns(self) -> tuple[str, ...]:
        cols = list(self.description.referenced_columns()) + list(self.when)
        if self.created:
            cols += self.created.referenced_columns()
        for spec in self.property.values():
            cols += spec.referenced_columns()
        return tuple(dict.fromkeys(cols))


@dataclass(frozen=True)
class Link:
    """How rows of an activity file find their lead: by the key of a lead mapping."""

    source: str  # the ``source`` of the lead mapping the keys belong to
    key: tuple[str, ...]


@dataclass(frozen=True)
class Detect:
    """Header fingerprint: every ``require_all`` header and one ``require_any``."""

    require_all: tuple[str, ...] = ()
    require_any: tuple[str, ...] = ()
    prefix_any: tuple[str, ...] = ()  # e.g. "Person - " for Pipedrive


@dataclass(frozen=True)
class EmptyValues:
    """Cells of some columns that mean "nothing" in an export (Outlook's ``/o=...``).

    A trimmed cell that fully matches one of ``patterns`` (case-insensitive)
    counts as empty; with ``note`` its text goes into the lead's note instead.
    """

    columns: tuple[str, ...]  # may contain ``{n}``
    patterns: tuple[str, ...]
    note: bool = True


@dataclass(frozen=True)
class Options:
    phone_region: str = "US"
    timezone: str = "UTC"
    date_formats: tuple[str, ...] = (
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %I:%M %p",
        "%m/%d/%Y",
    )
    email_deny_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class Mapping:
    """A parsed, checked mapping file."""

    name: str
    path: Path | None
    kind: str
    source: str
    crm: str = ""
    description: str = ""
    confidence: str = "unverified"
    detect: Detect = field(default_factory=Detect)
    read: dict[str, Any] = field(default_factory=dict)
    options: Options = field(default_factory=Options)
    key: tuple[str, ...] = ()  # columns joined with "|" into one key
    key_any: tuple[str, ...] = ()  # or: aliases, the first non-empty is the key
    key_fallback: bool = True
    unmapped: str = "note"
    fields: dict[str, ValueSpec] = field(default_factory=dict)
    groups: tuple[Group, ...] = ()
    activities: tuple[ActivitySpec, ...] = ()
    link: Link | None = None
    ignore: tuple[str, ...] = ()  # columns deliberately left out of the unmapped note
    empty_values: tuple[EmptyValues, ...] = ()  # cells blanked before anything reads them
    fingerprint: str = ""  # sha256 of the mapping's text: changes when the mapping does

    def referenced_columns(self) -> tuple[str, ...]:
        """Every source column (or ``{n}`` pattern) the mapping reads."""
        cols: list[str] = list(self.key) + list(self.key_any) + list(self.ignore)
        for spec in self.fields.values():
            cols += spec.referenced_columns()
        for group in self.groups:
            cols += group.columns
        for act in self.activities:
            cols += act.referenced_columns()
        if self.link:
            cols += self.link.key
        return tuple(dict.fromkeys(cols))


# --------------------------------------------------------------------------- finding


def mapping_dirs() -> list[Path]:
    """Where named mappings are looked up: ./mappings, then the shipped ones."""
    here = Path(__file__).resolve().parent
    dirs = [Path.cwd() / "mappings", here.parent / "mappings", here / "_data" / "mappings"]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def iter_mapping_files() -> Iterator[Path]:
    """Every mapping file on the search path; a name found twice is listed once."""
    seen: set[str] = set()
    for d in mapping_dirs():
        for p in sorted(d.glob("*.yaml")):
            if p.stem not in seen:
                seen.add(p.stem)
                yield p


def find_mapping(name_or_path: str) -> Path:
    """Resolve ``--mapping``: a path to a YAML file, or the name of a shipped mapping."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.parent != Path("."):
        if candidate.is_file():
            return candidate
        raise MappingError("no such mapping file; check the path", path=str(candidate))
    for d in mapping_dirs():
        for ext in (".yaml", ".yml"):
            p = d / f"{name_or_path}{ext}"
            if p.is_file():
                return p
    known = ", ".join(p.stem for p in iter_mapping_files()) or "none"
    raise MappingError(
        f"no mapping named {name_or_path!r}; known mappings: {known} (or give a path to a .yaml file)"
    )


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Find, read and check a mapping; raises MappingError."""
    path = find_mapping(str(name_or_path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read the file ({exc})", path=str(path)) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise MappingError(
            f"broken YAML{where}: {problem}; fix the indentation or quoting there", path=str(path)
        ) from exc
    mapping = parse_mapping(data, path=path)
    return dataclasses.replace(
        mapping, fingerprint=hashlib.sha256(text.encode("utf-8")).hexdigest()
    )


# --------------------------------------------------------------------------- parsing


class _Parser:
    """Reads the raw YAML data with one helper per shape, naming the key on error."""

    def __init__(self, path: Path | None):
        self.path = path
        self.value_maps: dict[str, dict[str, str]] = dict(BUILTIN_VALUE_MAPS)

    def fail(self, key: str, message: str) -> MappingError:
        return MappingError(message, path=_where(self.path), key=key)

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(
                key, f"expected a mapping of keys to values, got {type(value).__name__}"
            )
        return value

    def text(self, value: Any, key: str, *, allow_empty: bool = False) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, f"expected text, got {type(value).__name__}")
        text = str(value)
        if not text.strip() and not allow_empty:
            raise self.fail(key, "must not be empty")
        return text

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return (str(value),)
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of column names, got {type(value).__name__}")
        return tuple(self.text(v, f"{key}[{i}]") for i, v in enumerate(value))

    def items(self, value: Any, key: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {type(value).__name__}")
        return value

    def choice(self, value: Any, key: str, choices: tuple[str, ...], default: str) -> str:
        if value is None:
            return default
        if value not in choices:
            raise self.fail(key, f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    def unknown_keys(self, data: dict[str, Any], allowed: set[str], key: str) -> None:
        extra = sorted(set(data) - allowed)
        if extra:
            label = f"{key}." if key else ""
            raise self.fail(
                f"{label}{extra[0]}",
                f"unknown key; expected one of {', '.join(sorted(allowed))}",
            )

    def transform(self, value: Any, key: str) -> Transform:
        if isinstance(value, str):
            name, arg = value, None
        elif isinstance(value, dict) and len(value) == 1:
            name, arg = next(iter(value.items()))
        else:
            raise self.fail(key, "a transform is a name, or a one-key mapping such as {map: role}")
        if name not in TRANSFORMS:
            raise self.fail(key, f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}")
        if TRANSFORMS[name] and arg is None:
            raise self.fail(key, f"transform {name!r} needs an argument, e.g. {{{name}: ...}}")
        if name == "map":
            arg = self.value_map(arg, key)
        return Transform(name, arg)

    def value_map(self, arg: Any, key: str) -> tuple[tuple[str, str], ...]:
        """A value map by name (built in, or under value_maps:) or inline, as sorted pairs."""
        if isinstance(arg, str):
            if arg not in self.value_maps:
                known = ", ".join(sorted(self.value_maps))
                raise self.fail(
                    key, f"unknown value map {arg!r}; define it under value_maps: (known: {known})"
                )
            table = self.value_maps[arg]
        else:
            raw = self.mapping(arg, key)
            table = {str(k): self.text(v, f"{key}.{k}", allow_empty=True) for k, v in raw.items()}
        return tuple(sorted(table.items()))

    def transforms(self, value: Any, key: str) -> tuple[Transform, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        return tuple(self.transform(v, f"{key}[{i}]") for i, v in enumerate(items))

    def template(self, value: Any, key: str, join: Any) -> Template:
        parts = self.texts(value, key)
        if not parts:
            raise self.fail(key, "a template needs at least one part")
        return Template(
            parts, "; " if join is None else self.text(join, f"{key}.join", allow_empty=True)
        )

    def value_spec(self, value: Any, key: str) -> ValueSpec:
        if isinstance(value, str | list):
            return ValueSpec(columns=self.texts(value, key))
        data = self.mapping(value, key)
        self.unknown_keys(
            data, {"from", "template", "join", "value", "transform", "fallback", "on_invalid"}, key
        )
        sources = [k for k in ("from", "template", "value") if k in data]
        if len(sources) != 1:
            raise self.fail(key, "give exactly one of from (columns), template or value")
        return ValueSpec(
            columns=self.texts(data.get("from"), f"{key}.from"),
            template=self.template(data["template"], f"{key}.template", data.get("join"))
            if "template" in data
            else None,
            value=self.text(data["value"], f"{key}.value") if "value" in data else None,
            transforms=self.transforms(data.get("transform"), f"{key}.transform"),
            fallback=self.value_spec(data["fallback"], f"{key}.fallback")
            if "fallback" in data
            else None,
            on_invalid=self.choice(
                data.get("on_invalid"), f"{key}.on_invalid", ON_INVALID, "reject"
            ),
        )


def _with_default_transform(spec: ValueSpec, field_name: str) -> ValueSpec:
    """A lead field without a transform gets its natural one (email → email)."""
    default = DEFAULT_FIELD_TRANSFORMS.get(field_name)
    if spec.transforms or not default or spec.value is not None:
        return spec
    fallback = _with_default_transform(spec.fallback, field_name) if spec.fallback else None
    return ValueSpec(
        spec.columns, spec.template, spec.value, (Transform(default),), fallback, spec.on_invalid
    )


def parse_mapping(data: Any, *, path: Path | None = None, name: str | None = None) -> Mapping:
    """Check raw mapping data (as loaded from YAML) and build a ``Mapping``."""
    p = _Parser(path)
    top = p.mapping(data, "(top level)")
    if not top:
        raise p.fail("(top level)", "the mapping file is empty")
    allowed = {
        "name", "crm", "description", "confidence", "kind", "source", "detect", "read", "options",
        "key", "key_fallback", "unmapped", "fields", "groups", "activities", "link", "ignore",
        "value_maps", "empty_values",
    }  # fmt: skip
    p.unknown_keys(top, allowed, "")
    p.value_maps = dict(BUILTIN_VALUE_MAPS)
    for mname, mvalues in p.mapping(top.get("value_maps"), "value_maps").items():
        table = p.mapping(mvalues, f"value_maps.{mname}")
        p.value_maps[str(mname)] = {
            str(k): p.text(v, f"value_maps.{mname}.{k}", allow_empty=True) for k, v in table.items()
        }
    kind = p.choice(top.get("kind"), "kind", KINDS, "lead")
    if "source" not in top:
        raise p.fail(
            "source",
            "missing: Real Geeks requires a lead source, e.g. source: Follow Up Boss import",
        )
    source = p.text(top["source"], "source")

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
        fields[fname] = _with_default_transform(p.value_spec(raw, f"fields.{fname}"), fname)

    groups = tuple(
        _parse_group(p, g, f"groups[{i}]", allowed_fields)
        for i, g in enumerate(top.get("groups") or [])
    )
    filled = [f for g in groups for f in g.fields] + list(fields)
    dupes = sorted({f for f in filled if filled.count(f) > 1})
    if dupes:
        raise p.fail(
            "groups", f"field {dupes[0]!r} is filled twice (by fields and a group, or two groups)"
        )

    activities = tuple(
        _parse_activity(p, a, f"activities[{i}]") for i, a in enumerate(top.get("activities") or [])
    )
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

    detect_raw = p.mapping(top.get("detect"), "detect")
    p.unknown_keys(detect_raw, {"require_all", "require_any", "prefix_any"}, "detect")
    options_raw = p.mapping(top.get("options"), "options")
    p.unknown_keys(
        options_raw, {"phone_region", "timezone", "date_formats", "email_deny_domains"}, "options"
    )
    defaults = Options()
    options = Options(
        phone_region=p.text(
            options_raw.get("phone_region", defaults.phone_region), "options.phone_region"
        ),
        timezone=_check_timezone(p, options_raw.get("timezone", defaults.timezone)),
        date_formats=p.texts(options_raw.get("date_formats"), "options.date_formats")
        or defaults.date_formats,
        email_deny_domains=p.texts(
            options_raw.get("email_deny_domains"), "options.email_deny_domains"
        ),
    )
    read = p.mapping(top.get("read"), "read")
    p.unknown_keys(read, {"drop_rows_matching", "delimiter", "encoding", "sheet"}, "read")
    for i, rx in enumerate(read.get("drop_rows_matching") or []):
        try:
            re.compile(rx)
        except re.error as exc:
            raise p.fail(
                f"read.drop_rows_matching[{i}]", f"not a valid regular expression ({exc})"
            ) from exc

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
    )


def _parse_empty_values(p: _Parser, raw: Any, key: str) -> EmptyValues:
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


def _key_aliases(p: _Parser, raw: Any) -> tuple[str, ...]:
    """``key: {from: [ID, Record ID]}``: the first of these columns present and non-empty."""
    if not isinstance(raw, dict):
        return ()
    p.unknown_keys(raw, {"from"}, "key")
    aliases = p.texts(raw.get("from"), "key.from")
    if not aliases:
        raise p.fail("key.from", "list the columns that may hold the record id")
    return aliases


def _check_timezone(p: _Parser, value: Any) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    tz = p.text(value, "options.timezone")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise p.fail(
            "options.timezone", f"unknown time zone {tz!r}; use a name like America/New_York"
        ) from exc
    return tz


def _parse_group(p: _Parser, raw: Any, key: str, allowed_fields: set[str]) -> Group:
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
        on_invalid=p.choice(data.get("on_invalid"), f"{key}.on_invalid", ON_INVALID, "reject"),
        overflow=p.choice(data.get("overflow"), f"{key}.overflow", ("note", "ignore"), "note"),
    )


def _parse_activity(p: _Parser, raw: Any, key: str) -> ActivitySpec:
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
        created = _with_default_transform(
            p.value_spec(data["created"], f"{key}.created"), "created"
        )
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
