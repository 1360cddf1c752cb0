"""Email addresses: cleaned, lower-cased, and valid by email-validator's rules.

An address is valid when ``email_validator.validate_email(address,
check_deliverability=False)`` accepts it; no DNS is ever queried. That call
costs ~50 µs, so ordinary addresses (plain ASCII ``local@label.label.tld``)
are recognised by ``FAST_EMAIL``, a regex that accepts only addresses the
library accepts unchanged; the library sees the rest, each distinct one once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from importer.normalize.column_text import SEP, cells_at, find_all, flags, like, map_unique, texts
from importer.normalize.text import Cleaned, clean_values

_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_SPECIAL_USE = ("arpa", "invalid", "local", "localhost", "onion", "test")  # email-validator's list
# Addresses email-validator accepts exactly as they are (with the length
# check ``len(address) <= FAST_MAX_LENGTH``, which keeps every domain label
# under its 63-character limit): a dot-atom local part; two or more domain
# labels of letters and digits joined by single hyphens (so no "--", which
# the library reserves for "xn--" labels it decodes); an alphabetic top-level
# domain that is not special-use. Lower-case ASCII only; possessive
# quantifiers keep the regex from backtracking.
FAST_EMAIL = re.compile(
    rf"{_ATEXT}++(?:\.{_ATEXT}++)*+@(?:[a-z0-9]++(?:-[a-z0-9]++)*+\.)++"
    rf"(?!(?:{'|'.join(_SPECIAL_USE)})\Z)[a-z]{{2,63}}",
    re.ASCII,
)
FAST_MAX_LENGTH = 64
_MAILTO = re.compile(r"mailto:\s*", re.IGNORECASE)
_UNWRAP_EDGES = ' "<>;,'  # not "'": it is a valid address character


def library_email(address: str) -> str | None:
    """email-validator's normalised form of ``address``, or None if it refuses it."""
    # Imported on first use: its import compiles large patterns (0.03 s of
    # every start-up), and most files hold no address the fast checks leave open.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def _unwrap(value: str) -> str:
    """The address inside "mailto:a@b.com", "Ana <a@b.com>", "<a@b.com>;"."""
    text = value.lower()
    mailto = _MAILTO.match(text)
    text = text[mailto.end() :] if mailto else text
    if text.endswith(">") and "<" in text:
        text = text[text.rindex("<") + 1 : -1]
    return text.strip(_UNWRAP_EDGES)


def is_fast_email(address: str) -> bool:
    """True when ``address`` is one that email-validator accepts unchanged (see ``FAST_EMAIL``)."""
    return len(address) <= FAST_MAX_LENGTH and FAST_EMAIL.fullmatch(address) is not None


def surely_invalid(address: str) -> bool:
    """Cheap checks for addresses email-validator always refuses: no "@" or
    more than one, whitespace, "..", a dot or nothing next to the "@", an
    ASCII domain without a dot or under a special-use name."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or "@" in local or ".." in address:
        return True
    if local.endswith(".") or domain.startswith(".") or any(c.isspace() for c in address):
        return True
    if domain.isascii():
        last = domain.rpartition(".")[2]
        return "." not in domain or last in _SPECIAL_USE or domain.endswith(".")
    return False


def email_slow(value: str) -> str | None:
    """The full rule for one cleaned, non-empty cell: unwrap, lower-case, then
    the fast check or email-validator. Returns the address or None if invalid."""
    address = _unwrap(value)
    if is_fast_email(address):
        return address
    if surely_invalid(address):
        return None  # skip the library's ~50 µs
    return library_email(address)


def _deny_suffixes(deny_domains: Iterable[str]) -> tuple[str, ...]:
    domains = {d.strip().lstrip("@").lower() for d in deny_domains if d.strip().lstrip("@")}
    return tuple(f"{sep}{d}" for d in sorted(domains) for sep in ("@", "."))


def normalize_email(s: pd.Series, *, deny_domains: Iterable[str] = ()) -> Cleaned:
    """Email addresses trimmed, lower-cased, unwrapped and validated.

    "mailto:" prefixes and "Name <address>" wrappers are removed, and the whole
    address is lower-cased. Invalid addresses give "" and invalid. Addresses
    at a ``deny_domains`` domain or one of its subdomains (e.g. kvCORE's
    ``kvleads.com`` placeholders) give "" but are not invalid; ``notes`` then
    holds the address that was dropped. Idempotent.
    """
    values = clean_values(texts(s))
    fast, longest = FAST_EMAIL.fullmatch, FAST_MAX_LENGTH
    lowered = [v.lower() for v in values]
    out = np.array([w if len(w) <= longest and fast(w) else "" for w in lowered], dtype=object)
    invalid = np.zeros(len(values), dtype=bool)
    rest = [i for i in np.flatnonzero(out == "").tolist() if values[i]]
    for i, address in zip(rest, map_unique((values[i] for i in rest), email_slow), strict=True):
        out[i] = address or ""
        invalid[i] = address is None
    notes = np.full(len(values), "", dtype=object)
    suffixes = _deny_suffixes(deny_domains)
    if suffixes:
        text = SEP + SEP.join(out.tolist()) + SEP
        hits = sorted({at for suffix in suffixes for at in find_all(text, suffix + SEP)})
        denied = np.array(sorted(set(cells_at(text, hits))), dtype=np.int64)
        notes[denied], out[denied] = out[denied], ""
    return Cleaned(like(s, out.tolist()), flags(s, invalid), like(s, notes.tolist()))


def valid_email_mask(s: pd.Series) -> pd.Series:
    """True where a cell is "" or an address email-validator accepts as it is
    written (for checking values that were already normalised)."""
    values = texts(s)
    fast, longest = FAST_EMAIL.fullmatch, FAST_MAX_LENGTH
    ok = [not v or (len(v) <= longest and fast(v) is not None) for v in values]
    rest = [i for i, good in enumerate(ok) if not good]
    check = lambda v: not surely_invalid(v) and library_email(v) is not None  # noqa: E731
    for i, good in zip(rest, map_unique((values[i] for i in rest), check), strict=True):
        ok[i] = good
    return flags(s, ok)
