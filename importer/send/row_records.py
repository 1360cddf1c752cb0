"""The ledger writes of a row's send that the lead and activity requests share.

Writes come ahead of requests: a row is marked ``sending`` (with the summary it
will have once confirmed) before its request goes out, and a request that never
reached the server leaves its lead and activities pending for the next run.
"""

from __future__ import annotations

from typing import Any

from importer.plan.payloads import ledger_payload
from importer.plan.rows import RowPlan
from importer.send.send_outcome import SendPolicy

__all__ = ["RowRecords"]


class RowRecords:
    """Records a row's send steps in the ledger, under the run's site and source."""

    def __init__(self, ledger: Any, policy: SendPolicy):
        self.ledger = ledger
        self.policy = policy

    def begin(
        self, plan: RowPlan, confirmed: list[str], activities: dict[str, Any] | None = None
    ) -> None:
        """Mark the row sending, with the ledger summary it will have once confirmed.

        The row's digest is recorded only when the confirmation covers all of
        its activities; otherwise the next run must look at the row again.
        """
        assert plan.fields is not None
        stored = ledger_payload(plan.fields, confirmed)
        everything = set(plan.activities_done) | {h for h, _ in plan.activities}
        complete = set(confirmed) >= everything
        self.ledger.begin_lead(
            self.policy.site, self.policy.source, plan.key, plan.lead_id,
            payload=stored, activity_hashes=activities or {},  # hashed once, there
            row_digest=plan.digest if complete else None, row_activities=len(everything),
        )  # fmt: skip

    def unsent_activities(self, plan: RowPlan, hashes: list[str], error: str) -> None:
        """Record activities whose request never reached the server.

        They become ``failed`` (sent again by the next run), except those whose
        send in an earlier run is unknown: they stay in doubt, so an at-most-once
        run still holds them and an at-least-once one still counts their copies.
        """
        earlier = set(plan.activities_in_doubt)
        fresh = [h for h in hashes if h not in earlier]
        again = [h for h in hashes if h in earlier]
        if fresh:
            self.ledger.activities_done(plan.lead_id, fresh, "failed", status=None, error=error)
        if again:
            self.ledger.activities_done(plan.lead_id, again, "in_doubt", status=None, error=error)

    def lead_not_sent(self, plan: RowPlan, hashes: list[str], error: str) -> None:
        """Record a lead request that never reached the server: pending for the next run."""
        p = self.policy
        self.ledger.lead_failed(p.site, p.source, plan.key, status=None, error=error)
        self.unsent_activities(plan, hashes, error)
