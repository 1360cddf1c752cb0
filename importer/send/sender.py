"""Sending one planned row: the requests, in order, with write-ahead ledger entries.

``Sender.send`` runs in a worker thread. For each row it first marks the work
``sending`` in the ledger (committed, in a group commit shared with the other
threads), then makes the request(s), then records the outcome (committed before
the thread takes another row), so a crash at any point leaves at most the rows
the threads hold open, each recoverable: a lead POST with our deterministic id
merges on the server, so resending it is safe. Only
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

On a ledger runs share (PostgreSQL), a row another run is sending, or began
after this run started, is refused when this run marks it (RowClaimed): it
ends ``not_sent`` with the code ``claimed``, and nothing is requested.

The activities' own request is ``importer.send.activity_requests``, the shared
ledger writes ``importer.send.row_records``, and the outcome and its problems
``importer.send.send_outcome``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from importer.codes import CLAIMED, IN_DOUBT, NOT_SENT
from importer.errors import (
    ApiError,
    AuthError,
    ClientError,
    LedgerWriteError,
    NotFoundError,
    RowClaimed,
    Stopping,
    TransientError,
)
from importer.models import Outcome, Problem
from importer.plan.rows import RowPlan
from importer.send.activity_requests import ActivityRequests
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
    unrecorded,
)

__all__ = ["Sender"]


# Client calls that wait for a turn to send, or give it back, without a request.
_NOT_REQUESTS = frozenset({"prepare", "unprepare", "stats", "waiting_retries"})


class _Watched:
    """The client as a worker sees it: ``requested`` says whether this thread made a request
    (set by each call through it, cleared per row by ``Sender.send``), so a row whose ledger
    write fails is known to be not sent or in doubt."""

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
        if callable(found):
            if name not in _NOT_REQUESTS:
                found = partial(self._request, found)
            self.__dict__[name] = found  # found there from now on, not through __getattr__
        return found

    def _request(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self._local.requested = True
        return method(*args, **kwargs)


@dataclass
class _Carried:
    """What the lead request in hand carries, and whether an earlier try of the lead may have applied."""

    hashes: list[str]
    activities: list[dict[str, Any]]
    lead_unknown: bool = False


class Sender:
    """Sends planned rows through a Client, recording each step in the Ledger."""

    def __init__(self, client: Any, ledger: Any, policy: SendPolicy, breaker: CircuitBreaker):
        self.client = _Watched(client)
        self.ledger = ledger
        self.policy = policy
        self.breaker = breaker
        self.records = RowRecords(ledger, policy)
        self.activities = ActivityRequests(self.client, self.records, policy, breaker)

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
            return unrecorded(plan, exc)
        except Stopping:  # from a prepare() before the row's first write: nothing was done
            return SendOutcome(plan, Outcome.NOT_SENT, activities_not_sent=len(plan.activities))
        except RowClaimed as exc:  # another run sharing the ledger has the row: left to it
            if self.client.requested:  # refused after a request (a deadlock): may be applied
                return unrecorded(plan, exc)
            return SendOutcome(
                plan, Outcome.NOT_SENT, [Problem(CLAIMED, str(exc))],
                activities_not_sent=len(plan.activities),
            )  # fmt: skip
        finally:
            self.client.unprepare()

    def settled(
        self, outcome: SendOutcome, tell: Callable[[SendOutcome | None, BaseException | None], None]
    ) -> None:
        """``tell(outcome, None)`` once ``send``'s write left for later is committed, from the thread
        committing it. Failing as ``send``'s own writes can (``LedgerWriteError``, ``RowClaimed``)
        stops the run as there, the row in doubt; any other error: ``tell(None, error)``."""

        def then(error: BaseException | None) -> None:
            if error is None:
                tell(outcome, None)
            elif isinstance(error, LedgerWriteError | RowClaimed):
                if isinstance(error, LedgerWriteError):
                    self.breaker.halt(error)
                tell(unrecorded(outcome.plan, error), None)
            else:
                tell(None, error)

        self.ledger.settled(then)

    # ----------------------------------------------------------------- leads

    def _lead_body(self, plan: RowPlan, activities: list[dict[str, Any]]) -> dict[str, Any]:
        assert plan.fields is not None
        body: dict[str, Any] = {"id": plan.lead_id, **plan.fields}
        if activities:
            body["activities"] = activities
        return body

    def _create(self, plan: RowPlan) -> SendOutcome:
        p = self.policy
        held = held_activities(p, plan)
        if held and p.kind == "potential_seller":
            # An anonymous lead is its property_viewed activity: it cannot be sent
            # without it, and at most once forbids sending it again.
            outcome = SendOutcome(plan, Outcome.IN_DOUBT, [Problem(IN_DOUBT, HELD)])
            outcome.doubt(h for h, _ in plan.activities if h in held)
            return outcome
        to_send = [(h, a) for h, a in plan.activities if h not in held]
        carried = _Carried([h for h, _ in to_send], [a for _, a in to_send])
        self.client.prepare()
        self.records.begin(plan, plan.activities_done + carried.hashes, dict(to_send))
        outcome = SendOutcome(plan, Outcome.CREATE)
        outcome.doubt(h for h, _ in plan.activities if h in held)
        try:
            response = self._post_lead(plan, outcome, carried)
        except Stopping as stop:
            return self._create_stopped(plan, outcome, carried, stop)
        except ApiError as exc:
            if carried.lead_unknown:
                exc.maybe_applied = True  # the first try carried the lead too
            return self._lead_failed(plan, exc, carried.hashes, outcome, creating=True)
        if response is None:  # a potential seller whose activities are in doubt
            return outcome
        self.breaker.success()
        # committed with the next group: ``settled`` tells the run once it is
        self.ledger.lead_sent(
            p.site, p.source, plan.key, status=response.status, activity_hashes=carried.hashes,
            created=True, later=True,
        )  # fmt: skip
        outcome.http_status, outcome.attempts = response.status, response.attempts
        outcome.activities_sent += len(carried.hashes)
        outcome.possible_duplicates += possible_copies(
            plan, carried.hashes, response.unknown_outcomes
        )
        return outcome

    def _create_call(self) -> Any:
        if self.policy.kind == "potential_seller":
            return self.client.create_potential_seller_lead
        return self.client.create_lead

    def _post_lead(self, plan: RowPlan, outcome: SendOutcome, carried: _Carried) -> Any:
        """POST the new lead with its activities; None when it ends in doubt without a request.

        At most once, the activities are sent without retries: a try that may
        have been applied is not resent with them (see ``_lead_without_activities``).
        """
        p = self.policy
        create = self._create_call()
        if not (p.activities_at_most_once and carried.activities):
            return create(p.site, self._lead_body(plan, carried.activities))
        try:
            return create(p.site, self._lead_body(plan, carried.activities), retry_unknown=False)
        except TransientError as exc:
            if not exc.maybe_applied:
                raise
            return self._lead_without_activities(plan, outcome, carried, exc)

    def _lead_without_activities(
        self, plan: RowPlan, outcome: SendOutcome, carried: _Carried, exc: TransientError
    ) -> Any:
        """After a try that may have stored the activities: resend the lead alone, or hold it."""
        p = self.policy
        # The server may have stored the activities: never send them again;
        # the lead itself is safe to resend (a POST with our id merges).
        self.ledger.activities_done(
            plan.lead_id, carried.hashes, "in_doubt", status=exc.status, error=exc.error
        )
        outcome.doubt(carried.hashes)
        carried.hashes, carried.activities, carried.lead_unknown = [], [], True
        if p.kind == "potential_seller":
            self.ledger.lead_in_doubt(
                p.site, p.source, plan.key, status=exc.status, error=exc.error
            )
            outcome.result = Outcome.IN_DOUBT
            outcome.problems = [Problem(IN_DOUBT, HELD)]
            return None
        self.records.begin(plan, plan.activities_done)
        return self._create_call()(p.site, self._lead_body(plan, []))

    def _create_stopped(
        self, plan: RowPlan, outcome: SendOutcome, carried: _Carried, stop: Stopping
    ) -> SendOutcome:
        """The run stopped during the create: not sent, or in doubt if a try may have applied."""
        p = self.policy
        # ``carried.hashes`` names what the interrupted request carried
        if not (stop.maybe_applied or carried.lead_unknown):
            self.records.lead_not_sent(plan, carried.hashes, STOPPED_UNSENT)
            return not_sent(outcome, Problem(NOT_SENT, STOPPED_UNSENT))
        self.ledger.lead_in_doubt(
            p.site, p.source, plan.key, status=None, error=STOPPED, activity_hashes=carried.hashes
        )
        outcome.doubt(carried.hashes)
        return stopped_in_doubt(outcome)

    def _update(self, plan: RowPlan) -> SendOutcome:
        p = self.policy
        outcome = SendOutcome(plan, Outcome.UPDATE)
        changed = dict(plan.changed or {})
        if p.update_api == "v2":
            changed.update({name: "" for name in plan.cleared})
        if changed or plan.resend:
            if changed:
                self.client.prepare()
            self.records.begin(plan, plan.activities_done)
            try:
                if changed:
                    response = self.client.update_lead(p.site, plan.lead_id, changed)
                    outcome.http_status, outcome.attempts = response.status, response.attempts
            except Stopping as stop:
                if not stop.maybe_applied:
                    self.records.lead_not_sent(plan, [], STOPPED_UNSENT)
                    return not_sent(outcome, Problem(NOT_SENT, STOPPED_UNSENT))
                self.ledger.lead_in_doubt(p.site, p.source, plan.key, status=None, error=STOPPED)
                return stopped_in_doubt(outcome)
            except ApiError as exc:
                return self._lead_failed(plan, exc, [], outcome)
            self.breaker.success()
            self.ledger.lead_sent(p.site, p.source, plan.key, status=outcome.http_status or 200)
        sent = self.activities.post(plan, outcome)
        if sent:
            # the row's summary now includes the new activities
            self.records.begin(plan, plan.activities_done + sent)
            self.ledger.lead_sent(p.site, p.source, plan.key, status=outcome.http_status or 200)
        elif not changed and outcome.result == Outcome.UPDATE:
            # nothing was sent: the only new activities are held (at most once),
            # or the only change is a cleared field that the v1 API cannot clear
            outcome.result = Outcome.UNCHANGED
        return outcome

    def refresh(self, plan: RowPlan) -> None:
        """Rewrite the ledger summary of an unchanged row (no request is made).

        A row another run sharing the ledger has claimed is left as that run records it.
        """
        try:
            self.records.begin(plan, plan.activities_done)
        except RowClaimed:
            return
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
            self.records.lead_not_sent(plan, hashes, exc.error)
            return not_sent(outcome, api_problem(exc))
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
                return not_sent(outcome, api_problem(exc))
            outcome.result = Outcome.REJECT
            outcome.problems = [api_problem(exc)]
            outcome.activities_rejected += len(plan.activities)
            return outcome
        self.ledger.lead_in_doubt(
            p.site, p.source, plan.key, status=exc.status, error=exc.error, activity_hashes=hashes
        )
        outcome.result = Outcome.IN_DOUBT
        outcome.doubt(hashes)
        outcome.problems = [doubt_problem(exc, "the next run sends it again")]
        return outcome

    # ----------------------------------------------------------------- activities

    def _send_activities_only(self, plan: RowPlan) -> SendOutcome:
        outcome = SendOutcome(plan, Outcome.CREATE)
        self.activities.post(plan, outcome)
        return outcome
