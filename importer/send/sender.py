"""Sending one planned row: the requests, in order, with write-ahead ledger entries.

``Sender.send`` runs in a worker thread. For each row it first marks the work
``sending`` in the ledger (committed), then makes the request(s), then records
the outcome, so a crash at any point leaves the row recoverable: a lead POST
with our deterministic id merges on the server, so resending it is safe. Only
activities can be duplicated by a resend, and the policy for that is explicit:
at least once (the default; counted as possible duplicates) or at most once
(held as in doubt).

A request that never reached the server (connection refused, DNS failure)
applied nothing: its row ends ``not_sent`` and stays pending in the ledger, so
the next run sends it. A 2xx whose body is not the API's JSON ends the row in
doubt: something else answered (a captive portal, an SSO proxy), and whether
the API got the request is unknown.

The circuit breaker (``importer.send.breaker``) stops the whole run after a
401/403, or after a run of consecutive requests that failed for transport or
server reasons, or that got such a foreign 2xx; its message says which. It also
stops the run when the ledger cannot be written (full disk, file deleted): the
row at hand then ends not sent if none of its requests went out, in doubt if
one did.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from importer.codes import (
    IN_DOUBT,
    INTERRUPTED,
    NOT_SENT,
    RATE_LIMITED,
    RETRIES_EXHAUSTED,
    UNEXPECTED_ANSWER,
    UNREACHABLE,
    http_status,
)
from importer.errors import (
    ApiError,
    AuthError,
    ClientError,
    LedgerWriteError,
    NotFoundError,
    RateLimitedError,
    Stopping,
    TransientError,
    TransportError,
    UnexpectedAnswerError,
)
from importer.ledger.store import payload_hash
from importer.models import Outcome, Problem
from importer.plan.payloads import ledger_payload
from importer.plan.rows import RowPlan
from importer.send.breaker import CircuitBreaker, never_reached
from importer.settings import DEFAULT_UPDATE_API

__all__ = ["SendOutcome", "SendPolicy", "Sender"]


_HELD = "an earlier send of this activity is unknown; not resent (--activities-at-most-once)"
_STOPPED = (
    "the run stopped while this request waited to be retried; an earlier try may have been applied"
)
_STOPPED_UNSENT = (
    "the run stopped before this request reached the server; nothing was applied, "
    "the next run sends it"
)


@dataclass
class SendOutcome:
    """How one row ended: exactly one of created, updated, unchanged, rejected, in_doubt, not_sent.

    ``not_sent``: nothing of the row reached the server in this run (it could
    not be reached, or the run stopped first); the row stays pending.
    """

    plan: RowPlan
    result: Outcome  # never planned-only: CREATE, UPDATE, UNCHANGED, REJECT, IN_DOUBT, NOT_SENT
    problems: list[Problem] = field(default_factory=list)
    http_status: int | None = None
    attempts: int | None = None
    activities_sent: int = 0
    activities_rejected: int = 0
    activities_not_sent: int = 0
    possible_duplicates: int = 0  # extra copies of activities the server may now hold
    # hashes of the activities this run left in doubt (held, or sent with an unknown outcome)
    in_doubt_hashes: list[str] = field(default_factory=list)

    @property
    def activities_in_doubt(self) -> int:
        return len(self.in_doubt_hashes)

    def doubt(self, hashes: Iterable[str]) -> None:
        """Count these activities in doubt (once each)."""
        self.in_doubt_hashes.extend(h for h in hashes if h not in self.in_doubt_hashes)


@dataclass(frozen=True)
class SendPolicy:
    site: str
    source: str
    kind: str  # lead | potential_seller | activity
    activities_at_most_once: bool = False
    update_api: str = DEFAULT_UPDATE_API  # v2 can clear fields that became empty
    max_consecutive_failures: int = 10


# Client calls that wait for a turn to send, or give it back, without a request.
_NOT_REQUESTS = frozenset({"prepare", "unprepare", "stats"})


class _Watched:
    """The client as a worker sees it: ``requested`` says whether this thread made a request.

    Set before each call through it and cleared per row by ``Sender.send``, so
    a row whose ledger write fails is known to be not sent or in doubt.
    """

    def __init__(self, client: Any):
        self._client = client
        self._local = threading.local()

    @property
    def requested(self) -> bool:
        return bool(getattr(self._local, "requested", False))

    @requested.setter
    def requested(self, value: bool) -> None:
        self._local.requested = value

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if not callable(found) or name in _NOT_REQUESTS:
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self._local.requested = True
            return found(*args, **kwargs)

        return call


class Sender:
    """Sends planned rows through a Client, recording each step in the Ledger."""

    def __init__(self, client: Any, ledger: Any, policy: SendPolicy, breaker: CircuitBreaker):
        self.client = _Watched(client)
        self.ledger = ledger
        self.policy = policy
        self.breaker = breaker

    # ----------------------------------------------------------------- entry

    def send(self, plan: RowPlan) -> SendOutcome:
        """Carry out one row's plan; never raises for the row's own failures.

        Each request first waits (``client.prepare``) for a place in flight
        and the rate limiter, before anything is written to the ledger: a run
        stopping then leaves the row as it was, ``not_sent``. When the run stops
        while a request waits to be retried, what that request carried is
        recorded in doubt when an earlier try may have been applied (the row ends
        ``in_doubt``; the next run settles it), and as not sent when no try
        reached the server (the row ends ``not_sent``; the next run sends it).
        """
        if self.breaker.stop.is_set():
            return SendOutcome(plan, Outcome.NOT_SENT, activities_not_sent=len(plan.activities))
        self.client.requested = False
        try:
            if self.policy.kind == "activity":
                return self._send_activities_only(plan)
            if plan.action is Outcome.CREATE:
                return self._create(plan)
            return self._update(plan)
        except LedgerWriteError as exc:
            self.breaker.halt(exc)
            if not self.client.requested:
                # writes are ahead of requests: nothing of this row left
                return SendOutcome(plan, Outcome.NOT_SENT, activities_not_sent=len(plan.activities))
            unrecorded = f"sent, but the ledger could not record the answer ({exc})"
            return SendOutcome(plan, Outcome.IN_DOUBT, [Problem(IN_DOUBT, unrecorded)])
        except Stopping:  # from a prepare() before the row's first write: nothing was done
            return SendOutcome(plan, Outcome.NOT_SENT, activities_not_sent=len(plan.activities))
        finally:
            self.client.unprepare()

    @staticmethod
    def _interrupted(outcome: SendOutcome) -> SendOutcome:
        outcome.result = Outcome.IN_DOUBT
        outcome.problems = [Problem(INTERRUPTED, _STOPPED)]
        return outcome

    @staticmethod
    def _not_sent(outcome: SendOutcome, problem: Problem) -> SendOutcome:
        """The row ends not sent; its activities not sent, sent or in doubt are counted once."""
        plan = outcome.plan
        outcome.result, outcome.problems = Outcome.NOT_SENT, [problem]
        outcome.activities_not_sent = max(
            0, len(plan.activities) - outcome.activities_in_doubt - outcome.activities_sent
        )
        return outcome

    def _unsent_activities(self, plan: RowPlan, hashes: list[str], error: str) -> None:
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

    def _lead_not_sent(self, plan: RowPlan, hashes: list[str], error: str) -> None:
        """Record a lead request that never reached the server: pending for the next run."""
        p = self.policy
        self.ledger.lead_failed(p.site, p.source, plan.key, status=None, error=error)
        self._unsent_activities(plan, hashes, error)

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
            outcome = SendOutcome(plan, Outcome.IN_DOUBT, [Problem(IN_DOUBT, _HELD)])
            outcome.doubt(h for h, _ in plan.activities if h in held)
            return outcome
        to_send = [(h, a) for h, a in plan.activities if h not in held]
        hashes = [h for h, _ in to_send]
        self.client.prepare()
        self._begin(plan, plan.activities_done + hashes, dict(to_send))
        outcome = SendOutcome(plan, Outcome.CREATE)
        outcome.doubt(h for h, _ in plan.activities if h in held)
        lead_unknown = False  # an earlier try of this lead may have been applied
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
                    outcome.doubt(hashes)
                    hashes, to_send, lead_unknown = [], [], True
                    if p.kind == "potential_seller":
                        self.ledger.lead_in_doubt(
                            p.site, p.source, plan.key, status=exc.status, error=exc.error
                        )
                        outcome.result = Outcome.IN_DOUBT
                        outcome.problems = [Problem(IN_DOUBT, _HELD)]
                        return outcome
                    self._begin(plan, plan.activities_done)
                    response = create(p.site, self._lead_body(plan, []))
            else:
                response = create(p.site, self._lead_body(plan, [a for _, a in to_send]))
        except Stopping as stop:
            # ``hashes`` names what the interrupted request carried
            if not (stop.maybe_applied or lead_unknown):
                self._lead_not_sent(plan, hashes, _STOPPED_UNSENT)
                return self._not_sent(outcome, Problem(NOT_SENT, _STOPPED_UNSENT))
            self.ledger.lead_in_doubt(
                p.site, p.source, plan.key, status=None, error=_STOPPED, activity_hashes=hashes
            )
            outcome.doubt(hashes)
            return self._interrupted(outcome)
        except ApiError as exc:
            if lead_unknown:
                exc.maybe_applied = True  # the first try carried the lead too
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
        outcome = SendOutcome(plan, Outcome.UPDATE)
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
                    self._lead_not_sent(plan, [], _STOPPED_UNSENT)
                    return self._not_sent(outcome, Problem(NOT_SENT, _STOPPED_UNSENT))
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
        elif not changed and outcome.result == Outcome.UPDATE:
            # nothing was sent: the only new activities are held (at most once),
            # or the only change is a cleared field that the v1 API cannot clear
            outcome.result = Outcome.UNCHANGED
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
        if never_reached(exc):
            self.breaker.failure(exc)
            self._lead_not_sent(plan, hashes, exc.error)
            return self._not_sent(outcome, _api_problem(exc))
        # answers every request of the run would get: the run stops, the row is not sent
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
            if not refused:
                # Turned away unapplied (401, 404 on create, 429 or 5xx after every
                # retry): the row's data was not refused, so it is not a reject.
                return self._not_sent(outcome, _api_problem(exc))
            outcome.result = Outcome.REJECT
            outcome.problems = [_api_problem(exc)]
            outcome.activities_rejected += len(plan.activities)
            return outcome
        self.ledger.lead_in_doubt(
            p.site, p.source, plan.key, status=exc.status, error=exc.error, activity_hashes=hashes
        )
        outcome.result = Outcome.IN_DOUBT
        outcome.doubt(hashes)
        outcome.problems = [_doubt_problem(exc, "the next run sends it again")]
        return outcome

    # ----------------------------------------------------------------- activities

    def _send_activities_only(self, plan: RowPlan) -> SendOutcome:
        outcome = SendOutcome(plan, Outcome.CREATE)
        self._post_activities(plan, outcome)
        return outcome

    def _post_activities(self, plan: RowPlan, outcome: SendOutcome) -> list[str]:
        """Post the row's new activities in one request; returns the hashes confirmed sent.

        Sets ``outcome.result`` to rejected, in_doubt or not_sent when the post fails.
        """
        p = self.policy
        held = self._held(plan)
        to_send = [(h, a) for h, a in plan.activities if h not in held]
        outcome.doubt(h for h, _ in plan.activities if h in held)
        if not to_send:
            if held and p.kind == "activity":
                outcome.result = Outcome.IN_DOUBT
                outcome.problems = [Problem(IN_DOUBT, _HELD)]
            return []
        hashes = [h for h, _ in to_send]
        try:
            self.client.prepare()
        except Stopping:  # nothing of these activities was recorded or sent
            self._not_sent(outcome, Problem(NOT_SENT, _STOPPED_UNSENT))
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
                self._unsent_activities(plan, hashes, _STOPPED_UNSENT)
                self._not_sent(outcome, Problem(NOT_SENT, _STOPPED_UNSENT))
                return []
            self.ledger.activities_done(
                plan.lead_id, hashes, "in_doubt", status=None, error=_STOPPED
            )
            outcome.doubt(hashes)
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
                outcome.result = Outcome.REJECT
                outcome.problems = [_api_problem(exc)]
                return []
            self.breaker.failure(exc)
            if never_reached(exc) or isinstance(exc, AuthError):
                self._unsent_activities(plan, hashes, exc.error)
                self._not_sent(outcome, _api_problem(exc))
                return []
            state = "in_doubt" if exc.maybe_applied else "failed"
            self.ledger.activities_done(
                plan.lead_id, hashes, state, status=exc.status, error=exc.error
            )
            if state == "in_doubt":
                outcome.doubt(hashes)
                outcome.result = Outcome.IN_DOUBT
                outcome.problems = [_doubt_problem(exc, "the next run decides")]
            else:
                # 429 or 5xx after every retry, certainly unapplied: sent again next run.
                self._not_sent(outcome, _api_problem(exc))
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


def _doubt_problem(exc: ApiError, then: str) -> Problem:
    """Why a request's outcome is unknown, naming a foreign 2xx answer for what it is."""
    if isinstance(exc, UnexpectedAnswerError):
        return Problem(
            UNEXPECTED_ANSWER,
            f"the answer was {exc}; the request may or may not have reached the API, {then}",
        )
    return Problem(IN_DOUBT, f"no answer to be sure of ({exc}); {then}")


def _api_problem(exc: ApiError) -> Problem:
    """A send failure as a reject reason with a stable code."""
    if isinstance(exc, NotFoundError):
        return Problem(http_status(404), f"the API does not know this site or lead: {exc.error}")
    if isinstance(exc, RateLimitedError):
        return Problem(
            RATE_LIMITED, f"still rate limited after {exc.attempts} attempts: {exc.error}"
        )
    if isinstance(exc, TransportError):
        return Problem(
            UNREACHABLE, f"could not reach the API after {exc.attempts} attempts: {exc.error}"
        )
    if isinstance(exc, TransientError):
        return Problem(RETRIES_EXHAUSTED, f"{exc} after {exc.attempts} attempts")
    if exc.status == 422:
        return Problem(http_status(422), f"the API refused the lead: {exc.error}")
    return Problem(http_status(exc.status), f"the API refused the request: {exc.error}")
