"""What a mapping file says, as frozen data: ``Mapping`` and its parts.

``importer.mapping.files`` finds and loads mapping files into these (the checking
parser is ``importer.mapping.parse``); ``importer.mapping.apply`` applies them to
rows. The vocabulary of the format (kinds, transforms, value maps, problem
codes) lives here too, so the parser, the linter and the engine agree on it.
The format is documented in docs/mappings.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer import codes

KINDS = ("lead", "potential_seller", "activity")
CONFIDENCES = ("verified", "partial", "unverified")
ON_INVALID = ("reject", "drop", "note")
# Fields a lead can do without: an invalid value of one of them, on a row that
# still has a usable contact, goes into the note with a warning (``note``, their
# default) instead of rejecting the row.
SECONDARY_FIELDS = frozenset(
    {"phone", "phone2", "second_email", "address", "street_address", "city", "state", "zip"}
)
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
    "email": codes.INVALID_EMAIL,
    "phone": codes.INVALID_PHONE,
    "zip": codes.INVALID_ZIP,
    "state": codes.INVALID_STATE,
    "datetime": codes.INVALID_DATE,
    "integer": codes.INVALID_NUMBER,
    "floor_integer": codes.INVALID_NUMBER,
    "half_part": codes.INVALID_NUMBER,
    "map": codes.INVALID_VALUE,
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


@dataclass(frozen=True)
class Transform:
    """One named transform with its optional argument (``map: role``)."""

    name: str
    arg: Any = None

    @property
    def invalid_code(self) -> str:
        return INVALID_CODES.get(self.name, codes.INVALID_VALUE)


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
    """How values are read: phone regions, time zone, date formats, refused e-mail domains.

    A phone number without a country code is read in the region of its row's
    country (the first non-empty of ``country_columns``), else ``phone_region``,
    else ``home_region``: the site's region (``--phone-region``, default US),
    whose numbers are written in national format. ``home_region`` is not read
    from the mapping file.
    """

    phone_region: str | None = None
    country_columns: tuple[str, ...] = ()
    home_region: str = "US"
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
class AssignSpec:
    """``assign:``: the columns naming a row's owners in the old CRM, matched to Real Geeks users.

    ``agent`` and ``lender`` are column aliases (per row, the first non-empty
    wins). A file with none of a role's columns stops the command unless
    ``optional``. ``directory`` (an ``importer.mapping.owners.Directory``) is
    not read from the file: a run puts the site's users there
    (``importer.send.assignment``); without it nothing is assigned.
    """

    agent: tuple[str, ...] = ()
    lender: tuple[str, ...] = ()
    match: tuple[str, ...] = ("email", "name")
    optional: bool = False
    directory: Any = None

    @property
    def roles(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """("agent", columns) and ("lender", columns), for the roles the mapping names."""
        return tuple((r, c) for r, c in (("agent", self.agent), ("lender", self.lender)) if c)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.agent + self.lender


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
    # whole-name columns ("Name"), split into first and last name on the rows
    # where both of those came out empty
    full_name: ValueSpec | None = None
    fingerprint: str = ""  # sha256 of the mapping's text: changes when the mapping does
    assign: AssignSpec | None = None  # owner columns matched to users (was_assigned activities)

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
        cols += self.options.country_columns
        if self.full_name:
            cols += self.full_name.referenced_columns()
        if self.assign:
            cols += self.assign.columns
        return tuple(dict.fromkeys(cols))
