"""How a run ends: the signals that stop it, its exit code, and its report.

Ctrl-C and SIGTERM stop a run the same way (rows in flight finish or are held
in doubt, the ledger stays consistent, report.json is written); they differ in
what the report says and in the exit code (130, 143), so a scheduler that
stopped the job can tell it from a person who did.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from importer.errors import ExitCode, RunWriteFailed, Terminated
from importer.models import Outcome
from importer.outputs import private_files, report_html
from importer.outputs.report import RunResult, rejects_fail, report_json
from importer.send.breaker import CircuitBreaker
from importer.send.run_outputs import FileWriteError, Tally, write_failure

INTERRUPTED = "interrupted (Ctrl-C)"
TERMINATED = "stopped by SIGTERM"


def stop_reason(interrupt: KeyboardInterrupt) -> str:
    """What report.json's ``stopped`` says for Ctrl-C or SIGTERM."""
    return TERMINATED if isinstance(interrupt, Terminated) else INTERRUPTED


@dataclasses.dataclass(frozen=True)
class Ending:
    """What decides a run's exit code besides its tally and its breaker."""

    interrupt: KeyboardInterrupt | None  # Ctrl-C or SIGTERM stopped the run
    rejects_known: int  # rejects an earlier run reported
    fail_on: str  # which rejects make exit 3 (settings.FAIL_ON)
    problems: bool  # the input as a whole has a problem (empty_input)


def exit_code(tally: Tally, breaker: CircuitBreaker, ending: Ending) -> ExitCode:
    """The run's exit code: how it stopped, else whether rows or the file need a look."""
    return outcome_code(tally.leads, tally.activities["held"], breaker.reason, ending)


def outcome_code(
    leads: Counter[Outcome], held: int, stopped: str | None, ending: Ending
) -> ExitCode:
    """``exit_code`` from the counts of rows per outcome, the activities held and why the
    run stopped early (None: it did not); also for a run spread over tasks (importer.scale)."""
    if ending.interrupt is not None:
        terminated = isinstance(ending.interrupt, Terminated)
        return ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED
    if stopped is not None:
        return ExitCode.ABORTED
    rejected = leads[Outcome.REJECT]
    unsure = leads[Outcome.IN_DOUBT] or leads[Outcome.NOT_SENT]
    # the run finished, but rows or activities are not (surely) there: exit 3, so a nightly
    # job notices. Held activities may be missing from their leads and someone has to look;
    # rows not sent are sent by the next run. Which rejects count is --fail-on's to say.
    if unsure or held or ending.problems:
        return ExitCode.REJECTS
    if rejects_fail(rejected, ending.rejects_known, ending.fail_on):
        return ExitCode.REJECTS
    return ExitCode.OK


def write_report(result: RunResult, failed: Exception | None) -> RunResult:
    """Write report.json and report.html; raises RunWriteFailed when a file of the run could not be written."""
    sent = result.leads[Outcome.CREATE] + result.leads[Outcome.UPDATE]
    if failed is not None:
        result = dataclasses.replace(result, stopped=write_failure(failed, sent))
    report_file = writing = result.out_dir / "report.json"
    try:
        data = report_json(result)
        private_files.write_json(report_file, data)
        result = dataclasses.replace(result, report_file=report_file)
        writing = result.out_dir / "report.html"
        report_html.write_html(writing, data)
    except OSError as exc:
        # the run's outcome matters more than its report files: the caller shows it
        failed = failed or FileWriteError(writing, exc)
        stopped = result.stopped or write_failure(failed, sent)
        result = dataclasses.replace(result, stopped=stopped, exit_code=ExitCode.ABORTED)
    if failed is not None:
        raise RunWriteFailed(result.stopped or "", result)
    return result
