"""Write the sample Follow Up Boss exports and their expected outcomes; stream big files.

Every value comes from the small word pools below and a seeded ``random.Random``,
so the output is fictional and byte-identical on every run: emails live on the
reserved ``example.com/.org/.net`` domains and US phones use the 555-01xx range
kept for fiction (UK numbers use Ofcom's 020 7946 0xxx drama range).

Each row of a sample file is built from a *case* decided first (``clean``,
``phone_with_extension``, ``invalid_email_no_at``, ...). The case edits a clean
row and carries the reject codes and warnings the import must produce, so the
``*.expected.csv`` files are right by construction.

Usage::

    python sample_data/generate.py                      # rewrite the committed samples
    python sample_data/generate.py --out-dir DIR        # write them somewhere else
    python sample_data/generate.py --big N --out PATH   # a big people file for benchmarks
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent

HEADER: tuple[str, ...] = (
    "Date Added", "Name", "First Name", "Last Name", "Stage", "Lead Source", "Assigned To",
    "Is Contacted", "Tags", "Email 1", "Email 1 - Type", "Email 2", "Email 2 - Type", "Email 3",
    "Email 3 - Type", "Phone 1", "Phone 1 - Type", "Phone 2", "Phone 2 - Type", "Phone 3",
    "Phone 3 - Type", "Address 1 - Street", "Address 1 - City", "Address 1 - State",
    "Address 1 - Zip", "Address 1 - Country", "Property Address", "Property City",
    "Property State", "Property Postal Code", "Property MLS Number", "Property Price",
    "Property Beds", "Property Baths", "Notes", "Background", "Calls", "Texts", "Timeframe", "ID",
)  # fmt: skip
EXPECTED_HEADER = ("row", "key", "action", "codes", "case", "warnings")
NOTES_HEADER = ("Person ID", "Created At", "Created By", "Subject", "Body")
NOTES_EXPECTED_HEADER = ("row", "key", "action", "codes", "case")

FIRST_NAMES = (
    "Ana", "Maya", "Liam", "Noah", "Emma", "Olivia", "Ava", "Ethan", "Lucas", "Mia", "Sofia",
    "James", "Harper", "Evelyn", "Henry", "Grace", "Daniel", "Chloe", "Samuel", "Nora", "Owen",
    "Leah", "Caleb", "Ruby", "Elijah", "Hazel", "Isaac", "Violet", "Julian", "Aria", "Mateo",
    "Layla", "Theo", "Stella", "Ezra", "Naomi", "Felix", "Iris",
)  # fmt: skip
LAST_NAMES = (
    "Prado", "Chen", "Walker", "Nguyen", "Patel", "Kim", "Rivera", "Brooks", "Foster", "Hughes",
    "Bennett", "Ortiz", "Sullivan", "Reyes", "Hayes", "Coleman", "Jenkins", "Perry", "Powell",
    "Flores", "Ramos", "Tran", "Shah", "Moreno", "Gray", "Ward", "Price", "Barnes", "Ross",
    "Fisher", "Lane", "Marsh", "Holt", "Vance", "Quinn", "Doyle",
)  # fmt: skip
ACCENTED_NAMES = (("José", "Nuñez"), ("Zoë", "Müller"), ("Søren", "Lindqvist"))
_ASCII_FOLD = str.maketrans({"é": "e", "ë": "e", "ñ": "n", "ü": "u", "ø": "o", "ç": "c"})

# (city, state, zip, area code): the area code matches the city.
PLACES = (
    ("San Francisco", "CA", "94110", "415"), ("Honolulu", "HI", "96813", "808"),
    ("Boston", "MA", "02134", "617"), ("New York", "NY", "10025", "212"),
    ("Miami", "FL", "33131", "305"), ("Austin", "TX", "78704", "512"),
    ("Las Vegas", "NV", "89101", "702"), ("Seattle", "WA", "98103", "206"),
    ("Denver", "CO", "80205", "303"), ("Hoboken", "NJ", "07030", "201"),
    ("Hartford", "CT", "06103", "860"), ("Providence", "RI", "02903", "401"),
)  # fmt: skip
ZERO_ZIP_PLACES = tuple(p for p in PLACES if p[2].startswith("0"))
STATE_NAMES = {
    "CA": "California", "HI": "Hawaii", "MA": "Massachusetts", "NY": "New York", "FL": "Florida",
    "TX": "Texas", "NV": "Nevada", "WA": "Washington", "CO": "Colorado", "NJ": "New Jersey",
    "CT": "Connecticut", "RI": "Rhode Island",
}  # fmt: skip
STREETS = tuple(
    f"{name} {suffix}"
    for name in ("Oak", "Maple", "Cedar", "Harbor View", "Hillcrest", "Sunset", "Meadow", "Juniper")
    for suffix in ("St", "Ave", "Rd", "Ln", "Dr", "Ct")
)
EMAIL_DOMAINS = ("example.com", "example.com", "example.org", "example.net")
STAGES = ("Lead",) * 4 + ("Prospect",) * 2 + ("Active Client", "Past Client", "Sphere")
SOURCES = ("Zillow", "Realtor.com", "Website", "Open House", "Referral", "Door Knocking", "Facebook")  # fmt: skip
# Two of them are users of the sandbox's demo team (importer/sandbox/users.py), one
# shares a name with two of its users (ambiguous), two are none of them (unknown):
# `rg-import plan --sandbox` shows each case of assigning leads to their agents.
AGENTS = ("Jane Doe", "Marcus Bell", "Maria Garcia", "Priya Shah", "John Smith")
TAG_CELLS = ("",) * 4 + (
    "buyer", "buyer, pre-approved", "seller", "buyer, first-time buyer", "investor",
    "seller, downsizing", "buyer, relocation", "renter", "buyer, seller", "hot lead",
)  # fmt: skip
TIMEFRAMES = ("", "", "0-3 Months", "3-6 Months", "6-12 Months", "12+ Months", "Just Looking")
COUNTS = ("0", "0", "0", "1", "1", "2", "3", "4", "6", "9")
NOTE_LINES = ("",) * 7 + ("Prefers texts after 5pm.", "Wants a yard for the dog.", "Asked about HOA fees.")  # fmt: skip
BACKGROUNDS = ("",) * 8 + ("Relocating for work.", "Sold a condo with us in 2019.")
MULTILINE_NOTES = (
    "Called back on Tuesday.\nWants a second showing on Saturday.",
    "Pre-approved with First Harbor Bank.\nMax budget 600k.\nNeeds two parking spaces.",
)
NOTE_SUBJECTS = ("Phone call", "Showing feedback", "Follow-up", "Pre-approval", "Open house", "")
NOTE_BODIES = (
    "Left a voicemail about the new listing.",
    "Liked the kitchen, not the street noise.",
    "Sent three listings near the school.",
    "Lender letter received; ready to write offers.",
    "Will call back after the holidays.",
)
MULTILINE_BODIES = (
    "Toured 12 Oak St and 40 Maple Ave.\nPrefers Maple Ave; wants to see it again.",
    "Spoke with both owners.\n- listing price agreed\n- photos next week",
)


Row = dict[str, str]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Case:
    """One kind of row: how it edits a clean row and what the import must make of it."""

    label: str
    mutate: Callable[[Row, int], None]
    codes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    in_big_files: bool = True  # False for cases that break "IDs unique and increasing"

    @property
    def action(self) -> str:
        """``reject`` when the case carries reject codes, else ``create``."""
        return "reject" if self.codes else "create"


CASES: dict[str, Case] = {}


def _case(
    label: str, codes: Sequence[str] = (), warnings: Sequence[str] = (), *, big: bool = True
) -> Callable[[Callable[[Row, int], None]], Callable[[Row, int], None]]:
    def register(mutate: Callable[[Row, int], None]) -> Callable[[Row, int], None]:
        CASES[label] = Case(label, mutate, tuple(codes), tuple(warnings), big)
        return mutate

    return register


def _phone_parts(row: Row) -> tuple[str, str, str]:
    digits = "".join(ch for ch in row["Phone 1"] if ch.isdigit())[-10:]
    return digits[:3], digits[3:6], digits[6:]


def _shape(fmt: str) -> Callable[[Row, int], None]:
    def mutate(row: Row, variant: int) -> None:
        area, exchange, line = _phone_parts(row)
        row["Phone 1"] = fmt.format(a=area, e=exchange, n=line, x=6155 + variant % 800)

    return mutate


# The eight US phone shapes of the catalogue, plus one with an extension.
for _label, _fmt in (
    ("phone_dashes", "{a}-{e}-{n}"), ("phone_digits10", "{a}{e}{n}"),
    ("phone_parens", "({a}) {e}-{n}"), ("phone_dots", "{a}.{e}.{n}"),
    ("phone_digits11", "1{a}{e}{n}"), ("phone_plus1_parens", "+1 ({a}) {e}-{n}"),
    ("phone_plus1_spaces", "+1 {a} {e} {n}"), ("phone_1_dashes", "1-{a}-{e}-{n}"),
    ("phone_with_extension", "{a}-{e}-{n} x{x}"),
):  # fmt: skip
    _case(_label)(_shape(_fmt))


@_case("clean", big=False)
def _clean(row: Row, variant: int) -> None:
    pass


@_case("placeholder_values")
def _placeholders(row: Row, variant: int) -> None:
    if variant % 2 == 0:
        row.update({"Email 2": "N/A", "Email 2 - Type": "", "Phone 2": "null"})
        row.update({"Phone 2 - Type": "", "Address 1 - Street": "-"})
    else:
        row.update({"Background": "none", "Lead Source": "NULL", "Timeframe": "N/A"})


def _rename(row: Row, first: str, last: str) -> None:
    """Give the row a new person name, keeping the digits that make its emails unique."""
    local, _, domain = row["Email 1"].partition("@")
    suffix = "".join(ch for ch in local if ch.isdigit())
    row.update({"First Name": first, "Last Name": last, "Name": f"{first} {last}"})
    row["Email 1"] = f"{first}.{last}{suffix}@{domain}".lower().translate(_ASCII_FOLD)
    row["Email 2"] = row["Email 2 - Type"] = ""


@_case("accented_name")
def _accented(row: Row, variant: int) -> None:
    _rename(row, *ACCENTED_NAMES[variant % len(ACCENTED_NAMES)])


@_case("name_last_first")
def _last_first(row: Row, variant: int) -> None:
    row["Name"] = f"{row['Last Name']}, {row['First Name']}"
    row["First Name"] = row["Last Name"] = ""


@_case("name_single_column")
def _single_name(row: Row, variant: int) -> None:
    row["First Name"] = row["Last Name"] = ""


@_case("email_spaces_upper_case")
def _email_case(row: Row, variant: int) -> None:
    local, _, domain = row["Email 1"].partition("@")
    first, _, rest = local.partition(".")
    row["Email 1"] = f"  {first.upper()}.{rest.capitalize()}@{domain.capitalize()} "


@_case("phone_uk")
def _phone_uk(row: Row, variant: int) -> None:
    row.update({"Phone 1": f"+44 20 7946 0{(958 + variant) % 1000:03d}", "Phone 1 - Type": "work"})


def _move(row: Row, place: tuple[str, str, str, str], zip_code: str | None = None) -> None:
    city, state, zip5, _ = place
    row["Address 1 - City"], row["Address 1 - State"] = city, state
    row["Address 1 - Zip"] = zip5 if zip_code is None else zip_code


@_case("zip_lost_leading_zero")
def _zip_lost_zero(row: Row, variant: int) -> None:
    place = ZERO_ZIP_PLACES[variant % 3]  # MA, NJ, CT in turn
    _move(row, place, place[2].lstrip("0"))


@_case("zip_plus4_bare")
def _zip_plus4(row: Row, variant: int) -> None:
    _move(row, PLACES[2], f"02134{1234 + variant % 8000}")


@_case("state_full_name")
def _state_full_name(row: Row, variant: int) -> None:
    row["Address 1 - State"] = STATE_NAMES[row["Address 1 - State"]]


@_case("excel_text_formula")
def _excel_text(row: Row, variant: int) -> None:
    place = ZERO_ZIP_PLACES[variant % len(ZERO_ZIP_PLACES)]
    _move(row, place, f'="{place[2]}"')


@_case("multiline_note")
def _multiline_note(row: Row, variant: int) -> None:
    row["Notes"] = MULTILINE_NOTES[variant % len(MULTILINE_NOTES)]


@_case("property_inquiry")
def _property(row: Row, variant: int) -> None:
    row.update({
        "Property Address": f"{48 + variant % 50} Harbor View Rd", "Property City": "Honolulu",
        "Property State": "HI", "Property Postal Code": "96825",
        "Property MLS Number": f"202{4100 + variant % 900}", "Property Price":
        f"${450_000 + 25_000 * (variant % 20):,}", "Property Beds": "3", "Property Baths": "2.5",
    })  # fmt: skip


_NAME_COLUMNS = ("Name", "First Name", "Last Name")
_EMAIL_COLUMNS = ("Email 1", "Email 1 - Type", "Email 2", "Email 2 - Type")
_PHONE_COLUMNS = ("Phone 1", "Phone 1 - Type", "Phone 2", "Phone 2 - Type")
_ADDRESS_COLUMNS = tuple(c for c in HEADER if c.startswith("Address 1"))


def _blank(row: Row, *groups: Iterable[str]) -> None:
    for group in groups:
        for column in group:
            row[column] = ""


@_case("phone_only")
def _phone_only(row: Row, variant: int) -> None:
    _blank(row, _NAME_COLUMNS, _EMAIL_COLUMNS, _ADDRESS_COLUMNS, ("Phone 2", "Phone 2 - Type"))


@_case("email_only")
def _email_only(row: Row, variant: int) -> None:
    _blank(row, _NAME_COLUMNS, _PHONE_COLUMNS, _ADDRESS_COLUMNS, ("Email 2", "Email 2 - Type"))


@_case("no_id_email_key", big=False)
def _no_id(row: Row, variant: int) -> None:
    row["ID"] = ""


@_case("unfixable_zip", warnings=["dropped_zip"])
def _unfixable_zip(row: Row, variant: int) -> None:
    _move(row, PLACES[5], "123")


@_case("unknown_state", warnings=["dropped_state"])
def _unknown_state(row: Row, variant: int) -> None:
    row.update({"Address 1 - City": "Cair Paravel", "Address 1 - State": "Narnia"})
    row["Address 1 - Zip"] = ""


def _set_email(template: str) -> Callable[[Row, int], None]:
    def mutate(row: Row, variant: int) -> None:
        local, _, domain = row["Email 1"].partition("@")
        row["Email 1"] = template.format(local=local, domain=domain, host=domain.split(".")[0])

    return mutate


_case("invalid_email_double_at", ["invalid_email"])(_set_email("{local}@@{domain}"))
_case("invalid_email_no_at", ["invalid_email"])(_set_email("{local} at {domain}"))
_case("invalid_email_no_tld", ["invalid_email"])(_set_email("{local}@{host}"))

SCIENTIFIC_PHONES = ("4.15555E+09", "1.4E+10")


@_case("phone_scientific_notation", warnings=["invalid_phone"])  # the email stays
def _phone_scientific(row: Row, variant: int) -> None:
    row["Phone 1"] = SCIENTIFIC_PHONES[variant % 2]


@_case("phone_too_short", warnings=["invalid_phone"])  # the email stays
def _phone_short(row: Row, variant: int) -> None:
    row["Phone 1"] = "555-01"


@_case("invalid_email_and_phone", ["invalid_email", "invalid_phone"])
def _email_and_phone(row: Row, variant: int) -> None:
    _set_email("{local}.{domain}")(row, variant)
    row["Phone 1"] = SCIENTIFIC_PHONES[1 - variant % 2]


_NO_CONTACT_ALSO = ("Notes", "Background", "Address 1 - Country")


@_case("no_contact_details", ["missing_contact"])
def _no_contact(row: Row, variant: int) -> None:
    _blank(row, _NAME_COLUMNS, _EMAIL_COLUMNS, _PHONE_COLUMNS, _ADDRESS_COLUMNS, _NO_CONTACT_ALSO)


@_case("no_contact_placeholders", ["missing_contact"])
def _no_contact_placeholders(row: Row, variant: int) -> None:
    _no_contact(row, variant)
    row.update({"Name": "N/A", "First Name": "null", "Last Name": "-"})
    row.update({"Email 1": "none", "Phone 1": "NULL"})


@_case("invalid_date", ["invalid_date"])
def _invalid_date(row: Row, variant: int) -> None:
    row["Date Added"] = "32/13/2024"


# Marks a repeated ID; the generator copies an earlier row instead of editing one.
_case("duplicate_id", ["duplicate_key"], big=False)(_clean)


def _pick(rnd: Callable[[], float], seq: Sequence[T]) -> T:
    """``rng.choice`` without its per-call overhead."""
    return seq[int(rnd() * len(seq))]


def format_added(when: datetime | date, slash: bool) -> str:
    """Return ``when`` as FUB writes ``Date Added``; ``MM/DD/YYYY`` only for unambiguous days."""
    if slash and when.day > 12:
        return when.strftime("%m/%d/%Y")
    return when.strftime("%Y-%m-%d %H:%M:%S")


PHONES = {area: tuple(f"({area}) 555-01{n:02d}" for n in range(100)) for *_, area in PLACES}


class CleanRows:
    """A factory of clean people rows, fast enough for a million of them.

    The columns that do not depend on the person are drawn ahead into pools of
    ``pool_size`` combinations, so one row costs a handful of random draws.
    """

    def __init__(self, rng: random.Random, pool_size: int = 2048) -> None:
        rnd = self._rnd = rng.random
        self._heads = [
            (_pick(rnd, STAGES), _pick(rnd, SOURCES), _pick(rnd, AGENTS),
             "Yes" if rnd() < 0.6 else "No", _pick(rnd, TAG_CELLS))
            for _ in range(pool_size)
        ]  # fmt: skip
        self._tails = [
            (_pick(rnd, NOTE_LINES), _pick(rnd, BACKGROUNDS), _pick(rnd, COUNTS),
             _pick(rnd, COUNTS), _pick(rnd, TIMEFRAMES))
            for _ in range(pool_size)
        ]  # fmt: skip
        self._streets = [
            f"{int(rnd() * 9800) + 12} {_pick(rnd, STREETS)}" for _ in range(pool_size)
        ]

    def row(
        self, person_id: int, added: str, first: str, last: str, email_tag: str = ""
    ) -> list[str]:
        """Return one clean row in ``HEADER`` order; ``email_tag`` goes into the first email."""
        rnd = self._rnd
        city, state, zip_code, area = PLACES[int(rnd() * len(PLACES))]
        phones = PHONES[area]
        local = f"{first}.{last}".lower()
        email2 = email2_type = phone2 = phone2_type = ""
        if rnd() < 0.25:
            email2, email2_type = f"{local[0]}{last.lower()}@example.org", "work"
        if rnd() < 0.3:
            phone2, phone2_type = phones[int(rnd() * 100)], "work" if rnd() < 0.5 else "home"
        stage, source, agent, contacted, tags = self._heads[int(rnd() * len(self._heads))]
        notes, background, calls, texts, timeframe = self._tails[int(rnd() * len(self._tails))]
        return [
            added, f"{first} {last}", first, last, stage, source, agent, contacted, tags,
            f"{local}{email_tag}@{EMAIL_DOMAINS[int(rnd() * 4)]}",
            "home" if rnd() < 0.8 else "other", email2, email2_type, "", "",
            phones[int(rnd() * 100)], "mobile", phone2, phone2_type, "", "",
            self._streets[int(rnd() * len(self._streets))], city, state, zip_code, "United States",
            "", "", "", "", "", "", "", "", notes, background, calls, texts, timeframe, str(person_id),
        ]  # fmt: skip


def apply_case(case: Case, values: list[str], variant: int) -> list[str]:
    """Return a copy of the row ``values`` edited by ``case``."""
    row = dict(zip(HEADER, values, strict=True))
    case.mutate(row, variant)
    return [row[column] for column in HEADER]


def row_key(values: Sequence[str]) -> str:
    """Return the key the import gives a row: its ID, else ``email:<trimmed lower-case email>``."""
    person_id = values[HEADER.index("ID")].strip()
    return person_id or "email:" + values[HEADER.index("Email 1")].strip().lower()


def _date_added_pool(first_day: date, days: int) -> tuple[list[str], list[str], list[str]]:
    """Pre-format the days (ISO and ``MM/DD/YYYY``) and the minutes of a day, once."""
    dates = [first_day + timedelta(days=d) for d in range(days + 1)]
    iso = [d.isoformat() for d in dates]
    slash = [format_added(d, True) if d.day > 12 else "" for d in dates]  # "": ambiguous day
    clock = [f"{h:02d}:{m:02d}:00" for h in range(24) for m in range(60)]
    return iso, slash, clock


def write_fub_people(
    path: str | Path, rows: int, *, seed: int = 7, dirty_share: float = 0.03
) -> None:
    """Stream a Follow Up Boss people export of ``rows`` data rows to ``path``.

    IDs are unique and increasing, dates rise with them, and about ``dirty_share`` of
    the rows carry one dirty case (never a repeated ID or a missing one). Writes UTF-8
    with BOM and CRLF like the real export. Raises ``OSError`` if ``path`` cannot be
    written.
    """
    rng = random.Random(seed)
    rnd = rng.random
    factory = CleanRows(rng)
    dirty_cases = [case for case in CASES.values() if case.in_big_files]
    span_days = 6 * 365
    iso_days, slash_days, clock = _date_added_pool(date(2019, 1, 7), span_days)
    minutes_per_row = span_days * 1440 / max(rows, 1)
    person_id = 100_000
    batch_size = 20_000
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for batch_start in range(0, rows, batch_size):
            batch = []
            for index in range(batch_start, min(batch_start + batch_size, rows)):
                person_id += 1 + int(rnd() * 3)
                day, minute = divmod(int(index * minutes_per_row), 1440)
                added = slash_days[day] if rnd() < 0.1 else ""
                added = added or f"{iso_days[day]} {clock[minute]}"
                first, last = _pick(rnd, FIRST_NAMES), _pick(rnd, LAST_NAMES)
                values = factory.row(person_id, added, first, last, str(person_id))
                if rnd() < dirty_share:
                    case = dirty_cases[int(rnd() * len(dirty_cases))]
                    values = apply_case(case, values, int(rnd() * 1000))
                batch.append(values)
            writer.writerows(batch)


# ---- the committed samples ------------------------------------------------------------------

PEOPLE_PLAN: tuple[tuple[str, int], ...] = (
    ("clean", 13), ("placeholder_values", 2), ("accented_name", 3), ("name_last_first", 1),
    ("name_single_column", 1), ("email_spaces_upper_case", 1), ("phone_dashes", 1),
    ("phone_digits10", 1), ("phone_parens", 1), ("phone_dots", 1), ("phone_digits11", 1),
    ("phone_plus1_parens", 1), ("phone_plus1_spaces", 1), ("phone_1_dashes", 1),
    ("phone_with_extension", 1), ("phone_uk", 1), ("zip_lost_leading_zero", 3),
    ("zip_plus4_bare", 1), ("state_full_name", 1), ("excel_text_formula", 1),
    ("multiline_note", 1), ("property_inquiry", 1), ("phone_only", 1), ("email_only", 1),
    ("no_id_email_key", 1), ("unfixable_zip", 1), ("unknown_state", 1),
    ("invalid_email_double_at", 1), ("invalid_email_no_at", 1), ("invalid_email_no_tld", 1),
    ("phone_scientific_notation", 2), ("phone_too_short", 1), ("duplicate_id", 2),
    ("no_contact_details", 1), ("no_contact_placeholders", 1), ("invalid_date", 1),
    ("invalid_email_and_phone", 1),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Planned:
    """A generated row and the outcome the import must plan for it."""

    values: list[str]
    key: str
    case: Case

    def expected(self, row: int) -> list[str]:
        """Return this row's line of the ``.expected.csv`` file (``row`` as in a spreadsheet)."""
        return [str(row), self.key, self.case.action, ";".join(self.case.codes),
                self.case.label, ";".join(self.case.warnings)]  # fmt: skip


