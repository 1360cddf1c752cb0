"""How a row's send ends: ``SendOutcome``, the ``SendPolicy`` it was sent under, and its problems.

The functions here only shape outcomes and problems; the requests and the
ledger writes are ``importer.send.sender``'s and ``importer.send.activity_requests``'.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from importer.codes import (
    IN_DOUBT,
    INTERRUPTED,
    RATE_LIMITED,
    RETRIES_EXHAUSTED,
    UNEXPECTED_ANSWER,
    UNREACHABLE,
    http_status,
)
from importer.errors import (
    ApiError,
    NotFoundError,
    RateLimitedError,
    TransientError,
    TransportError,
    UnexpectedAnswerError,
)
from importer.models import Outcome, Problem
from importer.plan.rows import RowPlan
from importer.settings import DEFAULT_UPDATE_API

__all__ = [
    "HELD",
    "STOPPED",
    "STOPPED_UNSENT",
    "SendOutcome",
    "SendPolicy",
    "api_problem",
    "doubt_problem",
    "held_activities",
    "not_sent",
    "possible_copies",
    "stopped_in_doubt",
]

HELD = "an earlier send of this activity is unknown; not resent (--activities-at-most-once)"
STOPPED = (
    "the run stopped while this request waited to be retried; an earlier try may have been applied"
)
STOPPED_UNSENT = (
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


def held_activities(policy: SendPolicy, plan: RowPlan) -> set[str]:
    """Activities whose earlier send is unknown and must not be resent (at most once)."""
    return set(plan.activities_in_doubt) if policy.activities_at_most_once else set()


def possible_copies(plan: RowPlan, sent: list[str], unknown_outcomes: int) -> int:
    """How many extra copies of the activities just sent the server may now hold.

    Every try whose outcome was unknown may have stored the whole batch once
    more, and an activity whose earlier send was unknown may be there already.
    """
    return len(sent) * unknown_outcomes + len(set(plan.activities_in_doubt) & set(sent))


def stopped_in_doubt(outcome: SendOutcome) -> SendOutcome:
    """The row ends in doubt: the run stopped while a request that may have applied waited."""
    outcome.result = Outcome.IN_DOUBT
    outcome.problems = [Problem(INTERRUPTED, STOPPED)]
    return outcome


def unrecorded(plan: RowPlan, exc: Exception) -> SendOutcome:
    """A row whose request went out but whose ledger write failed: in doubt."""
    unrecorded = f"sent, but the ledger could not record the answer ({exc})"
    return SendOutcome(plan, Outcome.IN_DOUBT, [Problem(IN_DOUBT, unrecorded)])


def not_sent(outcome: SendOutcome, problem: Problem) -> SendOutcome:
    """The row ends not sent; its activities not sent, sent or in doubt are counted once."""
    plan = outcome.plan
    outcome.result, outcome.problems = Outcome.NOT_SENT, [problem]
    outcome.activities_not_sent = max(
        0, len(plan.activities) - outcome.activities_in_doubt - outcome.activities_sent
    )
    return outcome


def doubt_problem(exc: ApiError, then: str) -> Problem:
    """Why a request's outcome is unknown, naming a foreign 2xx answer for what it is."""
    if isinstance(exc, UnexpectedAnswerError):
        return Problem(
            UNEXPECTED_ANSWER,
            f"the answer was {exc}; the request may or may not have reached the API, {then}",
        )
    return Problem(IN_DOUBT, f"no answer to be sure of ({exc}); {then}")


def api_problem(exc: ApiError) -> Problem:
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
