"""Around one run: its log file, its last log line and its notification, whatever the exit code.

``watched`` wraps everything a run does, from choosing the mapping to the
report, so that a run ending in any way (done, rejects, stopped, interrupted,
refused before sending) still writes its ``run_end`` line and POSTs its summary.
Neither can change the exit code: a hook that fails is a warning, on stderr
(``warn``) and in the log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.errors import ExitCode, ImporterError, interrupted_code
from importer.models import Outcome
from importer.send import notify, run_log

if TYPE_CHECKING:
    from importer.outputs.report import RunResult


@dataclass
class RunWatch:
    """One run's log and notification settings, and how it ended (``finished``)."""

    run_id: str
    input_name: str
    log_file: Path | None = None
    notify_url: str | None = None
    job: str | None = None
    warn: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr))
    result: RunResult | None = None
    exit_code: int | None = None
    started: float = field(default_factory=time.monotonic)

    def finished(self, result: RunResult, exit_code: int) -> None:
        """The run's result and the exit code the command returns."""
        self.result, self.exit_code = result, exit_code

    def end(self, error: BaseException | None = None) -> None:
        """Log ``run_end`` and notify; ``error`` is what ended the run, if it did not finish."""
        result = self.result if error is None else getattr(error, "result", None)
        code = exit_code_of(error) if error is not None else self.exit_code
        assert code is not None, "call finished() before the run ends without an error"
        if run_log.enabled():
            run_log.event("run_end", **self._end_fields(result, code, error))
        if self.notify_url is not None:
            body = notify.summary(
                run_id=self.run_id, input_name=self.input_name, exit_code=code, job=self.job,
                result=result, error=error,
            )  # fmt: skip
            try:
                failed = notify.post_summary(self.notify_url, body)
            except Exception as exc:  # a hook must never turn a run into a crash
                failed = (
                    f"could not notify {notify.shown_url(self.notify_url)} ({type(exc).__name__})"
                )
            if failed is not None:
                self.warn(f"Warning: {failed}")
                run_log.warning(failed)

    def _end_fields(
        self, result: RunResult | None, code: int, error: BaseException | None
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"exit_code": code}
        if result is not None:
            fields |= {
                "rows": result.input.rows,
                "read_to_end": result.read_to_end,
                "leads": {o.done: result.leads[o] for o in Outcome},
                "activities": dict(result.activities),
                "requests": result.requests,
                "missing_since_last_run": result.missing_since_last_run,
                "stopped": result.stopped is not None,
                "out_dir": str(result.out_dir),
            }
        if error is not None:
            fields["error"] = type(error).__name__  # its text may quote the file: not logged
        fields["duration_s"] = round(time.monotonic() - self.started, 3)
        return fields


def exit_code_of(error: BaseException) -> int:
    """The exit code ``importer.cli.main`` gives a command that raised ``error``."""
    if isinstance(error, ImporterError):
        return int(error.exit_code)
    if isinstance(error, KeyboardInterrupt):
        return int(interrupted_code(error))
    if type(error).__name__ == "Abort":  # click's Abort: Ctrl-C (or SIGTERM) at a question
        return int(interrupted_code(error.__cause__ or error.__context__))
    if isinstance(error, SystemExit):
        return int(error.code or 0) if isinstance(error.code, int) else 1
    return int(ExitCode.INTERNAL)


@contextmanager
def watched(watch: RunWatch) -> Iterator[RunWatch]:
    """Log the run's events to ``watch.log_file`` and end it (``RunWatch.end``) however it ends.

    The caller calls ``watch.finished(result, code)`` when the run returns.
    A log file that cannot be opened raises ConfigError, after notifying.
    """
    if watch.notify_url is not None:
        notify.check_notify_url(watch.notify_url)
    try:
        handler = run_log.attach(watch.log_file, watch.run_id)
    except ImporterError as exc:
        watch.end(exc)
        raise
    try:
        yield watch
    except BaseException as exc:
        watch.end(exc)
        raise
    else:
        watch.end()
    finally:
        run_log.detach(handler)
