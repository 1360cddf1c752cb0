"""Recognise an export by its header row, and help write a mapping for a new one.

Every mapping file may carry a ``detect:`` fingerprint: headers that must all
be present (``require_all``), of which one must be present (``require_any``),
and prefixes one header must start with (``prefix_any``, e.g. Pipedrive's
``Person - ``). Headers are compared as ``importer.read.table.normalize_header``
does: without regard to case, spacing or a BOM.

Several fingerprints may match one header row (every CRM has "First Name").
Each match is scored by how specific its evidence is: a fingerprint header
counts 1/k when k fingerprints of the catalog name it, so "First Name" (named
by many) weighs little and "Lifecycle Stage" (HubSpot only) a whole point; a
matched prefix counts once, the same way. The best match wins when it is at
least ``CLEAR_LEAD`` ahead of the next; closer than that is a tie, and a tie is
never settled by guessing.

    detect(headers)   every mapping whose fingerprint matches, most specific first
    choose(headers)   the one mapping clearly ahead, or ConfigError

A starter mapping for a file nothing recognises is ``importer.catalog.suggest``;
checking a mapping file is ``importer.catalog.lint``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from importer.errors import ConfigError, MappingError
from importer.mapping.files import iter_mapping_files, load_mapping
from importer.mapping.spec import Detect, Mapping
from importer.read.headers import normalize_header

__all__ = [
    "BrokenMapping",
    "Match",
    "choose",
    "clear_winner",
    "column_matcher",
    "detect",
    "fingerprint_summary",
    "has_fingerprint",
    "load_catalog",
]

_NUMBER_MARK = "qxnumberxq"  # stands for {n} while a name is normalised

# How far (in whole distinctive headers) the best match must lead the next one
# to be chosen without --mapping: half a header, so two layouts that differ only
# by headers shared with other layouts stay a tie.
CLEAR_LEAD = 0.5


@dataclass(frozen=True)
class Match:
    """A mapping whose fingerprint fits a header row.

    ``specificity`` weighs the evidence: each fingerprint header found counts
    1/k when k fingerprints of the catalog name it (see the module docstring).
    ``score`` is the share (0..1) of the file's columns that the mapping reads
    or ignores on purpose: how well it fits beyond its fingerprint.
    ``evidence`` holds the headers that satisfied the fingerprint.
    """

    mapping: Mapping
    score: float
    evidence: tuple[str, ...]
    specificity: float = 0.0

    @property
    def name(self) -> str:
        return self.mapping.name


@dataclass(frozen=True)
class BrokenMapping:
    """A mapping file on the search path that does not load, with the reason."""

    path: Path
    message: str


def _norm(text: str) -> str:
    return normalize_header(text)


def has_fingerprint(mapping: Mapping) -> bool:
    """Whether the mapping says how to recognise its files at all."""
    d = mapping.detect
    return bool(d.require_all or d.require_any or d.prefix_any)


def fingerprint_evidence(detect: Detect, headers: Sequence[str]) -> tuple[str, ...] | None:
    """The headers that satisfy the fingerprint, or None when it does not match."""
    if not (detect.require_all or detect.require_any or detect.prefix_any):
        return None
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(_norm(h), h)
    evidence: list[str] = []
    for name in detect.require_all:
        hit = by_norm.get(_norm(name))
        if hit is None:
            return None
        evidence.append(hit)
    if detect.require_any:
        hits = [by_norm[_norm(n)] for n in detect.require_any if _norm(n) in by_norm]
        if not hits:
            return None
        evidence += hits
    if detect.prefix_any:
        # normalised, "Person - " loses its trailing space: "person - name" still starts with it
        prefixes = tuple(_norm(p) for p in detect.prefix_any)
        hits = [h for n, h in by_norm.items() if n.startswith(prefixes)]
        if not hits:
            return None
        evidence += hits[:3]
    return tuple(dict.fromkeys(evidence))


def column_matcher(names: Iterable[str]) -> re.Pattern[str]:
    """A pattern matching the normalised headers that ``names`` refer to.

    ``{n}`` in a name stands for a column number (``Email {n}`` → ``email 7``).
    """
    parts = []
    for name in dict.fromkeys(names):
        # normalise the whole name (spaces around {n} matter), then open up the number
        marked = re.escape(_norm(name.replace("{n}", _NUMBER_MARK)))
        parts.append(marked.replace(_NUMBER_MARK, r"\d{1,2}"))
    return re.compile("|".join(f"(?:{p})" for p in parts) if parts else r"(?!)")


def _coverage(mapping: Mapping, headers: Sequence[str]) -> float:
    if not headers:
        return 0.0
    matcher = column_matcher(mapping.referenced_columns())
    known = sum(1 for h in headers if matcher.fullmatch(_norm(h)))
    return round(known / len(headers), 3)


def load_catalog(
    paths: Iterable[Path] | None = None,
) -> tuple[list[Mapping], list[BrokenMapping]]:
    """Every mapping on the search path (``./mappings`` first, then the shipped
    ones), and the files among them that do not load."""
    mappings: list[Mapping] = []
    broken: list[BrokenMapping] = []
    for path in paths if paths is not None else iter_mapping_files():
        try:
            mappings.append(_load_cached(path))
        except MappingError as exc:
            broken.append(BrokenMapping(path, str(exc)))
    return mappings, broken


# path -> (mtime_ns, size, mapping): YAML parsing is the slow part of detection,
# and a file is parsed again as soon as it changes.
_LOADED: dict[Path, tuple[int, int, Mapping]] = {}


def _load_cached(path: Path) -> Mapping:
    try:
        stat = path.stat()
    except OSError:
        return load_mapping(path)  # load_mapping words the error
    known = _LOADED.get(path)
    if known is not None and known[:2] == (stat.st_mtime_ns, stat.st_size):
        return known[2]
    mapping = load_mapping(path)
    _LOADED[path] = (stat.st_mtime_ns, stat.st_size, mapping)
    return mapping


def _named_by(pool: Sequence[Mapping]) -> tuple[Counter[str], Counter[str]]:
    """How many fingerprints name each header, and each prefix (normalised)."""
    headers: Counter[str] = Counter()
    prefixes: Counter[str] = Counter()
    for mapping in pool:
        d = mapping.detect
        headers.update({_norm(h) for h in (*d.require_all, *d.require_any)})
        prefixes.update({_norm(p) for p in d.prefix_any})
    return headers, prefixes


def _specificity(
    detect: Detect, evidence: Sequence[str], named: tuple[Counter[str], Counter[str]]
) -> float:
    headers, prefixes = named
    total = 0.0
    for hit in {_norm(h) for h in evidence}:
        if headers[hit]:
            total += 1 / headers[hit]
    for prefix in {_norm(p) for p in detect.prefix_any}:
        if any(_norm(h).startswith(prefix) for h in evidence):
            total += 1 / max(prefixes[prefix], 1)
    return round(total, 3)


def detect(headers: Sequence[str], mappings: Iterable[Mapping] | None = None) -> list[Match]:
    """Every mapping whose fingerprint matches ``headers``, most specific first
    (then by the share of columns read, then by name).

    ``mappings`` defaults to every mapping on the search path (files that do
    not load are skipped; ``rg-import mappings list`` shows them); the weights
    of the evidence are counted over the same pool.
    """
    pool = list(mappings) if mappings is not None else load_catalog()[0]
    named = _named_by(pool)
    matches = []
    for mapping in pool:
        evidence = fingerprint_evidence(mapping.detect, headers)
        if evidence is not None:
            matches.append(
                Match(
                    mapping, _coverage(mapping, headers), evidence,
                    _specificity(mapping.detect, evidence, named),
                )
            )  # fmt: skip
    return sorted(matches, key=lambda m: (-m.specificity, -m.score, m.name))


def clear_winner(matches: Sequence[Match]) -> Match | None:
    """The first of ``detect``'s matches when it leads the next by ``CLEAR_LEAD``
    or more (or is alone); None when there is none or a tie."""
    if not matches:
        return None
    if len(matches) == 1 or matches[0].specificity - matches[1].specificity >= CLEAR_LEAD:
        return matches[0]
    return None


def choose(headers: Sequence[str], mappings: Iterable[Mapping] | None = None) -> Mapping:
    """The one mapping whose fingerprint matches ``headers`` best, clearly.

    Raises ConfigError (one line: the candidates, and to pass --mapping) when
    no mapping matches, or when the best ones tie.
    """
    matches = detect(headers, mappings)
    winner = clear_winner(matches)
    if winner is not None:
        return winner.mapping
    if not matches:
        shown = ", ".join(repr(h) for h in headers[:6]) + (" ..." if len(headers) > 6 else "")
        raise ConfigError(
            f"no mapping recognises this header ({shown or 'empty'}); pass --mapping NAME "
            "(see rg-import mappings list) or start one with rg-import mappings suggest INPUT"
        )
    tied = [m for m in matches if matches[0].specificity - m.specificity < CLEAR_LEAD]
    names = "; ".join(
        f"{m.name} ({m.mapping.crm or 'no CRM'}, {m.mapping.confidence}; "
        f"found {', '.join(repr(e) for e in m.evidence[:4])})"
        for m in tied
    )
    raise ConfigError(
        f"this header fits {len(tied)} mappings equally well: {names}; nothing in the header "
        f"tells them apart, so pass --mapping {tied[0].name} (or --mapping {tied[1].name}, "
        "...) with the one your file came from"
    )


def fingerprint_summary(mapping: Mapping) -> str:
    """The fingerprint in words, e.g. "all of: Record ID; one of: Contact owner, ..."."""
    d = mapping.detect
    parts = []
    if d.require_all:
        parts.append("all of: " + ", ".join(d.require_all))
    if d.require_any:
        parts.append("one of: " + ", ".join(d.require_any))
    if d.prefix_any:
        parts.append("a column starting with: " + ", ".join(repr(p) for p in d.prefix_any))
    return "; ".join(parts) if parts else "none (never chosen automatically; pass --mapping)"
