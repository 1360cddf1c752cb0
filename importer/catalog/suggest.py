"""Propose a starter mapping for an export that no fingerprint recognises.

Every shipped mapping is a list of known header spellings for each Real Geeks
field ("Zip", "Postal Code", "Home Postal Code" → zip). ``suggest`` matches a
file's headers against all of them: exactly (confidence 0.95), ignoring
punctuation ("E-mail" = "Email", 0.9), by ``difflib`` similarity (up to 0.85),
or by a telling word in the header ("Mobile No" → phone, 0.6). Sample rows,
when given, confirm or correct a guess by what the values look like (emails,
phones, zips, dates). The result renders as YAML with a comment per line
saying how sure the guess is; columns nothing matched go to the note
(``unmapped: note``) and are listed, so nothing is lost while you edit.

Identity fields (key, names, email, phone) decide who a lead is, so a guess
for one must be more than a loose resemblance: a ``difflib`` match below
``IDENTITY_MIN`` (Facebook's ``adset_name`` is 0.70 "similar to" last name) is
not used; the column goes to the note and the guess is asked as a question in
the YAML's comments. A header naming a person ("Name", "Client Name", "Contact
Name") is a full name, split into first and last when no such columns exist.
With no ID column, a column whose sample values are all different and look
like ids (a digit, or a URL, and no spaces) is proposed as the key.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from importer.catalog.detect import Match, detect, load_catalog
from importer.catalog.guess import Guess
from importer.catalog.suggest_yaml import render
from importer.mapping.spec import Mapping
from importer.read.headers import normalize_header
from importer.read.options import ReadOptions
from importer.read.table import open_table

# What a header can be matched to: a lead field, or one of these roles.
KEY, NOTE, DETAILS, IGNORE, FULL_NAME = "key", "note", "source_details", "ignore", "full_name"
SINGLE_FIELDS = ("first_name", "last_name", "street_address", "city", "state", "zip", "address",
                 "role", "region", "created")  # fmt: skip
_GROUP_OF = {"second_email": "email", "phone2": "phone"}

EXACT, SQUASHED, FUZZY_MAX, WORD, VALUES = 0.95, 0.9, 0.85, 0.6, 0.7
FUZZY_CUTOFF = 0.8
PERSON_NAME, ID_VALUES = 0.8, 0.8
# Below this, a name-similarity guess never fills an identity field (0.8 is a
# difflib ratio of 0.94: a typo or spacing apart, not a different word).
IDENTITY_MIN = 0.8
IDENTITY = (KEY, FULL_NAME, "first_name", "last_name", "email", "second_email", "phone", "phone2")

# Headers naming a person as a whole, once squashed: "Client Name", "full_name".
_PERSON_NAME = re.compile(
    r"(full|client|contact|customer|lead|person|buyer|seller|member|subscriber|prospect|"
    r"your|display|guest|tenant|applicant)?name"
)
_ID_HINT = re.compile(r"(id|uuid|url|link|ref|reference|key|number|no)$")
_ID_VALUE = re.compile(r"\S*\d\S*|https?://\S+")

# A telling word in a header, when nothing else matched it (checked in order).
_WORDS: tuple[tuple[str, str], ...] = (
    ("email", "email"), ("mail", "email"), ("mobile", "phone"), ("phone", "phone"),
    ("cell", "phone"), ("tel", "phone"), ("zip", "zip"), ("postal", "zip"), ("postcode", "zip"),
    ("firstname", "first_name"), ("given", "first_name"), ("lastname", "last_name"),
    ("surname", "last_name"), ("family", "last_name"), ("city", "city"), ("town", "city"),
    ("state", "state"), ("province", "state"), ("street", "street_address"),
    ("address", "street_address"), ("note", NOTE), ("comment", NOTE), ("remark", NOTE),
    ("description", NOTE), ("created", "created"), ("added", "created"),
    ("registered", "created"), ("signup", "created"), ("source", DETAILS), ("status", DETAILS),
    ("stage", DETAILS), ("tag", DETAILS), ("owner", DETAILS), ("agent", DETAILS),
)  # fmt: skip

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"[+(]?\d[\d\s().-]{6,}\d(\s*(x|ext\.?)\s*\d+)?", re.IGNORECASE)
_ZIP = re.compile(r"\d{5}(-?\d{4})?")
_DATE = re.compile(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}.*)?")


def squash(text: str) -> str:
    """A header reduced to its letters and digits: "E-mail 1 - Value" → "email1value"."""
    return re.sub(r"[^0-9a-z]", "", normalize_header(text))


@dataclass(frozen=True)
class Suggestion:
    """``suggest``'s answer: fingerprint matches, per-column guesses, and a starter YAML."""

    headers: tuple[str, ...]
    matches: tuple[Match, ...]  # mappings whose fingerprint fits: the file is known
    guesses: tuple[Guess, ...]  # one per matched column, in file order
    unmatched: tuple[str, ...]  # columns left to the note
    yaml: str
    by_target: dict[str, list[Guess]] = field(default_factory=dict)
    questions: tuple[Guess, ...] = ()  # loose identity guesses left out, to confirm

    def best(self, target: str) -> Guess | None:
        """The surest guess for a target, e.g. ``best("email")``."""
        found = self.by_target.get(target)
        return max(found, key=lambda g: g.confidence) if found else None


