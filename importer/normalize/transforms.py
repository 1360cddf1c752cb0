"""Value normalisers that mapping files apply to whole columns.

Each takes a pandas Series of raw cell text (a chunk of a spreadsheet column)
and returns, aligned on the same index, either cleaned text or a ``Cleaned``:
the normalised values ("" where a cell was empty or invalid), a bool
``invalid`` mask (True where a non-empty cell could not be normalised), and
for some, ``notes`` (side text worth keeping, such as a phone extension).

Every normaliser is idempotent: applied to its own output it returns the
same output, and an output is never invalid (``half_part`` is the one
derivation that is not a normaliser). They are vectorised: the common shapes
of a column are handled with C-level string operations and numpy, and the
expensive library calls (phonenumbers, email-validator) are made once per
distinct value that needs them.

The implementations live in small modules by subject; this module is the
one place the rest of the tool imports them from.
"""

from __future__ import annotations

from importer.normalize.addresses import normalize_state, normalize_zip
from importer.normalize.dates import parse_datetime, valid_iso_datetime_mask
from importer.normalize.emails import normalize_email, valid_email_mask
from importer.normalize.names import split_name
from importer.normalize.numbers import floor_integer, half_part, to_integer
from importer.normalize.phones import normalize_phone
from importer.normalize.text import (
    PLACEHOLDERS,
    Cleaned,
    clean_multiline,
    clean_text,
    lower,
    map_values,
    split_multi,
    title_case,
    upper,
)

__all__ = [
    "PLACEHOLDERS",
    "Cleaned",
    "clean_multiline",
    "clean_text",
    "floor_integer",
    "half_part",
    "lower",
    "map_values",
    "normalize_email",
    "normalize_phone",
    "normalize_state",
    "normalize_zip",
    "parse_datetime",
    "split_multi",
    "split_name",
    "title_case",
    "to_integer",
    "upper",
    "valid_email_mask",
    "valid_iso_datetime_mask",
]
