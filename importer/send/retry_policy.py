"""Which failed attempts are retried, after how long, and what an error answer means.

An attempt that failed is described by a ``Failure``: the ``ApiError`` to raise
if it is the last one, whether trying again can help, and whether the server
may nevertheless have applied the request. ``classify_answer`` makes one from
an HTTP error answer; ``importer.send.client`` makes the ones for exchanges that got
no answer (it alone knows the HTTP library's exceptions). ``retry_delay`` then
decides how long to wait before the next try, or that there is none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from importer import api_contract as contract
from importer.errors import (
    ApiError,
    AuthError,
    BadRequestError,
    ClientError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnexpectedAnswerError,
    ValidationError,
)
from importer.send.client_settings import ClientSettings
from importer.send.http_errors import parse_retry_after, readable_error, unexpected_body

# Statuses after which the server may already have done the work (it got the body).
UNKNOWN_OUTCOME_STATUSES = frozenset({500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})


@dataclass
class Failure:
    """A failed attempt, classified."""

    error: ApiError
    key: str  # stats key: the status, or "timeout" / "connection"
    retryable: bool
    maybe_applied: bool
    retry_after: float | None = None
    not_found: bool = False


def classify_answer(
    status: int,
    reason: str | None,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    url: str,
) -> Failure:
    """Classify an HTTP error answer into the error class and retry policy.

    ``headers`` is looked up with ``get``, so pass the HTTP library's
    case-insensitive mapping as it is.
    """
    message = readable_error(status, reason, headers.get("Content-Type", ""), body)
    common: dict[str, Any] = {"status": status, "method": method, "url": url}
    key = str(status)
    retry_after = (
        parse_retry_after(headers.get("Retry-After")) if status in RETRY_AFTER_STATUSES else None
    )
    if status == 429:
        error: ApiError = RateLimitedError(message, retry_after=retry_after, **common)
        return Failure(error, key, retryable=True, maybe_applied=False, retry_after=retry_after)
    if status >= 500:
        retryable = status in contract.RETRY_STATUSES
        return Failure(
            ServerError(message, **common),
            key,
            retryable=retryable,
            maybe_applied=status in UNKNOWN_OUTCOME_STATUSES,
            retry_after=retry_after,
        )
    if status == 404:
        return Failure(
            NotFoundError(message, **common),
            key,
            retryable=False,
            maybe_applied=False,
            not_found=True,
        )
    if 400 <= status < 500:
        cls: type[ClientError] = {
            400: BadRequestError,
            401: AuthError,
            403: AuthError,
            422: ValidationError,
        }.get(status, ClientError)
        return Failure(cls(message, **common), key, retryable=False, maybe_applied=False)
    # 1xx/3xx: redirects are not followed (they would turn a POST into a GET and
    # may drop the auth header), so point the user at the right base URL.
    location = headers.get("Location", "")
    where = f" to {location}" if location else ""
    error = ApiError(
        f"unexpected {status} redirect{where}: set the base URL to the final address", **common
    )
    return Failure(error, key, retryable=False, maybe_applied=False)


def classify_success(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    url: str,
    expected: type = dict,
) -> Failure | None:
    """None when a 2xx carries the API's JSON object (a list when ``expected`` is
    ``list``); otherwise an in-doubt failure.

    Not retried: whatever answered may have passed the request on, and a
    resend could add activities twice; the row is left in doubt for the run
    (and the circuit breaker) to judge.
    """
    what = unexpected_body(headers.get("Content-Type", ""), body, expected=expected)
    if what is None:
        return None
    error = UnexpectedAnswerError(
        f"{what} instead of the API's JSON",
        status=status, method=method, url=url, maybe_applied=True,
    )  # fmt: skip
    return Failure(error, str(status), retryable=False, maybe_applied=True)


def retry_delay(
    settings: ClientSettings,
    failure: Failure,
    attempt: int,
    *,
    retry_unknown: bool,
    not_found_seen: int,
    retry_not_found: bool,
    jitter: Callable[[float], float],
) -> float | None:
    """Seconds to wait before the next try, or None to give up now.

    ``attempt`` is the number of the try that failed, ``not_found_seen`` how
    many earlier tries answered 404. ``jitter(ceiling)`` returns a random wait
    between 0 and ``ceiling``; it is called only for a backoff wait.
    """
    if failure.not_found:
        if retry_not_found and not_found_seen + 1 < settings.not_found_attempts:
            return settings.not_found_delay
        return None
    if not failure.retryable:
        return None
    if failure.maybe_applied and not retry_unknown:
        return None
    if failure.retry_after is not None:
        if failure.retry_after > settings.max_retry_after:
            return None  # the server wants a long break: fail now, a later run resumes
        return failure.retry_after
    ceiling = min(settings.backoff_max, settings.backoff_base * 2 ** (attempt - 1))
    return jitter(ceiling)  # "full jitter": spreads out retrying workers
