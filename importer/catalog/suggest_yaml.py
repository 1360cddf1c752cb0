"""Render ``importer.catalog.suggest``'s guesses as a starter mapping file.

The text is YAML that ``importer.mapping.parse.parse_mapping`` accepts as it is,
with a comment on every guessed line (confidence and reason) so people know
what to check. Column names are always quoted, so any header is safe.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from importer.catalog.guess import Guess
from importer.read.headers import normalize_header

# Fields whose odd values are better left out (with a warning) than a rejected row.
_LENIENT = ("state", "zip", "role", "created")
_FIELD_ORDER = ("first_name", "last_name", "street_address", "city", "state", "zip", "address",
                "region", "role", "created")  # fmt: skip
_GROUPS = (("email", "[email, second_email]"), ("phone", "[phone, phone2]"))


def _country_lines(headers: Sequence[str]) -> list[str]:
    """How phones are read: the row's country column when there is one, else the
    --phone-region (a fixed phone_region here would override that flag)."""
    countries = [h for h in headers if "country" in h.casefold()]
    lines = ["  # phone_region: US           # uncomment to fix the region of numbers without +"]
    if countries:
        listed = ", ".join(_q(h) for h in countries)
        lines.insert(
            0, f"  country_columns: [{listed}]   # each row's phones are read in its country"
        )
    return lines


def _q(text: str) -> str:
    return quote(text)


def _why(guess: Guess) -> str:
    return f"# {guess.confidence:.2f} {comment_text(guess.reason)}"


def _ordered(guesses: list[Guess]) -> list[Guess]:
    return sorted(guesses, key=lambda g: -g.confidence)


def _column_list(lines: list[str], indent: str, guesses: list[Guess]) -> None:
    for g in guesses:
        lines.append(f"{indent}- {_q(g.column)}  {_why(g)}")


def _templatable(header: str) -> bool:
    return "{" not in header and "}" not in header and "\n" not in header


def _fingerprint(
    headers: Sequence[str], by_target: dict[str, list[Guess]], unmatched: list[str]
) -> list[str]:
    """A few headers that pick out files like this one and few others."""
    keys = [g.column for g in by_target.get("key", [])][:1]
    distinctive = [h for h in unmatched if h not in keys][:3]
    chosen = keys + distinctive
    if len(chosen) < 3:
        known = [g.column for gs in by_target.values() for g in gs if g.column not in chosen]
        chosen += sorted(known, key=list(headers).index)[: 4 - len(chosen)]
    return chosen or list(headers[:3])


def render(
    name: str,
    headers: Sequence[str],
    by_target: dict[str, list[Guess]],
    unmatched: list[str],
    questions: Sequence[Guess] = (),
) -> str:
    """The starter mapping as YAML text (see the module docstring)."""
    lines = _preamble(name, headers, by_target, unmatched)
    lines += _key(by_target)
    lines += [
        "",
        "unmapped: note                 # columns not read below go into one note per lead",
        "",
    ]
    lines += _fields(by_target)
    lines += _groups(by_target)
    lines += _activities(by_target)
    lines += _ignored(by_target)
    lines += _unmatched(unmatched)
    lines += _questions(questions)
    return "\n".join(lines) + "\n"


def _preamble(
    name: str, headers: Sequence[str], by_target: dict[str, list[Guess]], unmatched: list[str]
) -> list[str]:
    """How to use the file, who it is for, how files like it are recognised, its options."""
    crm = name.replace("_", " ").title()
    return [
        "# Starter mapping proposed by `rg-import mappings suggest`. Edit it before use:",
        "# each guessed line ends with how sure the guess is (0-1) and why; check the",
        "# low ones first. Then run",
        "#   rg-import mappings check THIS_FILE --sample YOUR_EXPORT",
        "#   rg-import plan YOUR_EXPORT --mapping THIS_FILE",
        f"name: {_q(name)}",
        f"crm: {_q(crm)}  # the CRM's name, shown in listings and notes",
        f"description: {_q(f'Export with {len(headers)} columns')}",
        "confidence: unverified",
        "kind: lead",
        f"source: {_q(crm + ' import')}  # the lead source agents see; keep it once you import",
        "",
        "detect:                        # how files like this one are recognised",
        "  require_all: [" + ", ".join(_q(h) for h in _fingerprint(headers, by_target, unmatched)) + "]",
        "",
        "options:",
        *_country_lines(headers),
        "  timezone: UTC                # the time zone of dates written without one",
        "",
    ]  # fmt: skip


def _key(by_target: dict[str, list[Guess]]) -> list[str]:
    keys = _ordered(by_target.get("key", []))
    if not keys:
        return ["# No record id found: rows are keyed by email, or by phone and name."]
    lines = [
        "key:                           # the record id: re-runs update, never duplicate",
        "  from:",
    ]
    _column_list(lines, "    ", keys)
    return lines


def _ignored(by_target: dict[str, list[Guess]]) -> list[str]:
    ignored = by_target.get("ignore", [])
    if not ignored:
        return []
    lines = ["", "ignore:                        # read on purpose and not wanted in the note"]
    _column_list(lines, "  ", ignored)
    return lines


def _unmatched(unmatched: list[str]) -> list[str]:
    if not unmatched:
        return []
    return [
        "",
        '# Not matched to any field; they go into the note as "Header: value":',
        *(f"#   {comment_text(h)}" for h in unmatched),
    ]


def _questions(questions: Sequence[Guess]) -> list[str]:
    """Loose guesses at who-the-lead-is fields, asked instead of used."""
    if not questions:
        return []
    return [
        "",
        "# Questions: these columns only look a little like who-the-lead-is fields, so",
        "# they were left to the note. If one is right, add it under fields: above:",
        *(
            f"#   {comment_text(q.column)} -> {q.target}? ({q.confidence:.2f}, "
            f"{comment_text(q.reason)})"
            for q in questions
        ),
    ]


def _fields(by_target: dict[str, list[Guess]]) -> list[str]:
    lines = ["fields:"]
    full = _ordered(by_target.get("full_name", []))
    for name in _FIELD_ORDER:
        found = _ordered(by_target.get(name, []))
        split = name in ("first_name", "last_name") and full
        if not found and not split:
            continue
        lines.append(f"  {name}:")
        if found:
            lines.append("    from:")
            _column_list(lines, "      ", found)
            if split:
                lines.append(f"    fallback: {{from: [{_q(full[0].column)}], transform: {name}}}"
                             f"  {_why(full[0])}")  # fmt: skip
        else:
            lines.append("    from:")
            _column_list(lines, "      ", full[:1])
            lines.append(f"    transform: {name}       # split the full name")
        if name == "role":
            lines.append("    transform: {map: role}")
        if name in _LENIENT:
            lines.append("    on_invalid: drop           # a bad value is left out, with a warning")
    details = [g for g in _ordered(by_target.get("source_details", [])) if _templatable(g.column)]
    if details:
        lines += ["  source_details:", "    template:"]
        for g in sorted(details, key=lambda g: g.column):
            label = g.label or normalize_header(g.column)
            lines.append(f"      - {_q(label + ': {' + g.column + '}')}  {_why(g)}")
        lines.append('    join: "; "')
    if len(lines) == 1:
        lines.append("  {}                          # nothing recognised: fill this in")
    return lines


def _groups(by_target: dict[str, list[Guess]]) -> list[str]:
    lines: list[str] = []
    for target, fields in _GROUPS:
        found = by_target.get(target, [])
        if found:
            lines += [f"  - fields: {fields}", "    columns:"]
            _column_list(lines, "      ", found)  # file order: Email 1 before Email 2
    return ["", "groups:", *lines] if lines else []


def _activities(by_target: dict[str, list[Guess]]) -> list[str]:
    notes = [g for g in by_target.get("note", []) if _templatable(g.column)]
    if not notes:
        return []
    created = _ordered(by_target.get("created", []))
    lines = ["", "activities:"]
    for g in notes:
        title = re.sub(r"\s+", " ", g.column)
        lines += ["  - type: note", f"    description: {{template: {_q(title + ':' + chr(10) + '{' + g.column + '}')}}}  {_why(g)}"]  # fmt: skip
        if created:
            lines.append(f"    created: [{_q(created[0].column)}]")
    return lines


def quote(text: str) -> str:
    """A double-quoted YAML scalar for any text.

    JSON strings are valid YAML; characters YAML does not allow as they are
    (controls, line separators) are escaped, readable ones (é, ñ) are kept.
    """
    return "".join(
        c if c.isprintable() else json.dumps(c)[1:-1] for c in json.dumps(text, ensure_ascii=False)
    )


def comment_text(text: str) -> str:
    """Text safe inside a YAML comment: one line, printable characters only."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