@dataclass
class _Alias:
    targets: Counter[str] = field(default_factory=Counter)
    sources: list[str] = field(default_factory=list)  # mapping names
    label: str = ""


class AliasIndex:
    """Every header spelling the given mappings read, with what it feeds."""

    def __init__(self, mappings: Iterable[Mapping]):
        self.exact: dict[str, _Alias] = defaultdict(_Alias)
        self.patterns: list[tuple[re.Pattern[str], str, str]] = []  # numbered columns
        for m in mappings:
            if m.kind == "lead":
                self._add_mapping(m)
        self.squashed: dict[str, str] = {}
        for norm in self.exact:
            self.squashed.setdefault(squash(norm), norm)

    def _add(self, column: str, target: str, mapping: str, label: str = "") -> None:
        if "{n}" in column:
            marked = re.escape(normalize_header(column.replace("{n}", "qxnq")))
            self.patterns.append((re.compile(marked.replace("qxnq", r"\d{1,2}")), target, mapping))
            return
        alias = self.exact[normalize_header(column)]
        alias.targets[target] += 1
        alias.sources.append(mapping)
        alias.label = alias.label or label

    def _add_mapping(self, m: Mapping) -> None:
        for column in (*m.key, *m.key_any):
            self._add(column, KEY, m.name)
        for name, spec in m.fields.items():
            if spec.template is not None:
                for part in spec.template.parts:
                    for column in re.findall(r"\{([^{}]+)\}", part):
                        label = part.split("{")[0].strip(" :") or column.casefold()
                        self._add(
                            column.strip(), DETAILS if name == DETAILS else name, m.name, label
                        )
            for column in spec.columns:
                self._add(column, name, m.name)
            if spec.fallback is not None:
                split = any(t.name in ("first_name", "last_name") for t in spec.fallback.transforms)
                for column in spec.fallback.referenced_columns():
                    self._add(column, FULL_NAME if split else name, m.name)
        if m.full_name is not None:  # whole-name columns (split fallbacks read as one)
            for column in m.full_name.referenced_columns():
                self._add(column, FULL_NAME, m.name)
        for group in m.groups:
            for column in group.columns:
                self._add(column, _GROUP_OF.get(group.fields[0], group.fields[0]), m.name)
        for act in m.activities:
            if act.type == "note":
                for column in act.description.referenced_columns():
                    self._add(column, NOTE, m.name)
            if act.created is not None:
                for column in act.created.referenced_columns():
                    self._add(column, "created", m.name)
        for column in m.ignore:
            self._add(column, IGNORE, m.name)

    def lookup(self, header: str) -> Guess | None:
        """The guess for one header from the aliases alone, or None."""
        norm = normalize_header(header)
        if norm in self.exact:
            return self._guess(header, norm, EXACT, "known as")
        for pattern, target, source in self.patterns:
            if pattern.fullmatch(norm):
                return Guess(header, target, EXACT, f"numbered column, as in {source}")
        flat = squash(header)
        if flat and flat in self.squashed:
            return self._guess(header, self.squashed[flat], SQUASHED, "spelled like")
        close = difflib.get_close_matches(flat, list(self.squashed), n=1, cutoff=FUZZY_CUTOFF)
        if flat and close:
            ratio = difflib.SequenceMatcher(None, flat, close[0]).ratio()
            guess = self._guess(
                header, self.squashed[close[0]], round(ratio * FUZZY_MAX, 2), "similar to"
            )
            return Guess(guess.column, guess.target, guess.confidence, guess.reason, guess.label,
                         fuzzy=True)  # fmt: skip
        for word, target in _WORDS:
            if word in flat:
                return Guess(header, target, WORD, f"the word {word!r}")
        return None

    def _guess(self, header: str, norm: str, confidence: float, how: str) -> Guess:
        alias = self.exact[norm]
        target = alias.targets.most_common(1)[0][0]
        names = ", ".join(sorted(set(alias.sources))[:3])
        return Guess(header, target, confidence, f"{how} {norm!r} in {names}", alias.label)


def _value_kind(values: Sequence[str]) -> str | None:
    """What most of a column's non-empty sample values look like, if anything clear."""
    filled = [v.strip() for v in values if v and v.strip()]
    if len(filled) < 2:
        return None
    for kind, pattern in (("email", _EMAIL), ("zip", _ZIP), ("created", _DATE), ("phone", _PHONE)):
        if sum(1 for v in filled if pattern.fullmatch(v)) >= 0.8 * len(filled):
            return kind
    return None