def _contacts(values: Sequence[str]) -> set[str]:
    """The emails and phone digits of a row, for keeping sample people distinct."""
    row = dict(zip(HEADER, values, strict=True))
    emails = {row[c] for c in ("Email 1", "Email 2") if row[c]}
    return emails | {"".join(filter(str.isdigit, row[c])) for c in ("Phone 1", "Phone 2") if row[c]}


def build_people(rng: random.Random) -> list[Planned]:
    """Return the rows of the sample people file, each with its planned outcome."""
    labels = [label for label, count in PEOPLE_PLAN for _ in range(count)]
    for _ in range(3):
        labels.remove("clean")
    rng.shuffle(labels)
    labels = ["clean"] * 3 + labels  # a duplicate always has an earlier clean row to repeat
    names = rng.sample([(f, la) for f in FIRST_NAMES for la in LAST_NAMES], len(labels))
    factory = CleanRows(rng, pool_size=256)
    when, person_id = datetime(2024, 1, 8, 9, 30), 48_200
    planned: list[Planned] = []
    seen: dict[str, int] = {}
    used: set[str] = set()
    duplicated: Planned | None = None
    for label, (first, last) in zip(labels, names, strict=True):
        case = CASES[label]
        when += timedelta(minutes=15 * rng.randint(8, 160))
        if label == "duplicate_id":
            if duplicated is None:
                duplicated = rng.choice([p for p in planned if p.case.label == "clean"])
            values = list(duplicated.values)
            values[HEADER.index("Stage")] = "Active Client"  # the export repeats a merged person
        else:
            person_id += rng.randint(1, 40)
            added = format_added(when, rng.random() < 0.3)
            clean = factory.row(person_id, added, first, last)
            while _contacts(clean) & used:  # keep people distinct by email and phone too
                clean = factory.row(person_id, added, first, last)
            used |= _contacts(clean)
            values = apply_case(case, clean, seen.get(label, 0))
        seen[label] = seen.get(label, 0) + 1
        planned.append(Planned(values, row_key(values), case))
    return planned


