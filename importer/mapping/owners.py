"""Matching an export's owner values ("Jane Doe", "Doe, Jane", "jane@x.com") to Real Geeks users.

A ``Directory`` is built once per run from the site's users (anything with
``id``, ``name`` and ``email``: the send stage's ``User``) and the
``--agent-map`` file; mapping a chunk then asks it about each distinct owner
value. The order is: the agent map, then the normalised email (``match:``
``email``), then the name ignoring case, accents, punctuation and word order
(``name``). Two users behind one name or email make the value ambiguous: we
never guess which one was meant.

A ``Directory`` is plain data (it travels to the checking processes of a dry
run) and has a ``fingerprint``: a re-run whose users or agent map changed maps
its rows again instead of skipping them as unchanged.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MATCH_METHODS = ("email", "name")
Status = Literal["matched", "unknown", "ambiguous"]

_EMAIL = re.compile(r"[^\s<>(),;:\"']+@[^\s<>(),;:\"']+\.[^\s<>(),;:\"']+")
_NOT_WORD = re.compile(r"[^\w]+")


def email_key(text: str) -> str:
    """The email inside ``text`` ("Jane <Jane@X.com>" → "jane@x.com"), or ""."""
    found = _EMAIL.search(text or "")
    return found.group(0).casefold() if found else ""


def name_key(text: str) -> str:
    """``text`` as a bag of words without case, accents or punctuation, in sorted order.

    "Doe, Jane", "JANE DOE" and "Jane  Doé" all give "doe jane".
    """
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = _NOT_WORD.sub(" ", bare.casefold().replace("_", " ")).split()
    return " ".join(sorted(words))


def owner_key(text: str) -> str:
    """How an owner value is compared with the lines of an agent map."""
    return email_key(text) if "@" in (text or "") else name_key(text)


@dataclass(frozen=True)
class Person:
    """What matching needs of a Real Geeks user."""

    id: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class OwnerMatch:
    """What one owner value came to: a user, no user, or several."""

    status: Status
    user: Person | None = None
    how: str = ""  # "agent map", "email" or "name" (matched only)
    candidates: tuple[Person, ...] = ()  # the users of an ambiguous value


@dataclass
class Directory:
    """The site's users, indexed for matching, with the agent map's choices."""

    people: tuple[Person, ...]
    methods: tuple[str, ...] = MATCH_METHODS
    agent_map: dict[str, str] = field(default_factory=dict)  # owner_key → user id or email
    _by_id: dict[str, Person] = field(default_factory=dict, repr=False)
    _by_email: dict[str, list[Person]] = field(default_factory=dict, repr=False)
    _by_name: dict[str, list[Person]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for person in self.people:
            self._by_id[person.id] = person
            if email_key(person.email):
                self._by_email.setdefault(email_key(person.email), []).append(person)
            if name_key(person.name):
                self._by_name.setdefault(name_key(person.name), []).append(person)

    @classmethod
    def of(
        cls,
        users: Iterable[Any],
        *,
        methods: Iterable[str] = MATCH_METHODS,
        agent_map: Mapping[str, str] | None = None,
    ) -> Directory:
        """A directory of ``users`` (objects with ``id``, ``name`` and ``email``)."""
        people = tuple(Person(str(u.id), u.name or "", u.email or "") for u in users)
        return cls(people, tuple(methods), {owner_key(k): v for k, v in (agent_map or {}).items()})

    def find(self, target: str) -> Person | None:
        """The user an agent map names, by id or by email (None when none or several)."""
        if target in self._by_id:
            return self._by_id[target]
        hits = self._by_email.get(email_key(target), [])
        return hits[0] if len(hits) == 1 else None

    def unknown_targets(self) -> list[str]:
        """The agent map's users that are no (single) user of the site."""
        return sorted(t for t in set(self.agent_map.values()) if self.find(t) is None)

    def match(self, value: str) -> OwnerMatch:
        """The user ``value`` (an owner cell, non-empty) stands for."""
        mapped = self.agent_map.get(owner_key(value))
        if mapped:
            person = self.find(mapped)
            if person is not None:
                return OwnerMatch("matched", person, "agent map")
        for method in self.methods:
            key = email_key(value) if method == "email" else name_key(value)
            hits = (
                (self._by_email if method == "email" else self._by_name).get(key, []) if key else []
            )
            if len(hits) == 1:
                return OwnerMatch("matched", hits[0], method)
            if len(hits) > 1:
                return OwnerMatch("ambiguous", candidates=tuple(hits))
        return OwnerMatch("unknown")

    @property
    def fingerprint(self) -> str:
        """Changes when the users, the methods or the agent map do."""
        parts = [repr(sorted((p.id, p.name, p.email) for p in self.people)), repr(self.methods)]
        parts.append(repr(sorted(self.agent_map.items())))
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
