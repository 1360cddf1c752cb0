"""The toolkit of the sample catalog: fictional people and the files they go into.

Nothing here is copied from a real export: names, streets and cities come from
the small pools below, emails use the reserved example.com/.org/.net domains,
US phones the 555-01xx range kept for fiction. A ``Sheet`` is one sample file
being built: its layout, its rows, and the outcome the import must give each
row (row, key, action, codes, case, warnings), right by construction because
every row is written from a case chosen first.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

EXPECTED_HEADER = ("row", "key", "action", "codes", "case", "warnings")

FIRST_NAMES = (
    "Ana", "Maya", "Liam", "Noah", "Emma", "Olivia", "Ethan", "Lucas", "Mia", "Sofia", "James",
    "Harper", "Evelyn", "Henry", "Grace", "Daniel", "Chloe", "Samuel", "Nora", "Owen", "Leah",
    "Caleb", "Ruby", "Elijah", "Hazel", "Isaac", "Violet", "Julian", "Aria", "Mateo", "Layla",
)  # fmt: skip
LAST_NAMES = (
    "Prado", "Chen", "Walker", "Nguyen", "Patel", "Kim", "Rivera", "Brooks", "Foster", "Hughes",
    "Bennett", "Ortiz", "Sullivan", "Reyes", "Hayes", "Coleman", "Jenkins", "Perry", "Powell",
    "Flores", "Ramos", "Tran", "Shah", "Moreno", "Gray", "Ward", "Price", "Barnes", "Ross",
)  # fmt: skip
ACCENTED = (("José", "Nuñez", "jose.nunez"), ("Zoë", "Müller", "zoe.muller"))
# (city, state, zip, area code): the area code belongs to the city
PLACES = (
    ("San Francisco", "CA", "94110", "415"), ("Honolulu", "HI", "96813", "808"),
    ("Boston", "MA", "02134", "617"), ("New York", "NY", "10025", "212"),
    ("Miami", "FL", "33131", "305"), ("Austin", "TX", "78704", "512"),
    ("Seattle", "WA", "98103", "206"), ("Denver", "CO", "80205", "303"),
    ("Hoboken", "NJ", "07030", "201"), ("Hartford", "CT", "06103", "860"),
)  # fmt: skip
STATE_NAMES = {"MA": "Massachusetts", "CA": "California", "TX": "Texas", "NJ": "New Jersey"}
STREETS = tuple(
    f"{name} {suffix}"
    for name in ("Oak", "Maple", "Cedar", "Harbor View", "Hillcrest", "Sunset", "Juniper")
    for suffix in ("St", "Ave", "Rd", "Ln", "Dr")
)
DOMAINS = ("example.com", "example.com", "example.org", "example.net")
AGENTS = ("Rachel Kim", "Marcus Bell", "Dana Ortiz", "Priya Shah")
NOTES = (
    "",
    "",
    "",
    "Prefers texts after 5pm.",
    "Wants a yard for the dog.",
    "Asked about HOA fees.",
)
MULTILINE = "Called back on Tuesday.\nWants a second showing on Saturday."


@dataclass
class Person:
    """One fictional person; every layout renders it in its own way."""

    first: str
    last: str
    email: str
    phone: str  # ten digits
    phone2: str  # ten digits, same area
    street: str
    city: str
    state: str
    zip: str
    created: datetime

    @property
    def name_key(self) -> str:
        return f"{self.first} {self.last}".strip().casefold()


def phone_text(digits: str, style: str = "parens") -> str:
    """A ten-digit US number written the way an export writes it."""
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return {
        "parens": f"({a}) {b}-{c}",
        "dashes": f"{a}-{b}-{c}",
        "dots": f"{a}.{b}.{c}",
        "digits": digits,
        "plus1": f"+1 {a}-{b}-{c}",
        "e164": f"+1{digits}",
        "spaces": f"+1 {a} {b} {c}",
    }[style]


def us_datetime(when: datetime) -> str:
    """``3/15/2024 2:30 PM``: no leading zeros, 12-hour clock (strftime cannot, portably)."""
    hour = when.hour % 12 or 12
    half = "AM" if when.hour < 12 else "PM"
    return f"{when.month}/{when.day}/{when.year} {hour}:{when.minute:02d} {half}"


def email_key(address: str) -> str:
    return "email:" + address.strip().lower()


def phone_key(person: Person) -> str:
    return f"phone:{person.phone}|name:{person.name_key}"


class People:
    """Distinct fictional people: no name, email or phone repeats within a file."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self._names = [(f, n) for f in FIRST_NAMES for n in LAST_NAMES]
        rng.shuffle(self._names)
        self._numbers = list(range(100))
        rng.shuffle(self._numbers)
        self._when = datetime(2023, 1, 9, 9, 30)

    def _number(self, area: str) -> str:
        return f"{area}55501{self._numbers.pop():02d}"

    def next(self, place: tuple[str, str, str, str] | None = None) -> Person:
        rng = self.rng
        first, last = self._names.pop()
        city, state, zip_code, area = place or rng.choice(PLACES)
        self._when += timedelta(days=rng.randint(2, 30), minutes=rng.randint(0, 600))
        return Person(
            first, last, f"{first}.{last}@{rng.choice(DOMAINS)}".lower(), self._number(area),
            self._number(area), f"{rng.randint(12, 9800)} {rng.choice(STREETS)}", city, state,
            zip_code, self._when,
        )  # fmt: skip

    def place(self, state: str) -> tuple[str, str, str, str]:
        return next(p for p in PLACES if p[1] == state)


