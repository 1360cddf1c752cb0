"""Sending one planned row: the requests, in order, with write-ahead ledger entries.

``Sender.send`` runs in a worker thread. For each row it first marks the work
``sending`` in the ledger (committed), then makes the request(s), then records
the outcome, so a crash at any point leaves the row recoverable: a lead POST
with our deterministic id merges on the server, so resending it is safe. Only
activities can be duplicated by a resend, and the policy for that is explicit:
at least once (the default; counted as possible duplicates) or at most once
(held as in doubt).

The circuit breaker stops the whole run after a 401/403, or after a run of
consecutive requests that failed for transport or server reasons.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from importer.errors import (
    ApiError,
    AuthError,
    ClientError,
    NotFoundError,
    RateLimitedError,
    Stopping,
    TransientError,
    TransportError,
)
from importer.ledger import payload_hash
from importer.models import Action, Problem
from importer.payloads import ledger_payload
from importer.plan import RowPlan

__all__ = ["CircuitBreaker", "SendOutcome", "SendPolicy", "Sender", "Stopping"]

_HELD = "an earlier send of this activity is unknown; not resent (--activities-at-most-once)"
_STOPPED = (
    "the run stopped while this request waited to be retried; an earlier try may have been applied"
)
_NOT_DONE = (
    "the run stopped before this request got through (no try of it was applied); "
    "the next run sends it"
)


@dataclass
class SendOutcome:
    """How one row ended: exactly one of created, updated, unchanged, rejected, in_doubt, skipped."""

    plan: RowPlan
    result: str  # "created" | "updated" | "unchanged" | "rejected" | "in_doubt" | "skipped"
    problems: list[Problem] = field(default_factory=list)
    http_status: int | None = None
    attempts: int | None = None
    activities_sent: int = 0
    activities_in_doubt: int = 0
    activities_rejected: int = 0
    possible_duplicates: int = 0  # extra copies of activities the server may now hold


@dataclass(frozen=True)
class SendPolicy:
    site: str
    source: str
    kind: str  # lead | potential_seller | activity
    activities_at_most_once: bool = False
    update_api: str = "v1"  # v2 can clear fields that became empty
    max_consecutive_failures: int = 10


class CircuitBreaker:
    """Opens on any auth failure, or after N consecutive transport/server failures."""

    def __init__(self, threshold: int):
        self.threshold = threshold
        self._failures = 0
        self._lock = threading.Lock()
        self.reason: str | None = None
        self.stop = threading.Event()

    def success(self) -> None:
        with self._lock:
            self._failures = 0

    def failure(self, error: ApiError) -> None:
        with self._lock:
            if isinstance(error, AuthError):
                self._open(
                    f"the API refused the credentials for this site ({error}); check RG_USERNAME/RG_PASSWORD and --site"
                )
                return
            self._failures += 1
            if self._failures >= self.threshold:
                self._open(
                    f"{self._failures} requests in a row failed ({error}); the API looks unavailable, try again later"
                )

    def server_asks_to_wait(self, seconds: float) -> None:
        """Open: the server keeps answering 429 with a wait longer than the run sits out."""
        until = (datetime.now() + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M")
        self.interrupt(
            f"the API keeps asking to wait {_duration(seconds)} before sending more "
            f"(429 with Retry-After); run again after {until} to resume"
        )

    def interrupt(self, reason: str) -> None:
        """Open at once: Ctrl-C, or an answer every request of the run would get."""
        with self._lock:
            self._open(reason)

    def _open(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.stop.set()


class Sender:
    """Sends planned rows through a Client, recording each step in the Ledger."""

    def __init__(self, client: Any, ledger: Any, policy: SendPolicy, breaker: CircuitBreaker):
        self.client = client
        self.ledger = ledger
        self.policy = policy
        self.breaker = breaker

    # ----------------------------------------------------------------- entry

    def send(self, plan: RowPlan) -> SendOutcome:
        """Carry out one row's plan; never raises for the row's own failures.

        Each request first waits (``client.prepare``) for a place in flight
        and the rate limiter, before anything is written to the ledger: a run
        stopping then leaves the row as it was, ``skipped``. When the run stops
        while a request waits to be retried, what that request carried is
        recorded in doubt if an earlier try may have been applied (the row ends
        ``in_doubt``; the next run settles it), else failed (``skipped``; the
        next run sends it).
        """
        if self.breaker.stop.is_set():
            return SendOutcome(plan, "skipped")
        try:
            if self.policy.kind == "activity":
                return self._send_activities_only(plan)
            if plan.action is Action.CREATE:
                return self._create(plan)
            return self._update(plan)
        except Stopping:  # from a prepare() before the row's first write: nothing was done
            return SendOutcome(plan, "skipped")
        finally:
            self.client.unprepare()

    @staticmethod
    def _interrupted(outcome: SendOutcome) -> SendOutcome:
        outcome.result = "in_doubt"
        outcome.problems = [Problem("interrupted", _STOPPED)]
        return outcome

    @staticmethod
    def _not_done(outcome: SendOutcome) -> SendOutcome:
        outcome.result = "skipped"
        outcome.problems = [Problem("interrupted", _NOT_DONE)]
        return outcome

    # ----------------------------------------------------------------- leads

    def _lead_body(self, plan: RowPlan, activities: list[dict[str, Any]]) -> dict[str, Any]:
        assert plan.fields is not None
        body: dict[str, Any] = {"id": plan.lead_id, **plan.fields}
        if activities:
            body["activities"] = activities
        return body

    def _begin(
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
            payload=stored, payload_hash=payload_hash(stored), activity_hashes=activities or {},
            row_digest=plan.digest if complete else None, row_activities=len(everything),
        )  # fmt: skip

    def _held(self, plan: RowPlan) -> set[str]:
        """Activities whose earlier send is unknown and must not be resent (at most once)."""
        return set(plan.activities_in_doubt) if self.policy.activities_at_most_once else set()

    def _create(self, plan: RowPlan) -> SendOutcome:
        p = self.policy
        held = self._held(plan)
        if held and p.kind == "potential_seller":
            # An anonymous lead is its property_viewed activity: it cannot be sent
            # without it, and at most once forbids sending it again.
            return SendOutcome(
                plan, "in_doubt", [Problem("in_doubt", _HELD)], activities_in_doubt=len(held)
            )
        to_send = [(h, a) for h, a in plan.activities if h not in held]
        hashes = [h for h, _ in to_send]
        self.client.prepare()
        self._begin(plan, plan.activities_done + hashes, dict(to_send))
        outcome = SendOutcome(plan, "created", activities_in_doubt=len(held))
        doubtful = False  # an earlier create of this row may have been applied
        create = (
            self.client.create_potential_seller_lead
            if p.kind == "potential_seller"
            else self.client.create_lead
        )
        try:
            if p.activities_at_most_once and to_send:
                try:
                    response = create(
                        p.site, self._lead_body(plan, [a for _, a in to_send]), retry_unknown=False
                    )
                except TransientError as exc:
                    if not exc.maybe_applied:
                        raise
                    # The server may have stored the activities: never send them again;
                    # the lead itself is safe to resend (a POST with our id merges).
                    self.ledger.activities_done(
                        plan.lead_id, hashes, "in_doubt", status=exc.status, error=exc.error
                    )
                    outcome.activities_in_doubt += len(hashes)
                    hashes, to_send, doubtful = [], [], True
                    if p.kind == "potential_seller":
                        self.ledger.lead_in_doubt(
                            p.site, p.source, plan.key, status=exc.status, error=exc.error
                        )
                        outcome.result, outcome.problems = "in_doubt", [Problem("in_doubt", _HELD)]
                        return outcome
                    self._begin(plan, plan.activities_done)
                    response = create(p.site, self._lead_body(plan, []))
            else:
                response = create(p.site, self._lead_body(plan, [a for _, a in to_send]))
        except Stopping as stop:
            if not (stop.maybe_applied or doubtful):
                self.ledger.lead_failed(
                    p.site, p.source, plan.key, status=None, error=_NOT_DONE, activity_hashes=hashes
                )
                return self._not_done(outcome)
            # ``hashes`` names what the interrupted request carried
            self.ledger.lead_in_doubt(
                p.site, p.source, plan.key, status=None, error=_STOPPED, activity_hashes=hashes
            )
            outcome.activities_in_doubt += len(hashes)
            return self._interrupted(outcome)
        except ApiError as exc:
            return self._lead_failed(plan, exc, hashes, outcome, creating=True)
        self.breaker.success()
        self.ledger.lead_sent(
            p.site, p.source, plan.key, status=response.status, activity_hashes=hashes
        )
        outcome.http_status, outcome.attempts = response.status, response.attempts
        outcome.activities_sent += len(hashes)
        outcome.possible_duplicates += self._possible_copies(
            plan, hashes, response.unknown_outcomes
        )
        return outcome

    def _possible_copies(self, plan: RowPlan, sent: list[str], unknown_outcomes: int) -> int:
        """How many extra copies of the activities just sent the server may now hold.

        Every try whose outcome was unknown may have stored the whole batch once
        more, and an activity whose earlier send was unknown may be there already.
        """
        return len(sent) * unknown_outcomes + len(set(plan.activities_in_doubt) & set(sent))

    def _update(self, plan: RowPlan) -> SendOutcome:
        p = self.policy
        outcome = SendOutcome(plan, "updated")
        changed = dict(plan.changed or {})
        if p.update_api == "v2":
            changed.update({name: "" for name in plan.cleared})
        if changed or plan.resend:
            if changed:
                self.client.prepare()
            self._begin(plan, plan.activities_done)
            try:
                if changed:
                    response = self.client.update_lead(p.site, plan.lead_id, changed)
                    outcome.http_status, outcome.attempts = response.status, response.attempts
            except Stopping as stop:
                if not stop.maybe_applied:
                    self.ledger.lead_failed(
                        p.site, p.source, plan.key, status=None, error=_NOT_DONE
                    )
                    return self._not_done(outcome)
                self.ledger.lead_in_doubt(p.site, p.source, plan.key, status=None, error=_STOPPED)
                return self._interrupted(outcome)
            except ApiError as exc:
                return self._lead_failed(plan, exc, [], outcome)
            self.breaker.success()
            self.ledger.lead_sent(p.site, p.source, plan.key, status=outcome.http_status or 200)
        sent = self._post_activities(plan, outcome)
        if sent:
            # the row's summary now includes the new activities
            self._begin(plan, plan.activities_done + sent)
            self.ledger.lead_sent(p.site, p.source, plan.key, status=outcome.http_status or 200)
        elif not changed and outcome.result == "updated":
            # nothing was sent: the only new activities are held (at most once),
            # or the only change is a cleared field that the v1 API cannot clear
            outcome.result = "unchanged"
        return outcome

    def refresh(self, plan: RowPlan) -> None:
        """Rewrite the ledger summary of an unchanged row (no request is made)."""
        self._begin(plan, plan.activities_done)
        self.ledger.lead_sent(self.policy.site, self.policy.source, plan.key, status=200)

    def _lead_failed(
        self,
        plan: RowPlan,
        exc: ApiError,
        hashes: list[str],
        outcome: SendOutcome,
        *,
        creating: bool = False,
    ) -> SendOutcome:
        p = self.policy
        outcome.http_status, outcome.attempts = exc.status, exc.attempts
        # answers every request of the run would get: the run stops, the row is skipped
        stops_run = isinstance(exc, AuthError) or (creating and isinstance(exc, NotFoundError))
        refused = isinstance(exc, ClientError) and not stops_run
        if refused:
            self.breaker.success()  # the server is up; this row is wrong
        elif isinstance(exc, NotFoundError):
            self.breaker.interrupt(
                f"the API answered 404 to a new lead ({exc.error}): it does not know site "
                f"{p.site} at this address; check --site and --base-url"
            )
        else:
            self.breaker.failure(exc)
        if refused or stops_run or not exc.maybe_applied:
            # certainly not applied: the next run sends it again
            self.ledger.lead_failed(
                p.site,
                p.source,
                plan.key,
                status=exc.status,
                error=exc.error,
                activity_hashes=hashes,
            )
            outcome.result = "skipped" if stops_run else "rejected"
            outcome.problems = [_api_problem(exc)]
            if outcome.result == "rejected":
                outcome.activities_rejected += len(plan.activities)
            return outcome
        self.ledger.lead_in_doubt(
            p.site, p.source, plan.key, status=exc.status, error=exc.error, activity_hashes=hashes
        )
        outcome.result = "in_doubt"
        outcome.activities_in_doubt += len(hashes)
        outcome.problems = [
            Problem("in_doubt", f"no answer to be sure of ({exc}); the next run sends it again")
        ]
        return outcome

    # ----------------------------------------------------------------- activities

    def _send_activities_only(self, plan: RowPlan) -> SendOutcome:
        outcome = SendOutcome(plan, "created")
        self._post_activities(plan, outcome)
        return outcome

    def _post_activities(self, plan: RowPlan, outcome: SendOutcome) -> list[str]:
        """Post the row's new activities in one request; returns the hashes confirmed sent.

        Sets ``outcome.result`` to rejected or in_doubt when the post fails.
        """
        p = self.policy
        held = self._held(plan)
        to_send = [(h, a) for h, a in plan.activities if h not in held]
        outcome.activities_in_doubt += len(held)
        if not to_send:
            if held and p.kind == "activity":
                outcome.result = "in_doubt"
                outcome.problems = [Problem("in_doubt", _HELD)]
            return []
        hashes = [h for h, _ in to_send]
        try:
            self.client.prepare()
        except Stopping:  # nothing of these activities was recorded or sent
            self._not_done(outcome)
            return []
        self.ledger.begin_activities(plan.lead_id, dict(to_send))
        try:
            response = self.client.add_activities(
                p.site,
                plan.lead_id,
                [a for _, a in to_send],
                retry_unknown=not p.activities_at_most_once,
            )
        except Stopping as stop:
            if not stop.maybe_applied:
                self.ledger.activities_done(
                    plan.lead_id, hashes, "failed", status=None, error=_NOT_DONE
                )
                self._not_done(outcome)
                return []
            self.ledger.activities_done(
                plan.lead_id, hashes, "in_doubt", status=None, error=_STOPPED
            )
            outcome.activities_in_doubt += len(hashes)
            self._interrupted(outcome)
            return []
        except ApiError as exc:
            outcome.http_status, outcome.attempts = exc.status, exc.attempts
            if isinstance(exc, ClientError) and not isinstance(exc, AuthError):
                self.breaker.success()
                self.ledger.activities_done(
                    plan.lead_id, hashes, "failed", status=exc.status, error=exc.error
                )
                outcome.activities_rejected += len(hashes)
                outcome.result = "rejected"
                outcome.problems = [_api_problem(exc)]
                return []
            self.breaker.failure(exc)
            state = "in_doubt" if exc.maybe_applied else "failed"
            self.ledger.activities_done(
                plan.lead_id, hashes, state, status=exc.status, error=exc.error
            )
            if state == "in_doubt":
                outcome.activities_in_doubt += len(hashes)
                outcome.result = "in_doubt"
                outcome.problems = [
                    Problem("in_doubt", f"activities not confirmed ({exc}); the next run decides")
                ]
            else:
                outcome.result = "skipped" if isinstance(exc, AuthError) else "rejected"
                outcome.activities_rejected += len(hashes)
                outcome.problems = [_api_problem(exc)]
            return []
        self.breaker.success()
        self.ledger.activities_done(plan.lead_id, hashes, "sent", status=response.status)
        outcome.activities_sent += len(hashes)
        outcome.possible_duplicates += self._possible_copies(
            plan, hashes, response.unknown_outcomes
        )
        if outcome.http_status is None:
            outcome.http_status, outcome.attempts = response.status, response.attempts
        return hashes


def _duration(seconds: float) -> str:
    """A wait in words: 45 s, 20 min, 3 h."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{round(seconds / 3600, 1):g} h"


def _api_problem(exc: ApiError) -> Problem:
    """A send failure as a reject reason with a stable code."""
    if isinstance(exc, NotFoundError):
        return Problem("http_404", f"the API does not know this site or lead: {exc.error}")
    if isinstance(exc, RateLimitedError):
        return Problem(
            "rate_limited", f"still rate limited after {exc.attempts} attempts: {exc.error}"
        )
    if isinstance(exc, TransportError):
        return Problem(
            "unreachable", f"could not reach the API after {exc.attempts} attempts: {exc.error}"
        )
    if isinstance(exc, TransientError):
        return Problem("retries_exhausted", f"{exc} after {exc.attempts} attempts")
    if exc.status == 422:
        return Problem("http_422", f"the API refused the lead: {exc.error}")
    return Problem(f"http_{exc.status}", f"the API refused the request: {exc.error}")
