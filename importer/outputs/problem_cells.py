"""Which cell of a rejected row a problem is about, for rejects.xlsx.

A ``Problem`` names its column when it knows it: the mapping stage names the
source header the bad value came from (``Email 2``), the schema checks name
the Real Geeks field (``email``), or the activity's (``created``, a property's
``price``). A field is followed back through the mapping to the source
columns it reads; of several (aliases, a repeated group), the first one with a
value in the row is the cell marked. A problem naming no column (a duplicate
key, no contact at all, a ragged row, an API refusal) is about the whole row:
``position`` gives None.
"""

from __future__ import annotations

from collections.abc import Sequence

from importer.mapping.spec import Mapping, ValueSpec
from importer.models import Problem
from importer.read.headers import normalize_header

_MAX_GROUP_N = 50  # as many numbered columns as the binding tries (Email 1 .. Email 50)
# the words the schema checks put before an activity's column in their messages
_ACTIVITY_WORDS = ("activity ", "property ")


class ProblemCells:
    """Finds a problem's column among a reject file's original ``headers``."""

    def __init__(self, headers: Sequence[str], mapping: Mapping | None):
        self._exact: dict[str, int] = {}
        self._loose: dict[str, int] = {}
        for position, header in enumerate(headers):
            self._exact.setdefault(header, position)
            self._loose.setdefault(normalize_header(header), position)
        self._fields: dict[str, list[int]] = {}
        self._activity_fields: dict[str, list[int]] = {}
        if mapping is not None:
            self._learn(mapping)

    def _columns(self, names: Sequence[str]) -> list[int]:
        found = (self._loose.get(normalize_header(n)) for n in names)
        return list(dict.fromkeys(p for p in found if p is not None))

    def _learn(self, mapping: Mapping) -> None:
        for name, spec in mapping.fields.items():
            self._fields[name] = self._columns(spec.referenced_columns())
        for group in mapping.groups:
            names = [
                pattern.replace("{n}", str(n))
                for pattern in group.columns
                for n in (range(1, _MAX_GROUP_N + 1) if "{n}" in pattern else (0,))
            ]
            for name in group.fields:
                self._fields[name] = [*self._fields.get(name, []), *self._columns(names)]
        for activity in mapping.activities:
            specs: dict[str, ValueSpec | None] = {
                "description": activity.description, "created": activity.created,
                **activity.property,
            }  # fmt: skip
            for name, given in specs.items():
                if given is not None:
                    found = self._activity_fields.setdefault(name, [])
                    found += [
                        p for p in self._columns(given.referenced_columns()) if p not in found
                    ]
        if mapping.full_name is not None:  # a bad first or last name came from the whole name
            for name in ("first_name", "last_name"):
                if not self._fields.get(name):
                    self._fields[name] = self._columns(mapping.full_name.referenced_columns())

    def position(self, problem: Problem, cells: Sequence[str]) -> int | None:
        """The position among the original columns of the cell ``problem`` is about, or None."""
        column = problem.column
        if not column:
            return None
        if column in self._exact:  # a source header, as the mapping stage names them
            return self._exact[column]
        activity = problem.message.startswith(_ACTIVITY_WORDS)
        lookups = (
            (self._activity_fields, self._fields)
            if activity
            else (self._fields, self._activity_fields)
        )
        for lookup in lookups:
            candidates = lookup.get(column)
            if candidates:
                filled = [p for p in candidates if p < len(cells) and cells[p] != ""]
                return (filled or candidates)[0]
        return self._loose.get(normalize_header(column))
