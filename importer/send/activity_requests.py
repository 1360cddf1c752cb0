"""Posting a row's new activities in one request, with its write-ahead ledger entries.

The service does not deduplicate activities, so the policy decides what a
resend may do: at least once (retried after an unknown outcome; the possible
copies are counted) or at most once (not retried; held in doubt).
"""

from __future__ import annotations

from typing import Any

from importer.codes import CLAIMED, IN_DOUBT, NOT_SENT
from importer.errors import ApiError, AuthError, ClientError, RowClaimed, Stopping
from importer.models import Outcome, Problem
from importer.plan.rows import RowPlan
from importer.send.breaker import CircuitBreaker, never_reached
from importer.send.row_records import RowRecords
from importer.send.send_outcome import (
    HELD,
    STOPPED,
    STOPPED_UNSENT,
    SendOutcome,
    SendPolicy,
    api_problem,
    doubt_problem,
    held_activities,
    not_sent,
    possible_copies,
    stopped_in_doubt,
)

__all__ = ["ActivityRequests"]


class ActivityRequests:
    """Sends the activities of rows through the sender's client, recording each step."""

    def __init__(
        self, client: Any, records: RowRecords, policy: SendPolicy, breaker: CircuitBreaker
    ):
        self.client = client
        self.records = records
        self.ledger = records.ledger
        self.policy = policy
        self.breaker = breaker

    def post(self, plan: RowPlan, outcome: SendOutcome) -> list[str]:
        """Post the row's new activities in one request; returns the hashes confirmed sent.

        Sets ``outcome.result`` to rejected, in_doubt or not_sent when the post fails.
        """
        p = self.policy
        held = held_activities(p, plan)
        to_send = [(h, a) for h, a in plan.activities if h not in held]
        outcome.doubt(h for h, _ in plan.activities if h in held)
        if not to_send:
            if held and p.kind == "activity":
                outcome.result = Outcome.IN_DOUBT
                outcome.problems = [Problem(IN_DOUBT, HELD)]
            return []
        hashes = [h for h, _ in to_send]
        try:
            self.client.prepare()
        except Stopping:  # nothing of these activities was recorded or sent
            not_sent(outcome, Problem(NOT_SENT, STOPPED_UNSENT))
            return []
        try:
            self.ledger.begin_activities(plan.lead_id, dict(to_send))
        except RowClaimed as exc:  # another run sharing the ledger posts them: left to it
            not_sent(outcome, Problem(CLAIMED, str(exc)))
            return []
        try:
            response = self.client.add_activities(
                p.site,
                plan.lead_id,
                [a for _, a in to_send],
                retry_unknown=not p.activities_at_most_once,
            )
        except Stopping as stop:
            self._stopped(plan, outcome, hashes, stop)
            return []
        except ApiError as exc:
            self._failed(plan, outcome, hashes, exc)
            return []
        self.breaker.success()
        self.ledger.activities_done(plan.lead_id, hashes, "sent", status=response.status)
        outcome.activities_sent += len(hashes)
        outcome.possible_duplicates += possible_copies(plan, hashes, response.unknown_outcomes)
        if outcome.http_status is None:
            outcome.http_status, outcome.attempts = response.status, response.attempts
        return hashes

    def _stopped(
        self, plan: RowPlan, outcome: SendOutcome, hashes: list[str], stop: Stopping
    ) -> None:
        """The run stopped during the post: not sent, or in doubt if a try may have applied."""
        if not stop.maybe_applied:
            self.records.unsent_activities(plan, hashes, STOPPED_UNSENT)
            not_sent(outcome, Problem(NOT_SENT, STOPPED_UNSENT))
            return
        self.ledger.activities_done(plan.lead_id, hashes, "in_doubt", status=None, error=STOPPED)
        outcome.doubt(hashes)
        stopped_in_doubt(outcome)

    def _failed(
        self, plan: RowPlan, outcome: SendOutcome, hashes: list[str], exc: ApiError
    ) -> None:
        """The post failed: rejected, not sent or in doubt, by what the failure says."""
        outcome.http_status, outcome.attempts = exc.status, exc.attempts
        if isinstance(exc, ClientError) and not isinstance(exc, AuthError):
            self.breaker.success()
            self.ledger.activities_done(
                plan.lead_id, hashes, "failed", status=exc.status, error=exc.error
            )
            outcome.activities_rejected += len(hashes)
            outcome.result = Outcome.REJECT
            outcome.problems = [api_problem(exc)]
            return
        self.breaker.failure(exc)
        if never_reached(exc) or isinstance(exc, AuthError):
            self.records.unsent_activities(plan, hashes, exc.error)
            not_sent(outcome, api_problem(exc))
            return
        state = "in_doubt" if exc.maybe_applied else "failed"
        self.ledger.activities_done(plan.lead_id, hashes, state, status=exc.status, error=exc.error)
        if state == "in_doubt":
            outcome.doubt(hashes)
            outcome.result = Outcome.IN_DOUBT
            outcome.problems = [doubt_problem(exc, "the next run decides")]
        else:
            # 429 or 5xx after every retry, certainly unapplied: sent again next run.
            not_sent(outcome, api_problem(exc))