def _with_values(guess: Guess | None, header: str, kind: str | None) -> Guess | None:
    """Adjust a name-based guess by what the sample values look like."""
    if kind is None:
        return guess
    looks = {"email": "emails", "phone": "phone numbers", "zip": "zip codes", "created": "dates"}[
        kind
    ]
    if guess is None:
        return Guess(header, kind, VALUES, f"values look like {looks}")
    target = _GROUP_OF.get(guess.target, guess.target)
    if target == kind:
        return Guess(
            header,
            guess.target,
            max(guess.confidence, 0.97),
            guess.reason + f"; values look like {looks}",
            guess.label,
        )
    if target in (*SINGLE_FIELDS, "email", "phone") and guess.confidence < EXACT:
        return Guess(
            header, kind, VALUES, f"values look like {looks} (name suggested {guess.target})"
        )
    return guess


def suggest(
    headers: Sequence[str],
    sample_rows: Sequence[Sequence[str]] | None = None,
    mappings: Iterable[Mapping] | None = None,
    *,
    name: str = "my_crm",
) -> Suggestion:
    """Guess what every column holds and render a starter mapping.

    ``sample_rows`` are data rows aligned with ``headers`` (optional);
    ``mappings`` the catalog to learn spellings from (default: every mapping
    on the search path). Returns a Suggestion; its ``matches`` are not empty
    when a fingerprint already recognises the file.
    """
    pool = list(mappings) if mappings is not None else load_catalog()[0]
    index = AliasIndex(pool)
    found: list[Guess | None] = []
    questions: list[Guess] = []
    for position, header in enumerate(headers):
        values = _values(sample_rows, position)
        guess = _with_values(_person_name(index.lookup(header), header), header,
                             _value_kind(values))  # fmt: skip
        if (
            guess is not None and guess.fuzzy and guess.target in IDENTITY
            and guess.confidence < IDENTITY_MIN
        ):  # fmt: skip
            questions.append(guess)  # asked in the YAML, never used as it is
            guess = None
        found.append(guess)
    if not any(g is not None and g.target == KEY for g in found):
        _propose_key(headers, sample_rows, found)
    guesses: list[Guess] = []
    unmatched: list[str] = []
    for header, guess in zip(headers, found, strict=True):
        if guess is None or (guess.target == IGNORE and guess.confidence < EXACT):
            unmatched.append(header)
        else:
            guesses.append(guess)
    by_target: dict[str, list[Guess]] = defaultdict(list)
    for guess in guesses:
        by_target[_GROUP_OF.get(guess.target, guess.target)].append(guess)
    text = render(name, headers, by_target, unmatched, questions)
    return Suggestion(
        tuple(headers), tuple(detect(headers, pool)), tuple(guesses), tuple(unmatched), text,
        dict(by_target), tuple(questions),
    )  # fmt: skip


def _values(rows: Sequence[Sequence[str]] | None, position: int) -> list[str]:
    return [row[position] for row in rows or () if position < len(row)]


def _person_name(guess: Guess | None, header: str) -> Guess | None:
    """A header naming a person as a whole ("Client Name") is a full name, unless
    a known spelling already says what it is."""
    if guess is not None and guess.confidence >= SQUASHED:
        return guess
    if _PERSON_NAME.fullmatch(squash(header)):
        return Guess(header, FULL_NAME, PERSON_NAME, "names a person: split into first and last")
    return guess


def _propose_key(
    headers: Sequence[str], rows: Sequence[Sequence[str]] | None, found: list[Guess | None]
) -> None:
    """With no ID column guessed, make the best id-like column the key (in place).

    With sample rows: every value present, all different, without spaces, each
    with a digit or a URL; a header like "... ID" or "URL" is preferred. Without
    rows, only such a header is taken, less surely. A column already surely
    something else (an email, a date) is left alone.
    """
    candidates: list[tuple[bool, int]] = []
    for position, header in enumerate(headers):
        guess = found[position]
        if guess is not None and (guess.confidence >= VALUES and guess.target != KEY):
            continue
        hinted = bool(_ID_HINT.search(squash(header)))
        values = [v.strip() for v in _values(rows, position)]
        if rows:
            idlike = len(values) >= 2 and all(values) and len(set(values)) == len(values)
            if not (idlike and all(_ID_VALUE.fullmatch(v) for v in values)):
                continue
        elif not hinted:
            continue
        candidates.append((hinted, position))
    if not candidates:
        return
    _, position = max(candidates, key=lambda c: (c[0], -c[1]))
    why = ("values are all different and look like ids" if rows
           else "the name says it is an id; check its values are unique")  # fmt: skip
    found[position] = Guess(headers[position], KEY, ID_VALUES if rows else WORD, why)


def read_sample(
    path: str | Path, rows: int = 50, read_options: ReadOptions | None = None
) -> tuple[list[str], list[list[str]]]:
    """The header and up to ``rows`` data rows of an export, as text.

    Raises InputError when the file cannot be read. The rows stay in memory.
    """
    base = read_options or ReadOptions()
    options = ReadOptions(
        encoding=base.encoding, delimiter=base.delimiter, sheet=base.sheet, chunk_rows=rows,
        drop_rows_matching=base.drop_rows_matching,
    )  # fmt: skip
    with open_table(path, options) as table:
        for frame in table.chunks():
            return list(table.info.headers), [
                [str(v) for v in r] for r in frame.to_numpy().tolist()
            ]
        return list(table.info.headers), []
