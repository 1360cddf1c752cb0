"""What the sending processes and the run's process say to each other, as plain data.

``importer.send.process_client`` (the run's process) and
``importer.send.process_child`` (each sending process) exchange tuples of
builtins over a pipe. Exceptions cross it as data and are rebuilt on the other
side: an ``ApiError`` takes keyword arguments, which pickling an exception
does not carry reliably.
"""

from __future__ import annotations

from typing import Any

from importer import errors
from importer.errors import ApiError, RateLimitedError, Stopping

__all__ = [
    "CALL", "CLOSE", "DONE", "GIVE_UP", "STATS", "STOP", "error_data", "rebuilt_error",
]  # fmt: skip

# parent -> child
CALL = "call"  # (CALL, call id, method name, args, kwargs)
STOP = "stop"  # (STOP,): the run stops; every wait ends, tries in flight are cut short
STATS = "stats"  # (STATS, call id): answered with DONE carrying the stats
CLOSE = "close"  # (CLOSE,): nothing is in flight any more; close and exit
# child -> parent
DONE = "done"  # (DONE, call id, ok, result or error data, stats, attempts)
GIVE_UP = "give_up"  # (GIVE_UP, seconds): the rate limiter's on_give_up


def error_data(exc: BaseException) -> tuple[Any, ...]:
    """An exception as a tuple of builtins that ``rebuilt_error`` makes it again from."""
    if isinstance(exc, Stopping):
        return ("stopping", exc.maybe_applied)
    if isinstance(exc, ApiError):
        retry_after = getattr(exc, "retry_after", None)
        fields = (exc.error, exc.status, exc.method, exc.url, exc.attempts, exc.maybe_applied)
        return ("api", type(exc).__name__, *fields, retry_after)
    return ("other", type(exc).__name__, str(exc))


def rebuilt_error(data: tuple[Any, ...]) -> Exception:
    """The exception ``error_data`` described: the same class and fields for the API's
    errors and ``Stopping``, a ``ValueError`` for a bad argument, else a ``RuntimeError``."""
    kind = data[0]
    if kind == "stopping":
        return Stopping(maybe_applied=data[1])
    if kind == "api":
        name, error, status, method, url, attempts, maybe_applied, retry_after = data[1:]
        cls = getattr(errors, name, None)
        if not (isinstance(cls, type) and issubclass(cls, ApiError)):
            cls = ApiError
        kwargs: dict[str, Any] = dict(
            status=status, method=method, url=url, attempts=attempts, maybe_applied=maybe_applied
        )
        if issubclass(cls, RateLimitedError):
            kwargs["retry_after"] = retry_after
        return cls(error, **kwargs)
    name, message = data[1], data[2]
    if name == "ValueError":  # a bad site or lead id, a payload JSON cannot carry
        return ValueError(message)
    return RuntimeError(f"a sending process failed: {name}: {message}")