def build_notes(rng: random.Random, people: list[Planned]) -> list[tuple[list[str], str, str, str]]:
    """Return note rows for the people file as ``(values, key, codes, case)``, oldest first."""
    created = [p for p in people if p.case.action == "create" and p.key.isdigit()]
    repeated = next(p for p in people if p.case.label == "duplicate_id").key
    ids = [p.key for p in created if p.key != repeated]
    with_notes = [repeated, *rng.sample(ids, 9)]
    rejected = [p.key for p in people if p.case.codes and p.case.codes != ("duplicate_key",)]
    highest = max(int(p.key) for p in people if p.key.isdigit())
    entries: list[tuple[str, str, str, str, str]] = []  # person, subject, body, codes, case
    for person, count in zip(with_notes, (3, 4, 3, 3, 2, 2, 2, 2, 2, 2), strict=True):
        for _ in range(count):
            subject, case = rng.choice(NOTE_SUBJECTS), "clean"
            body = rng.choice(NOTE_BODIES)
            if rng.random() < 0.2:
                body, case = rng.choice(MULTILINE_BODIES), "multiline_body"
            if person == repeated:
                case = "person_with_duplicate_rows"
            entries.append((person, subject, body, "", case))
    lowest = min(int(p.key) for p in people if p.key.isdigit())
    for person in (str(highest + 7_311), str(lowest - 9_052)):
        entries.append(
            (person, "Phone call", rng.choice(NOTE_BODIES), "unknown_lead", "unknown_person")
        )
    for person in rng.sample(rejected, 2):
        entries.append(
            (person, "Follow-up", rng.choice(NOTE_BODIES), "unknown_lead", "rejected_person")
        )
    entries.append((rng.choice(ids), "", "", "missing_description", "empty_body_and_subject"))
    rng.shuffle(entries)
    when = datetime(2024, 3, 16, 14, 5)
    notes = []
    for person, subject, body, codes, case in entries:
        when += timedelta(minutes=5 * rng.randint(3, 700))
        stamp = when.strftime("%Y-%m-%d %H:%M:%S")
        notes.append(([person, stamp, rng.choice(AGENTS), subject, body], person, codes, case))
    return notes


