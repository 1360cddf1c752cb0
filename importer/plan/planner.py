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

from importer import codes
from importer.ledger.ledger import Ledger
from importer.ledger.records import CachedReject
from importer.ledger.store import payload_hash
from importer.mapping.apply import MappedChunk, lead_ids_for, map_chunk
from importer.mapping.binding import BoundMapping, bind
from importer.mapping.spec import Mapping
from importer.models import Outcome, Problem, RowWarning
from importer.plan import payloads
from importer.plan.rows import Checked, PlannedChunk, RowPlan
from importer.read import fed_back as read_fed_back
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
    ):
        from importer.plan.dedupe import SeenKeys

        self.mapping = mapping
        self.bound: BoundMapping = bind(mapping, columns, headers)
        self.site = site
        self.ledger = ledger if site else None
        self.payloads_needed = payloads_needed
        self.clears_fields = clears_fields
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
        kind = self.mapping.kind
        n = len(rows)
        keys, lead_ids = [""] * n, [""] * n
        actions = [Outcome.CREATE] * n
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
            # only rows that are new or changed since the last run are mapped and checked
            todo = frame if len(rest) == len(frame) else frame.loc[[rows[i] for i in rest]]
            mapped = map_chunk(self.bound, todo, site=self.site)
            problems = _validate(mapped, kind)
            warnings = list(mapped.warnings)
            for i, key, lead_id in zip(
                rest, mapped.keys.tolist(), mapped.lead_ids.tolist(), strict=True
            ):
                keys[i], lead_ids[i] = key, lead_id
            at = {row: i for i, row in enumerate(rows)}
            self._still_duplicates(frame, lambda row: keys[at[row]], problems)
            self._remember_rejects(rows, rest, digests, keys, problems, warnings)
        for row, problem in ragged.items():
            problems[row] = [problem]
        unchanged_activities = 0
        for i, row in enumerate(rows):
            if row in known:
                keys[i], lead_ids[i], count = known[row]
                actions[i] = Outcome.UNCHANGED
                unchanged_activities += count
        remembered = [i for i, row in enumerate(rows) if row in cached]
        remembered_ids = lead_ids_for(
            self.site or "", self._id_source, [cached[rows[i]].key for i in remembered]
        )
        for i, lead_id in zip(remembered, remembered_ids, strict=True):
            row, reject = rows[i], cached[rows[i]]
            keys[i], lead_ids[i] = reject.key, lead_id
            problems[row] = list(reject.problems)
            warnings.extend(RowWarning(row, code, message) for code, message in reject.warnings)
        emails = mapped.emails if mapped is not None else None
        index = pd.Index(rows, dtype="int64")
        self._duplicates(pd.Series(keys, index=index, dtype=object), emails, problems, warnings)
        for i, row in enumerate(rows):
            if row in problems:
                if row in known:
                    unchanged_activities -= known[row][2]
                actions[i] = Outcome.REJECT
        planned = PlannedChunk(
            frame, rows, keys, lead_ids, actions, problems, warnings, read_rows=read_rows
        )
        planned.activities_unchanged = unchanged_activities
        if mapped is None:
            return planned
        live = [i for i in rest if actions[i] is not Outcome.REJECT]  # mapped rows, by position
        if kind == "activity":
            if self.ledger is not None:
                self._link_activities(planned, mapped, live)
        elif self.ledger is not None:
            self._compare_with_ledger(planned, mapped, live, digests)
        else:
            self._attach_payloads(planned, mapped, live, digests)
        return planned

    def _remember_rejects(
        self,
        rows: list[int],
        positions: list[int],
        digests: list[str],
        keys: list[str],
        problems: dict[int, list[Problem]],
        warnings: list[RowWarning],
    ) -> None:
        """Keep the rows that failed validation, by digest: the next run skips checking them.

        Only what the row alone decides is kept (duplicate keys and unknown
        leads depend on other rows and the ledger, and are judged every run).
        """
        ledger = self.ledger
        if ledger is None or ledger.readonly or not self.site:
            return
        failed = [i for i in positions if rows[i] in problems]
        if not failed:
            return
        by_row: dict[int, list[tuple[str, str]]] = {}
        for w in warnings:
            if w.row is not None:
                by_row.setdefault(w.row, []).append((w.code, w.message))
        ledger.remember_rejected(
            self.site,
            self.mapping.source,
            [
                CachedReject(
                    digests[i], keys[i], tuple(problems[rows[i]]), tuple(by_row.get(rows[i], ()))
                )
                for i in failed
            ],
        )

    def _still_duplicates(
        self,
        frame: pd.DataFrame,
        key_of: Callable[[int], str],
        problems: dict[int, list[Problem]],
    ) -> None:
        """Reject again the rows of a reject file rejected as duplicates whose key is
        still the one they repeated (``importer.read.fed_back``): sent, they would
        overwrite the kept row's lead. ``key_of``: a mapped row's key."""
        notes = read_fed_back.found(frame)
        if not notes or self.mapping.kind == "activity":
            return
        hits = {row: note for row, note in notes.items() if note[0] and key_of(row) == note[0]}
        leads: dict[str, str] = {}
        if hits and self.ledger is not None and self.site:
            wanted = sorted({key for key, _ in hits.values()})
            records = self.ledger.lookup(self.site, self.mapping.source, wanted)
            leads = {key: record.lead_id for key, record in records.items()}
        for row, (key, kept) in hits.items():
            lead = f" (lead {leads[key]})" if key in leads else ""
            problems.setdefault(row, []).append(
                Problem(
                    codes.DUPLICATE_KEY,
                    f"same key {key!r} as row {kept} of the file it was rejected from, the row "
                    f"kept{lead}; merge it into that row, or give it its own ID",
                )
            )

    def check(self, frame: pd.DataFrame) -> Checked:
        """Map and validate a chunk for a dry run; safe to run in another process."""
        from importer.plan.dedupe import key_hashes

        ragged = read_ragged.found(frame)
        # ragged rows are not mapped: they keep no key, so they take part in no duplicate
        todo = frame.drop(index=list(ragged)) if ragged else frame
        mapped = map_chunk(self.bound, todo, site=self.site, full=False)
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
        # Rows ascend within a chunk: each rejected row is found by bisection
        # instead of a test per row. Should some row not be found that way, the
        # test per row decides.
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
        """Reject later rows with an earlier row's key; warn about emails shared across keys.

        The hashes, when given, are those of ``keys`` and ``emails`` (same rows, same order).
        """
        if self.mapping.kind == "activity":
            return  # many activity rows per lead is the point of an activity file
        first = self.seen.first_rows(keys, pd.Series(True, index=keys.index), key_hashes)
        hit = first.to_numpy() > 0
        for row, key, earlier in zip(
            keys.index[hit].tolist(), keys[hit].tolist(), first[hit].tolist(), strict=True
        ):
            problems.setdefault(int(row), []).append(
                Problem(
                    codes.DUPLICATE_KEY,
                    f"same key {key!r} as row {earlier}; only the first row is kept",
                )
            )
        if emails is None:
            return
        same_rows = len(emails) == len(keys) and emails.index.equals(keys.index)
        mapped_keys = keys if same_rows else keys.loc[emails.index]
        rejected = np.fromiter(problems, dtype=np.int64, count=len(problems))
        valid = pd.Series(~np.isin(emails.index.to_numpy(), rejected), index=emails.index)
        hashes = (
            (email_hashes, key_hashes)
            if same_rows and email_hashes is not None and key_hashes is not None
            else None
        )
        for row, earlier in self.seen.shared_emails(emails, mapped_keys, valid, hashes).items():
            warnings.append(
                RowWarning(
                    row,
                    codes.SHARED_EMAIL,
                    f"email {emails.loc[row]} is also on row {earlier} under another key; "
                    "Real Geeks may merge the two leads",
                )
            )

    def _attach_payloads(
        self,
        planned: PlannedChunk,
        mapped: MappedChunk,
        positions: list[int],
        digests: list[str] | None,
    ) -> None:
        """Build RowPlans, with payloads, for the rows at ``positions``."""
        wanted = [planned.rows[i] for i in positions]
        fields = payloads.lead_fields(mapped, wanted) if self.mapping.kind != "activity" else {}
        activities = payloads.activities_by_row(mapped, wanted)
        for i in positions:
            row = planned.rows[i]
            planned.plans[row] = RowPlan(
                row,
                planned.keys[i],
                planned.lead_ids[i],
                planned.actions[i],
                fields=fields.get(row, {}),
                activities=[(payload_hash(a), a) for a in activities.get(row, [])],
                digest=digests[i] if digests else None,
            )

    # ----------------------------------------------------------------- history

    def _compare_with_ledger(
        self, planned: PlannedChunk, mapped: MappedChunk, live: list[int], digests: list[str] | None
    ) -> None:
        """create → update/unchanged for mapped rows the ledger already knows by key.

        Rows unchanged since confirmed were recognised by their digest before
        mapping; these rows are new, or differ from what was confirmed, and are
        compared payload by payload.
        """
        ledger = self.ledger
        assert self.site is not None and ledger is not None
        if not live:
            return
        self._attach_payloads(planned, mapped, live, digests)
        records = ledger.lookup(self.site, self.mapping.source, [planned.keys[i] for i in live])
        if not records:
            return
        details = [planned.plans[planned.rows[i]] for i in live if planned.keys[i] in records]
        for plan in details:
            plan.lead_id = records[plan.key].lead_id
        states = ledger.activity_states(sorted({p.lead_id for p in details}))
        for plan in details:
            record = records[plan.key]
            _split_activities(plan, states.get(plan.lead_id, {}))
            if record.payload is None:
                plan.resend = True  # never confirmed: create again (a POST with our id merges)
                continue
            assert plan.fields is not None
            confirmed = payloads.lead_part(record.payload)
            if record.state == "sent":
                plan.changed, plan.cleared = payloads.changed_fields(confirmed, plan.fields)
            else:
                # an update whose outcome is unknown: send every field again
                plan.resend = True
                plan.changed = dict(plan.fields)
                plan.cleared = payloads.changed_fields(confirmed, plan.fields)[1]
            kept = plan.cleared and not self.clears_fields
            if kept:
                planned.warnings.append(_not_cleared(plan))
            if plan.changed or plan.activities or plan.resend or (plan.cleared and not kept):
                plan.action = Outcome.UPDATE
            else:
                plan.action = Outcome.UNCHANGED
                # the row is as sent, only its digest in the ledger is stale; but a
                # field v1 could not clear stays in the ledger, as it stays on the lead
                plan.refresh = not kept
        for i in live:
            plan = planned.plans[planned.rows[i]]
            planned.actions[i] = plan.action
            planned.lead_ids[i] = plan.lead_id

    def _link_activities(self, planned: PlannedChunk, mapped: MappedChunk, live: list[int]) -> None:
        """Activity rows find their lead's id through the ledger (leads sent before)."""
        ledger = self.ledger
        assert self.mapping.link is not None and self.site is not None and ledger is not None
        source = self.mapping.link.source
        found = ledger.find_lead_ids(self.site, [(source, planned.keys[i]) for i in live])
        linked = []
        for i in live:
            lead_id = found.get((source, planned.keys[i]))
            if lead_id is None:
                planned.reject(
                    i,
                    Problem(
                        codes.UNKNOWN_LEAD,
                        f"no lead with key {planned.keys[i]!r} was sent from source {source!r} "
                        "to this site; import the people file first",
                    ),
                )
                continue
            planned.lead_ids[i] = lead_id
            linked.append(i)
        self._attach_payloads(planned, mapped, linked, None)
        states = ledger.activity_states(sorted({planned.lead_ids[i] for i in linked}))
        for i in linked:
            plan = planned.plans[planned.rows[i]]
            _split_activities(plan, states.get(plan.lead_id, {}))
            if not plan.activities and not plan.activities_in_doubt:
                plan.action = planned.actions[i] = Outcome.UNCHANGED
                planned.activities_unchanged += plan.activities_unchanged
                del planned.plans[plan.row]


def _validate(mapped: MappedChunk, kind: str) -> dict[int, list[Problem]]:
    # pandera is imported on first use: a dry run on several cores then starts
    # reading while its first checking process loads pandera for itself
    from importer.validate.chunk import validate_chunk

    return validate_chunk(mapped, kind)


def _not_cleared(plan: RowPlan) -> RowWarning:
    names = ", ".join(plan.cleared)
    return RowWarning(
        plan.row,
        codes.NOT_CLEARED,
        f"{names} became empty in the file, but the v1 update API cannot clear a field: "
        "the lead keeps its earlier value (use --update-api v2 to clear it)",
    )


def _split_activities(plan: RowPlan, states: dict[str, str]) -> None:
    """Keep only the activities not yet sent; note those whose earlier send is unknown."""
    todo = []
    for digest, activity in plan.activities:
        state = states.get(digest)
        if state == "sent":
            plan.activities_unchanged += 1
            plan.activities_done.append(digest)
        elif state in ("in_doubt", "sending"):
            plan.activities_in_doubt.append(digest)
            todo.append((digest, activity))
        else:
            todo.append((digest, activity))
    plan.activities = todo
