"""A lead's chain of assignments in the ledger (importer.plan.assignments): one new
``was_assigned`` per change of owner, none for an unchanged one, the same hash
again after a crash, whatever the clock says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from importer.ledger.ledger import Ledger
from importer.ledger.records import RecordedActivity
from importer.ledger.store import payload_hash
from importer.mapping.assign import ASSIGNED, role_of
from importer.models import Outcome
from importer.plan.assignments import assignment_hash, chain_assignments, last_link, salted_hash
from importer.plan.rows import RowPlan

LEAD = "0d4f8a9e-2b7c-4e1a-9f3d-6c5b4a3e2d1f"
NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def assignment(owner: str, user: str, word: str = "owner") -> dict[str, Any]:
    return {
        "type": ASSIGNED, "source": "S", "user": {"id": user},
        "description": f"The {word} in the Old CRM export: {owner}",
    }  # fmt: skip


JANE, KIM = assignment("Jane Doe", "u-jane"), assignment("Kim Park", "u-kim")
LENA, LEO = assignment("Lena Bank", "u-lena", "lender"), assignment("Leo Loan", "u-leo", "lender")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    # a clock that never moves: the chain, not the time, orders the assignments
    with Ledger(tmp_path / "ledger.sqlite", run_id="r1", clock=lambda: NOON) as opened:
        yield opened


def chain(ledger: Ledger, role: str = "agent") -> list[RecordedActivity]:
    recorded = ledger.recorded_activities([LEAD], ASSIGNED)[LEAD]
    return [link for link in recorded if role_of(link.payload) == role]


def send(ledger: Ledger, activity: dict[str, Any], state: str = "sent") -> str:
    """What a run does with the assignment: its hash, recorded (and its outcome)."""
    found = assignment_hash(activity, chain(ledger, role_of(activity) or ""))
    if found in {link.activity_hash for link in chain(ledger, role_of(activity) or "")}:
        return found  # unchanged: nothing to send
    ledger.begin_activities(LEAD, {found: activity})
    if state != "sending":
        ledger.activities_done(LEAD, [found], state, status=201 if state == "sent" else None)
    return found


def test_each_change_of_owner_is_a_new_link_and_an_unchanged_owner_the_last_one(
    ledger: Ledger,
) -> None:
    first = send(ledger, JANE)
    assert first == payload_hash(JANE)  # as every activity, and as ledgers before chains
    assert send(ledger, JANE) == first
    to_kim = send(ledger, KIM)
    assert to_kim == salted_hash(KIM, first)
    back = send(ledger, JANE)  # A -> B -> A: not the hash sent first
    assert back == salted_hash(JANE, to_kim) and back != first
    assert send(ledger, JANE) == back  # unchanged since
    again = send(ledger, KIM)
    assert again not in (to_kim, back, first)
    assert send(ledger, JANE) not in (first, back)
    assert len(chain(ledger)) == 5
    assert last_link(chain(ledger)) is not None


def test_a_stopped_send_keeps_its_hash_whatever_its_state(ledger: Ledger) -> None:
    first = send(ledger, JANE)
    planned = assignment_hash(KIM, chain(ledger))
    assert assignment_hash(KIM, chain(ledger)) == planned  # deterministic
    assert send(ledger, KIM, state="sending") == planned  # the run stops after the write-ahead
    assert assignment_hash(KIM, chain(ledger)) == planned  # its re-run: the same link
    ledger.activities_done(LEAD, [planned], "in_doubt")
    assert assignment_hash(KIM, chain(ledger)) == planned
    # the owner changes again while Kim is in doubt: the next link follows Kim's
    assert assignment_hash(JANE, chain(ledger)) == salted_hash(JANE, planned) != first


def test_agent_and_lender_have_a_chain_each_and_other_activities_keep_their_hash(
    ledger: Ledger,
) -> None:
    send(ledger, JANE)
    send(ledger, LENA)
    to_kim = send(ledger, KIM)
    note = {"type": "note", "source": "S", "description": "Agent: Jane Doe"}
    plan = RowPlan(
        2, "1", LEAD, Outcome.UPDATE,
        activities=[(payload_hash(a), a) for a in (JANE, LENA, note)],
    )  # fmt: skip
    chain_assignments([plan], ledger)
    assert plan.activities == [
        (salted_hash(JANE, to_kim), JANE),  # the agent back to Jane: a new link
        (payload_hash(LENA), LENA),  # the lender unchanged: already sent
        (payload_hash(note), note),
    ]
    plan.activities = [(payload_hash(LEO), LEO)]
    chain_assignments([plan], ledger)
    assert plan.activities == [(salted_hash(LEO, payload_hash(LENA)), LEO)]


def test_a_ledger_written_before_chains_goes_on_from_its_latest_assignment() -> None:
    # the owner changed Jane -> Kim under an older rg-import: two unsalted assignments
    old = [
        RecordedActivity(payload_hash(KIM), KIM, "2024-05-02T09:00:00.000Z"),
        RecordedActivity(payload_hash(JANE), JANE, "2024-05-01T09:00:00.000Z"),
    ]
    assert assignment_hash(KIM, old) == payload_hash(KIM)  # unchanged
    back = salted_hash(JANE, payload_hash(KIM))
    assert assignment_hash(JANE, old) == back
    # once chained, the chain decides, whatever the times say
    later = [*old, RecordedActivity(back, JANE, "2024-04-01T09:00:00.000Z")]
    assert last_link(later) == later[2]
    assert assignment_hash(JANE, later) == back
    assert assignment_hash(KIM, later) == salted_hash(KIM, back)
