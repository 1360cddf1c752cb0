"""What the ledger's history makes of planned rows.

Rows rejected by validation are remembered by digest (``remember_rejects``),
so the next run skips checking them and rejects them again as remembered
(``take_cached``). Mapped rows get their payloads
(``attach_payloads``); with a ledger, rows it already knows by key become
updates or stay unchanged, field by field (``compare_with_ledger``; their
``was_assigned`` activities take their place in the lead's chain of owners,
``importer.plan.assignments``), and activity rows find their lead through it
(``link_activities``).
"""

from __future__ import annotations

from typing import Any

from importer import codes
from importer.ledger.ledger import Ledger
from importer.ledger.records import CachedReject
from importer.ledger.store import payload_hash
from importer.mapping.apply import MappedChunk, lead_ids_for
from importer.models import Outcome, Problem, RowWarning
from importer.plan import payloads
from importer.plan.assignments import chain_assignments
from importer.plan.rows import PlannedChunk, RowPlan


def remember_rejects(
    ledger: Ledger | None,
    site: str | None,
    source: str,
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
    if ledger is None or ledger.readonly or not site:
        return
    failed = [i for i in positions if rows[i] in problems]
    if not failed:
        return
    by_row: dict[int, list[tuple[str, str]]] = {}
    for w in warnings:
        if w.row is not None:
            by_row.setdefault(w.row, []).append((w.code, w.message))
    ledger.remember_rejected(
        site,
        source,
        [
            CachedReject(
                digests[i], keys[i], tuple(problems[rows[i]]), tuple(by_row.get(rows[i], ()))
            )
            for i in failed
        ],
    )


def take_known(
    rows: list[int],
    known: dict[int, tuple[str, str, int]],
    keys: list[str],
    lead_ids: list[str],
) -> None:
    """Rows confirmed sent exactly as they are keep the key and lead id sent."""
    for i, row in enumerate(rows):
        if row in known:
            keys[i], lead_ids[i], _ = known[row]


def sent_as(
    ledger: Ledger | None,
    site: str | None,
    source: str,
    rows: list[int],
    digests: list[str],
    known: dict[int, tuple[str, str, int]],
) -> dict[int, tuple[dict[str, Any], int]]:
    """What rows confirmed sent exactly as they are were sent as: their
    confirmed payload (lead fields, and the ``_activities`` hashes) and how
    many activities they have (for plan.csv; they are never mapped)."""
    if ledger is None or not site:
        return {}
    wanted = [(row, digest) for row, digest in zip(rows, digests, strict=True) if row in known]
    found = ledger.sent_payloads(site, source, [digest for _, digest in wanted])
    return {row: (found[digest], known[row][2]) for row, digest in wanted if digest in found}


def take_cached(
    rows: list[int],
    cached: dict[int, CachedReject],
    keys: list[str],
    lead_ids: list[str],
    problems: dict[int, list[Problem]],
    warnings: list[RowWarning],
    site: str | None,
    id_source: str,
) -> None:
    """Rows rejected before exactly as they are: rejected again as remembered.

    ``id_source``: the source their lead ids are made with.
    """
    remembered = [i for i, row in enumerate(rows) if row in cached]
    remembered_ids = lead_ids_for(site or "", id_source, [cached[rows[i]].key for i in remembered])
    for i, lead_id in zip(remembered, remembered_ids, strict=True):
        row, reject = rows[i], cached[rows[i]]
        keys[i], lead_ids[i] = reject.key, lead_id
        problems[row] = list(reject.problems)
        warnings.extend(RowWarning(row, code, message) for code, message in reject.warnings)


def attach_payloads(
    planned: PlannedChunk,
    mapped: MappedChunk,
    positions: list[int],
    digests: list[str] | None,
    kind: str,
) -> None:
    """Build RowPlans, with payloads, for the rows at ``positions``."""
    wanted = [planned.rows[i] for i in positions]
    fields = payloads.lead_fields(mapped, wanted) if kind != "activity" else {}
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


def compare_with_ledger(
    planned: PlannedChunk,
    mapped: MappedChunk,
    live: list[int],
    digests: list[str] | None,
    *,
    ledger: Ledger,
    site: str,
    source: str,
    kind: str,
    clears_fields: bool,
) -> None:
    """create → update/unchanged for mapped rows the ledger already knows by key.

    Rows unchanged since confirmed were recognised by their digest before
    mapping; these rows are new, or differ from what was confirmed, and are
    compared payload by payload.
    """
    if not live:
        return
    attach_payloads(planned, mapped, live, digests, kind)
    records = ledger.lookup(site, source, [planned.keys[i] for i in live])
    if not records:
        return
    details = [planned.plans[planned.rows[i]] for i in live if planned.keys[i] in records]
    for plan in details:
        plan.lead_id = records[plan.key].lead_id
    chain_assignments(details, ledger)  # an owner the lead had before is assigned again
    states = ledger.activity_states(sorted({p.lead_id for p in details}))
    for plan in details:
        record = records[plan.key]
        _split_activities(plan, states.get(plan.lead_id, {}))
        if record.payload is None:
            plan.resend = True  # never confirmed: create again (a POST with our id merges)
            continue
        assert plan.fields is not None
        confirmed = plan.previous = payloads.lead_part(record.payload)
        if record.state == "sent":
            plan.changed, plan.cleared = payloads.changed_fields(confirmed, plan.fields)
        else:
            # an update whose outcome is unknown: send every field again
            plan.resend = True
            plan.changed = dict(plan.fields)
            plan.cleared = payloads.changed_fields(confirmed, plan.fields)[1]
        kept = plan.cleared and not clears_fields
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


def link_activities(
    planned: PlannedChunk,
    mapped: MappedChunk,
    live: list[int],
    *,
    ledger: Ledger,
    site: str,
    source: str,
) -> None:
    """Activity rows find their lead's id through the ledger (leads sent before).

    ``source``: the leads' source (the mapping's link).
    """
    found = ledger.find_lead_ids(site, [(source, planned.keys[i]) for i in live])
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
    attach_payloads(planned, mapped, linked, None, "activity")
    states = ledger.activity_states(sorted({planned.lead_ids[i] for i in linked}))
    for i in linked:
        plan = planned.plans[planned.rows[i]]
        _split_activities(plan, states.get(plan.lead_id, {}))
        if not plan.activities and not plan.activities_in_doubt:
            plan.action = planned.actions[i] = Outcome.UNCHANGED
            planned.activities_unchanged += plan.activities_unchanged
            del planned.plans[plan.row]


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
