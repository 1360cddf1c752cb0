"""Splitting a full-name cell into first and last name.

Rules, applied to the cleaned cell:

* A comma means "Last, First": "Prado, Ana" → ("Ana", "Prado"), unless what
  follows the comma is only a suffix: "Ana Prado, Jr." is "Ana Prado Jr.".
* Otherwise the last word is the last name, with the particles in front of it
  (de, da, del, della, di, du, dos, das, van, von, der, den, ter, le, la, st,
  bin, ibn, al, el): "Ana Maria de la Cruz" → ("Ana Maria", "de la Cruz"). The
  first word always stays the first name.
* Suffixes (Jr., Sr., II, III, IV, Esq., MD, PhD …) stay with the last name
  when at least two other words remain: "John Smith Jr." → ("John", "Smith Jr.").
* Leading titles (Mr., Mrs., Ms., Dr., Prof., Rev. …) are dropped: "Dr. Ana
  Prado" → ("Ana", "Prado"); with a single word left it is the last name:
  "Mr. Smith" → ("", "Smith").
* One word is a first name: "Cher" → ("Cher", "").
* A cell with no letters, only digits and phone punctuation (kvCORE puts the
  phone number in the name when there is none) gives ("", "").

For a cell without a comma, splitting "first last" rebuilt from the result
gives the same result again whenever both parts are non-empty.
"""

from __future__ import annotations

import re
from operator import itemgetter

import numpy as np
import pandas as pd

from importer.normalize.column_text import like, map_unique, pack, texts
from importer.normalize.text import clean_values

PARTICLES = frozenset({
    "de", "da", "del", "della", "dela", "di", "du", "dos", "das", "do", "van", "von", "der",
    "den", "ter", "ten", "le", "la", "st", "st.", "saint", "bin", "ibn", "al", "el",
})  # fmt: skip
SUFFIXES = frozenset({
    "jr", "sr", "ii", "iii", "iv", "2nd", "3rd", "4th", "esq", "md", "phd", "dds", "dvm", "cpa", "rn",
})  # fmt: skip
TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "fr", "sir", "dame", "madam", "mme", "mlle", "hon",
})  # fmt: skip
_PHONE_LIKE = re.compile(r"[\d\s()+./#-]*\d[\d\s()+./#-]*")


def _key(word: str) -> str:
    return word.casefold().replace(".", "")


def _split_words(words: list[str]) -> tuple[str, str]:
    """(first, last) of a name given as words, in reading order."""
    while len(words) > 1 and _key(words[0]) in TITLES:
        words = words[1:]
        if len(words) == 1:
            return "", words[0]
    if len(words) == 1:
        return words[0], ""
    core, suffixes = words, list[str]()
    while len(core) > 2 and _key(core[-1]) in SUFFIXES:
        core, suffixes = core[:-1], [core[-1], *suffixes]
    start = len(core) - 1
    while start > 1 and core[start - 1].casefold() in PARTICLES:
        start -= 1
    return " ".join(core[:start]), " ".join(core[start:] + suffixes)


def split_one(value: str) -> tuple[str, str]:
    """(first, last) for one cleaned cell."""
    if not value or _PHONE_LIKE.fullmatch(value):
        return "", ""
    if "," in value:
        parts = [p for p in (part.strip() for part in value.split(",")) if p]
        suffixes = [p for p in parts[1:] if all(_key(w) in SUFFIXES for w in p.split())]
        core = [p for p in parts if p not in suffixes]
        if len(core) >= 2:
            first_words = " ".join(core[1:]).split()
            while len(first_words) > 1 and _key(first_words[0]) in TITLES:
                first_words = first_words[1:]
            return " ".join(first_words), " ".join([core[0], *suffixes])
        value = " ".join(core + suffixes)
    return _split_words(value.split())


_SPACE, _COMMA = ord(" "), ord(",")
# Lower-cased first two letters of each title, as 128 * first + second.
_TITLE_PAIRS = np.array(sorted({128 * ord(t[0]) + ord(t[1]) for t in TITLES}))


def fast_split(values: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """(rows, firsts, lasts) for the cells that are plainly "First Last": one
    space, no comma, both words starting with an ASCII letter, the first word
    not a title. ``split_one`` gives the same for them; the rest need it."""
    packed = pack(values)
    cp = packed.cp
    folded = cp | 32  # ASCII letters in lower case; no other character lands on a-z
    letter = (folded - ord("a")) < 26  # unsigned: below "a" wraps around
    space_at = np.flatnonzero(cp == _SPACE)
    space_cell = packed.cell_at(space_at)
    commas = np.bincount(packed.cell_at(np.flatnonzero(cp == _COMMA)), minlength=len(values))
    candidate = (np.bincount(space_cell, minlength=len(values)) == 1) & (commas == 0)
    split_at = np.zeros(len(values), dtype=np.int64)
    split_at[space_cell] = space_at  # the only space, for the candidates
    candidate &= letter[packed.starts] & letter[split_at + 1]
    pair = 128 * (packed.char(0).astype(np.int64) | 32) + (packed.char(1) | 32)
    maybe_title = np.flatnonzero(candidate & np.isin(pair, _TITLE_PAIRS))
    lengths = (split_at - packed.starts)[maybe_title].tolist()
    for i, length in zip(maybe_title.tolist(), lengths, strict=True):
        candidate[i] = _key(values[i][:length]) not in TITLES
    rows = np.flatnonzero(candidate)
    if not len(rows):
        return rows, [], []
    # Each chosen cell has exactly one space: joined with spaces and split
    # again, they alternate first, last, first, last …
    chosen = itemgetter(*rows.tolist())(values) if len(rows) > 1 else (values[rows[0]],)
    words = " ".join(chosen).split(" ")
    return rows, words[0::2], words[1::2]


def split_name(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(first names, last names) of full-name cells; rules in the module docstring."""
    values = clean_values(texts(s))
    rows, fast_firsts, fast_lasts = (
        fast_split(values) if values else (np.zeros(0, np.int64), [], [])
    )
    if len(rows) == len(values):  # every cell was a plain "First Last"
        return like(s, fast_firsts), like(s, fast_lasts)
    firsts = np.full(len(values), "", dtype=object)
    lasts = np.full(len(values), "", dtype=object)
    firsts[rows], lasts[rows] = fast_firsts, fast_lasts
    pending = np.fromiter(map(bool, values), dtype=bool, count=len(values))
    pending[rows] = False
    rest = np.flatnonzero(pending).tolist()
    for i, (first, last) in zip(
        rest, map_unique((values[i] for i in rest), split_one), strict=True
    ):
        firsts[i], lasts[i] = first, last
    return like(s, firsts.tolist()), like(s, lasts.tolist())
