"""Planning: decide, for every input row, what a run does with it.

``Planner`` is shared by ``rg-import plan`` (the dry run, ``importer.plan.plan_file``)
and ``rg-import run``: map a chunk, validate it, reject duplicate keys, and
compare each valid row with the ledger to choose create, update, unchanged or
reject. ``plan_block`` takes a block of raw records instead of parsed rows:
rows the ledger recognises by the digest of their bytes (unchanged since
sent, or rejected before) are then neither parsed nor mapped.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from importer.ledger.ledger import Ledger
from importer.ledger.records import CachedReject
from importer.mapping.apply import MappedChunk, map_chunk
from importer.mapping.binding import BoundMapping, bind
from importer.mapping.spec import Mapping
from importer.models import Outcome, Problem, RowWarning
from importer.plan import payloads
from importer.plan.dedupe import SeenKeys, key_hashes
from importer.plan.duplicates import file_duplicates, still_duplicates
from importer.plan.history import (
    attach_payloads,
    compare_with_ledger,
    link_activities,
    remember_rejects,
    sent_as,
    take_cached,
    take_known,
)
from importer.plan.rows import Checked, PlannedChunk
from importer.read import ragged as read_ragged

if TYPE_CHECKING:
    from importer.read.records import RecordBlock
    from importer.read.table import Table


class Planner:
    """Plans chunks of one input file; keeps what it needs across chunks."""

    def __init__(
        self,
        mapping: Mapping,
        columns: Sequence[str],
        headers: Sequence[str],
        *,
        site: str | None,
        ledger: Ledger | None = None,  # None: a plan without history
        payloads_needed: bool = False,
        clears_fields: bool = False,  # the update API can clear a field (v2); v1 cannot
        shows_fields: bool = False,  # plan.csv: read what unchanged rows were sent as
    ):
        self.mapping = mapping
        self.bound: BoundMapping = bind(mapping, columns, headers)
        self.site = site
        self.ledger = ledger if site else None
        self.payloads_needed = payloads_needed
        self.clears_fields = clears_fields
        self.shows_fields = shows_fields
        self.seen = SeenKeys()
        # raw-row digests depend on the mapping, the file's columns and this version
        self.digest_key = payloads.digest_key(mapping, columns)
        # the source lead ids are made with (an activity file: its leads' source)
        self._id_source = (
            mapping.link.source if mapping.kind == "activity" and mapping.link else mapping.source
        )

    # ----------------------------------------------------------------- one chunk

    def plan_chunk(self, frame: pd.DataFrame) -> PlannedChunk:
        """Plan one chunk of rows (index = spreadsheet row numbers)."""
        if self.ledger is None and not self.payloads_needed:
            return self.conclude(frame, self.check(frame))
        digests = payloads.raw_digests(frame, self.digest_key)
        rows = [int(r) for r in frame.index.tolist()]
        known, cached = self._recognise(rows, digests)
        ragged = read_ragged.found(frame)
        if ragged:
            # cells padded or joined by the reader are not the row: never "as sent before"
            known = {row: hit for row, hit in known.items() if row not in ragged}
            cached = {row: hit for row, hit in cached.items() if row not in ragged}
        return self._plan(frame, rows, digests, known, cached, None)

    def plan_piece(self, table: Table, piece: RecordBlock | pd.DataFrame) -> PlannedChunk:
        """``plan_chunk`` or ``plan_block``, for what ``Table.pieces`` yields."""
        if isinstance(piece, pd.DataFrame):
            return self.plan_chunk(piece)
        return self.plan_block(table, piece)

    def plan_block(self, table: Table, block: RecordBlock) -> PlannedChunk:
        """Plan a block of raw records: rows recognised by their bytes are never parsed."""
        if self.ledger is None and not self.payloads_needed:
            frame = table.parse(block)
            return self.conclude(frame, self.check(frame))
        digests = payloads.record_digests(block.records(), self.digest_key)
        all_rows = block.rows.tolist()
        known, cached = self._recognise(all_rows, digests)
        if known:
            wanted = [i for i, row in enumerate(all_rows) if row not in known]
            frame = table.parse(block, wanted)
        else:
            frame = table.parse(block)
        # blank rows and footers are gone from the frame: they are no rows at all
        read = set(frame.index.tolist())
        keep = [i for i, row in enumerate(all_rows) if row in known or row in read]
        rows = [all_rows[i] for i in keep]

        def read_rows(wanted_rows: list[int]) -> pd.DataFrame:
            return table.parse(block, block.positions(wanted_rows))

        return self._plan(frame, rows, [digests[i] for i in keep], known, cached, read_rows)

    def _recognise(
        self, rows: list[int], digests: list[str]
    ) -> tuple[dict[int, tuple[str, str, int]], dict[int, CachedReject]]:
        """Rows confirmed sent exactly as they are, and rows rejected before exactly as they are."""
        ledger, site = self.ledger, self.site
        if ledger is None or not site:
            return {}, {}
        known: dict[int, tuple[str, str, int]] = {}
        if self.mapping.kind != "activity":
            hits = ledger.lookup_digests(site, self.mapping.source, digests)
            known = {row: hits[d] for row, d in zip(rows, digests, strict=True) if d in hits}
        rest = [(row, d) for row, d in zip(rows, digests, strict=True) if row not in known]
        found = ledger.lookup_rejected(site, self.mapping.source, [d for _, d in rest])
        cached = {row: found[d] for row, d in rest if d in found}
        return known, cached

    def _plan(
        self,
        frame: pd.DataFrame,
        rows: list[int],
        digests: list[str],
        known: dict[int, tuple[str, str, int]],
        cached: dict[int, CachedReject],
        read_rows: Callable[[list[int]], pd.DataFrame] | None,
    ) -> PlannedChunk:
        """Plan ``rows`` (in file order; ``frame`` holds at least those not in ``known``).

        ``known`` rows are unchanged since they were confirmed sent, ``cached``
        ones are rejected for the same problems as last time: neither is mapped.
        Nor are ragged rows (``importer.read.ragged``), rejected as the reader found them.
        """
        n = len(rows)
        keys, lead_ids = [""] * n, [""] * n
        problems: dict[int, list[Problem]] = {}
        warnings: list[RowWarning] = []
        mapped: MappedChunk | None = None
        ragged = read_ragged.found(frame)
        rest = [
            i
            for i, row in enumerate(rows)
            if row not in known and row not in cached and row not in ragged
        ]
        if rest:
            mapped, problems, warnings = self._map_new(frame, rows, digests, rest, keys, lead_ids)
        for row, problem in ragged.items():
            problems[row] = [problem]
        take_known(rows, known, keys, lead_ids)
        take_cached(rows, cached, keys, lead_ids, problems, warnings, self.site, self._id_source)
        emails = mapped.emails if mapped is not None else None
        index = pd.Index(rows, dtype="int64")
        self._duplicates(pd.Series(keys, index=index, dtype=object), emails, problems, warnings)
        actions, unchanged_activities = _actions(rows, known, problems)
        planned = PlannedChunk(
            frame, rows, keys, lead_ids, actions, problems, warnings, read_rows=read_rows,
            digests=digests,
        )  # fmt: skip
        planned.activities_unchanged = unchanged_activities
        if mapped is not None:
            self._follow_history(planned, mapped, rest, digests)
        if self.shows_fields and known:  # (rows are known only with a ledger and a site)
            source = self.mapping.source
            planned.sent = sent_as(self.ledger, self.site, source, rows, digests, known)
        return planned

    def _map_new(
        self,
        frame: pd.DataFrame,
        rows: list[int],
        digests: list[str],
        rest: list[int],
        keys: list[str],
        lead_ids: list[str],
    ) -> tuple[MappedChunk, dict[int, list[Problem]], list[RowWarning]]:
        """Map and check the rows at positions ``rest``, new or changed since the
        last run; fill in their keys and lead ids, and remember those rejected."""
        todo = frame if len(rest) == len(frame) else frame.loc[[rows[i] for i in rest]]
        mapped = map_chunk(self.bound, todo, site=self.site)
        problems = _validate(mapped, self.mapping.kind)
        warnings = list(mapped.warnings)
        for i, key, lead_id in zip(
            rest, mapped.keys.tolist(), mapped.lead_ids.tolist(), strict=True
        ):
            keys[i], lead_ids[i] = key, lead_id
        at = {row: i for i, row in enumerate(rows)}
        self._still_duplicates(frame, lambda row: keys[at[row]], problems)
        remember_rejects(
            self.ledger,
            self.site,
            self.mapping.source,
            rows,
            rest,
            digests,
            keys,
            problems,
            warnings,
        )
        return mapped, problems, warnings

    def _follow_history(
        self, planned: PlannedChunk, mapped: MappedChunk, rest: list[int], digests: list[str]
    ) -> None:
        """The mapped rows at ``rest`` not rejected: compared with the ledger
        (linked to their leads, for activities), or given their payloads."""
        planned.leads, planned.activity_rows = mapped.leads, mapped.activities["_row"].to_numpy()
        kind, ledger, site = self.mapping.kind, self.ledger, self.site
        live = [i for i in rest if planned.actions[i] is not Outcome.REJECT]
        if kind == "activity":
            if ledger is not None:
                assert self.mapping.link is not None and site is not None
                link_activities(
                    planned, mapped, live, ledger=ledger, site=site, source=self.mapping.link.source
                )
        elif ledger is not None:
            assert site is not None
            compare_with_ledger(
                planned,
                mapped,
                live,
                digests,
                ledger=ledger,
                site=site,
                source=self.mapping.source,
                kind=kind,
                clears_fields=self.clears_fields,
            )
        else:
            attach_payloads(planned, mapped, live, digests, kind)

    def _still_duplicates(
        self,
        frame: pd.DataFrame,
        key_of: Callable[[int], str],
        problems: dict[int, list[Problem]],
    ) -> None:
        still_duplicates(
            frame,
            key_of,
            problems,
            kind=self.mapping.kind,
            ledger=self.ledger,
            site=self.site,
            source=self.mapping.source,
        )

    def check(self, frame: pd.DataFrame) -> Checked:
        """Map and validate a chunk for a dry run; safe to run in another process."""
        ragged = read_ragged.found(frame)
        # ragged rows are not mapped: they keep no key, so they take part in no duplicate
        todo = frame.drop(index=list(ragged)) if ragged else frame
        # every field, for plan.csv; the note of other details only counted
        mapped = map_chunk(self.bound, todo, site=self.site, notes=False)
        keys, lead_ids = mapped.keys, mapped.lead_ids
        problems = _validate(mapped, self.mapping.kind)
        self._still_duplicates(todo, keys.__getitem__, problems)
        if ragged:
            keys = keys.reindex(frame.index, fill_value="")
            lead_ids = lead_ids.reindex(frame.index, fill_value="")
            problems.update((row, [problem]) for row, problem in ragged.items())
        emails = mapped.emails
        return Checked(
            keys=keys.tolist(),
            lead_ids=lead_ids.tolist(),
            problems=problems,
            warnings=list(mapped.warnings),
            emails=emails,
            key_hashes=key_hashes(keys),
            email_hashes=key_hashes(emails) if emails is not None else None,
            leads=mapped.leads,
            activity_rows=np.concatenate([mapped.activities["_row"].to_numpy(), mapped.note_rows]),
        )

    def conclude(
        self,
        frame: pd.DataFrame,
        checked: Checked,
        *,
        rows: list[int] | None = None,
        read_rows: Callable[[list[int]], pd.DataFrame] | None = None,
    ) -> PlannedChunk:
        """Finish a checked chunk in file order: duplicates across the whole file.

        ``frame`` holds the rows checked, or (with ``rows`` and ``read_rows``)
        none of them: their cells are then read only for the rows rejected.
        """
        if rows is None:
            rows = [int(r) for r in frame.index.tolist()]
        keys = pd.Series(checked.keys, index=pd.Index(rows, dtype="int64"), dtype=object)
        self._duplicates(
            keys,
            checked.emails,
            checked.problems,
            checked.warnings,
            checked.key_hashes,
            checked.email_hashes,
        )
        return self.unconcluded(frame, checked, rows=rows, read_rows=read_rows)

    def unconcluded(
        self,
        frame: pd.DataFrame,
        checked: Checked,
        *,
        rows: list[int] | None = None,
        read_rows: Callable[[list[int]], pd.DataFrame] | None = None,
    ) -> PlannedChunk:
        """A checked chunk as it stands, before (or, from ``conclude``, after)
        duplicates across the file are judged."""
        if rows is None:
            rows = [int(r) for r in frame.index.tolist()]
        problems = checked.problems
        actions = [Outcome.CREATE] * len(rows)
        # Rows ascend within a chunk: each rejected row is found by bisection instead
        # of a test per row; should some row not be found that way, that test decides.
        found = 0
        for row in problems:
            at = bisect.bisect_left(rows, row)
            if at < len(rows) and rows[at] == row:
                actions[at] = Outcome.REJECT
                found += 1
        if found != len(problems):
            actions = [Outcome.REJECT if r in problems else Outcome.CREATE for r in rows]
        return PlannedChunk(
            frame,
            rows,
            checked.keys,
            checked.lead_ids,
            actions,
            problems,
            checked.warnings,
            read_rows=read_rows,
            leads=checked.leads,
            activity_rows=checked.activity_rows,
        )

    def _duplicates(
        self,
        keys: pd.Series,
        emails: pd.Series | None,
        problems: dict[int, list[Problem]],
        warnings: list[RowWarning],
        key_hashes: np.ndarray | None = None,
        email_hashes: np.ndarray | None = None,
    ) -> None:
        file_duplicates(
            self.seen,
            keys,
            emails,
            problems,
            warnings,
            key_hashes,
            email_hashes,
            kind=self.mapping.kind,
        )


def _validate(mapped: MappedChunk, kind: str) -> dict[int, list[Problem]]:
    # pandera is imported on first use: a dry run on several cores then starts
    # reading while its first checking process loads pandera for itself
    from importer.validate.chunk import validate_chunk

    return validate_chunk(mapped, kind)


def _actions(
    rows: list[int], known: dict[int, tuple[str, str, int]], problems: dict[int, list[Problem]]
) -> tuple[list[Outcome], int]:
    """Each row's action before the ledger is asked (rows with problems are
    rejected, ``known`` ones unchanged), and the activities of those unchanged."""
    actions = [Outcome.CREATE] * len(rows)
    unchanged_activities = 0
    for i, row in enumerate(rows):
        if row in known:
            actions[i] = Outcome.UNCHANGED
            unchanged_activities += known[row][2]
    for i, row in enumerate(rows):
        if row in problems:
            if row in known:
                unchanged_activities -= known[row][2]
            actions[i] = Outcome.REJECT
    return actions, unchanged_activities
