"""Which ``was_assigned`` a known lead's row sends: exactly one per change of owner.

The ledger keeps every activity by a hash, and a re-run skips the hashes it
already sent. By its content alone, the assignment to an owner the lead had
before (A, then B, then A again) would have the hash of the one sent the first
time, and the lead would stay with B. So a lead's assignments of one role
(agent, lender) form a chain in the ledger: the first is kept under its
content's hash, as every other activity (and as ledgers written before the
chain), each later one under its content's hash salted with the hash of the
link before it (``salted_hash``). A row's assignment is compared with the
chain's last link (``last_link``): the same content *is* that link (its state
decides: sent is skipped, failed is sent again, in doubt follows the run's
policy); another content is the next link, a hash the ledger never saw.

Why a chain, rather than the order in which assignments were recorded or a
table of current owners: the hash is decided by what the ledger held before
the row was sent (the last link, in whatever state), never by a clock. A run
that stopped after marking the new link ``sending`` finds that link as the
last one, with the same content, so its re-run keeps its hash and the
write-ahead state decides whether it is sent again, never twice by accident;
one that stopped before recording it computes the same hash again. The ledger's
schema is unchanged, and ``rg-import plan --ledger`` reads the same chain, so
it shows what a run sends.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from importer.ledger.ledger import Ledger
from importer.ledger.records import RecordedActivity
from importer.ledger.store import payload_hash
from importer.mapping.assign import ASSIGNED, role_of
from importer.plan.rows import RowPlan


def salted_hash(activity: dict[str, Any], after: str) -> str:
    """The hash of ``activity`` as the link after the one kept under ``after``."""
    return payload_hash({"activity": activity, "after": after})


def last_link(chain: list[RecordedActivity]) -> RecordedActivity | None:
    """The last of one lead's recorded assignments of one role; None if there are none.

    The link no other link was salted with. A ledger written before chains may
    hold several unsalted assignments (the owner changed then), each an end of
    its own: the longest chain's end wins, then the one recorded last, then the
    greatest hash (so the answer never depends on the order rows are read in).
    """
    if not chain:
        return None
    before: dict[str, str] = {
        link.activity_hash: earlier.activity_hash
        for link in chain
        for earlier in chain
        if earlier is not link
        and salted_hash(link.payload, earlier.activity_hash) == link.activity_hash
    }

    def length(link: RecordedActivity) -> int:
        walked, at = 1, link.activity_hash
        while at in before and walked <= len(chain):  # (a loop would need a hash collision)
            walked, at = walked + 1, before[at]
        return walked

    followed = set(before.values())
    ends = [link for link in chain if link.activity_hash not in followed] or chain
    return max(ends, key=lambda link: (length(link), link.created_at, link.activity_hash))


def assignment_hash(activity: dict[str, Any], chain: list[RecordedActivity]) -> str:
    """The hash ``activity`` (an assignment of one role) is kept under, after ``chain``.

    The last link's own hash when the owner is unchanged; its content's hash
    when the lead was never assigned in that role; else the next link's.
    """
    last = last_link(chain)
    if last is None:
        return payload_hash(activity)
    if last.payload == activity:
        return last.activity_hash
    return salted_hash(activity, last.activity_hash)


def chain_assignments(plans: list[RowPlan], ledger: Ledger) -> None:
    """Rehash the ``was_assigned`` activities of rows of leads the ledger knows
    (``plan.activities``, still all of the row's) to their place in their chain."""
    assigning = [p for p in plans if any(role_of(a) for _, a in p.activities)]
    if not assigning:
        return
    recorded = ledger.recorded_activities(sorted({p.lead_id for p in assigning}), ASSIGNED)
    for plan in assigning:
        chains: dict[str, list[RecordedActivity]] = defaultdict(list)
        for link in recorded[plan.lead_id]:
            if role := role_of(link.payload):
                chains[role].append(link)
        rehashed = []
        for h, activity in plan.activities:
            role = role_of(activity)
            rehashed.append((assignment_hash(activity, chains[role]) if role else h, activity))
        plan.activities = rehashed