LEGACY_PEOPLE = (
    ("José", "Alvarez", "accented_name", ""), ("Lena", "Müller", "accented_name", ""),
    ("François", "Dubois", "accented_name", ""), ("Zoë", "Hart", "accented_name", ""),
    ("Owen", "Marsh", "smart_quotes_note", "“Loves the porch,” she said – wants ‘move-in ready’."),
    ("Nora", "Holt", "euro_note", "Budget includes €20,000 from family abroad."),
    ("Caleb", "Reyes", "clean", ""), ("Iris", "Lane", "clean", ""),
)  # fmt: skip


def build_legacy(rng: random.Random) -> list[Planned]:
    """Return the rows of the cp1252 file: all valid, several with non-ASCII text."""
    factory = CleanRows(rng, pool_size=256)
    planned, when, person_id = [], datetime(2016, 2, 1, 10, 0), 7_000
    for first, last, label, note in LEGACY_PEOPLE:
        when += timedelta(days=rng.randint(3, 40))
        person_id += rng.randint(1, 25)
        values = factory.row(person_id, format_added(when, True), first, last)
        row = dict(zip(HEADER, values, strict=True))
        row["Email 1"] = row["Email 1"].translate(_ASCII_FOLD)
        row["Email 2"] = row["Email 2"].translate(_ASCII_FOLD)
        row["Notes"] = note
        values = [row[column] for column in HEADER]
        case = Case(label, _clean)
        planned.append(Planned(values, row_key(values), case))
    return planned


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]], *,
           encoding: str = "utf-8", delimiter: str = ",", newline: str = "\n") -> Path:  # fmt: skip
    with open(path, "w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_samples(out_dir: Path = HERE, *, seed: int = 2024) -> list[Path]:
    """Write the sample files and their ``.expected.csv`` files into ``out_dir``.

    Returns the paths written. The output depends only on ``seed``.
    """
    rng = random.Random(seed)
    people = build_people(rng)
    notes = build_notes(rng, people)
    legacy = build_legacy(rng)
    fub = "followupboss_people"
    return [
        _write(out_dir / f"{fub}.csv", HEADER, (p.values for p in people),
               encoding="utf-8-sig", newline="\r\n"),
        _write(out_dir / f"{fub}.expected.csv", EXPECTED_HEADER,
               (p.expected(i) for i, p in enumerate(people, start=2))),
        _write(out_dir / "followupboss_notes.csv", NOTES_HEADER, (n[0] for n in notes)),
        _write(out_dir / "followupboss_notes.expected.csv", NOTES_EXPECTED_HEADER,
               ([str(i), key, "reject" if codes else "create", codes, case]
                for i, (_, key, codes, case) in enumerate(notes, start=2))),
        _write(out_dir / "followupboss_legacy_cp1252.csv", HEADER, (p.values for p in legacy),
               encoding="cp1252", delimiter=";", newline="\r\n"),
        _write(out_dir / "followupboss_legacy_cp1252.expected.csv", EXPECTED_HEADER,
               (p.expected(i) for i, p in enumerate(legacy, start=2))),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=HERE, help="where the samples go")
    parser.add_argument("--big", type=int, metavar="N", help="write a big people file of N rows")
    parser.add_argument("--out", type=Path, help="the big file's path (with --big)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the big file")
    parser.add_argument("--dirty-share", type=float, default=0.03, help="share of dirty rows")
    args = parser.parse_args(argv)
    if args.big is None:
        for path in write_samples(args.out_dir):
            print(f"wrote {path}")
        return 0
    if args.out is None or args.big < 0:
        parser.error("--big needs a row count >= 0 and --out PATH")
    began = time.perf_counter()
    write_fub_people(args.out, args.big, seed=args.seed, dirty_share=args.dirty_share)
    print(f"wrote {args.big:,} rows to {args.out} in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