@dataclass
class Sheet:
    """One sample file being built: its layout and its rows with their expected outcome."""

    name: str  # file name
    header: tuple[str, ...]
    encoding: str = "utf-8"
    newline: str = "\r\n"
    quote_all: bool = False
    footer: tuple[str, ...] = ()  # lines written after the data, one cell each
    rows: list[dict[str, str]] = field(default_factory=list)
    expected: list[tuple[str, str, str, str, str]] = field(default_factory=list)

    def add(
        self, cells: dict[str, str], case: str, key: str, codes: str = "", warnings: str = ""
    ) -> None:
        unknown = set(cells) - set(self.header)
        assert not unknown, f"{self.name}: not in the header: {unknown}"
        self.rows.append(cells)
        self.expected.append((key, "reject" if codes else "create", codes, case, warnings))

    def data(self) -> bytes:
        out = io.StringIO(newline="")
        quoting = csv.QUOTE_ALL if self.quote_all else csv.QUOTE_MINIMAL
        writer = csv.writer(out, lineterminator=self.newline, quoting=quoting)
        writer.writerow(self.header)
        writer.writerows([row.get(h, "") for h in self.header] for row in self.rows)
        for line in self.footer:
            writer.writerow([line] if line else [])
        return out.getvalue().encode(self.encoding)

    def expected_data(self) -> bytes:
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPECTED_HEADER)
        writer.writerows([str(i), *e] for i, e in enumerate(self.expected, start=2))
        return out.getvalue().encode("utf-8")


def cases(
    rng: random.Random, clean: int, dirty: Sequence[str], rejects: Sequence[str]
) -> list[str]:
    """The case of every row: two clean rows first, then the rest shuffled.

    Rejects come after the first rows, so a duplicate always has an original.
    """
    labels = ["clean"] * (clean - 2) + list(dirty)
    rng.shuffle(labels)
    labels[0:0] = ["clean", "clean"]
    for reject in rejects:
        labels.insert(rng.randint(3, len(labels)), reject)
    return labels


# Cases that need a person from a given state.
PLACE_FOR = {"zip_lost_leading_zero": "NJ", "state_full_name": "MA", "zip_plus4_bare": "MA"}


def person_for(people: People, case: str) -> Person:
    state = PLACE_FOR.get(case)
    return people.next(people.place(state) if state else None)
