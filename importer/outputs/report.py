"""report.json: what a plan or a run did, and the typed results it is written from.

``plan_file`` returns a ``PlanResult`` and ``run_file`` a ``RunResult``; the CLI
renders them (``importer.cli.summaries``) and ``report_json`` turns either into
report.json's data. One builder makes both, so they share their field names:
run_id, command, input, mapping, site_uuid, leads, rejects, warnings,
rejects_file, rejects_workbook, duration_s and exit_code. ``rejects`` and
``warnings`` give the rows per code, most frequent first, with an example row of
each (``importer.outputs.reasons``). A plan's ``leads`` counts what a run would do (its
predicted ``create`` and ``update`` beside ``unchanged`` and ``rejected``), a
run's ``leads`` how every row ended (``Outcome.done``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer import codes
from importer.errors import ExitCode
from importer.mapping.spec import Mapping
from importer.models import PLANNED, Outcome, Problem, RowWarning
from importer.outputs.agents import AgentReport
from importer.outputs.reasons import Reasons, tally_warnings
from importer.settings import DEFAULT_FAIL_ON

WARNING_EXAMPLES = 20  # the plan's report shows this many warnings in full


@dataclass(frozen=True)
class InputFacts:
    """The input as read: the name the user typed, its digest, and how it was read."""

    path: str
    sha256: str | None
    rows: int
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    warnings: list[str]

    @classmethod
    def of(cls, info: Any, path: str) -> InputFacts:
        """From a ``read.table.TableInfo``; ``path`` is the input as typed."""
        return cls(
            path, info.sha256, info.rows, info.encoding, info.delimiter, info.sheet, info.warnings
        )


@dataclass
class Warnings:
    """Warnings: how many, rows per code with an example each; a plan also keeps the first few in full."""

    total: int = 0  # warnings found (a row may have several)
    reasons: Reasons = field(default_factory=Reasons)  # rows per code, counted once per row
    examples: list[RowWarning] | None = None

    @property
    def by_code(self) -> Counter[str]:
        """Rows per warning code."""
        return self.reasons.by_code

    def add(self, found: list[RowWarning]) -> None:
        self.total += len(found)
        tally_warnings(self.reasons, found)
        if self.examples is not None:
            self.examples.extend(found[: WARNING_EXAMPLES - len(self.examples)])


def input_problems(rows: int, path: str, *, allow_empty: bool) -> tuple[Problem, ...]:
    """Problems of the input as a whole: a file with no data rows, unless that is expected."""
    if rows or allow_empty:
        return ()
    return (
        Problem(
            codes.EMPTY_INPUT,
            f"{path} has no data rows, only a header: the export that made it may have failed; "
            "check it, or pass --allow-empty if an empty file is expected",
        ),
    )


def rejects_fail(rejected: int, known: int, fail_on: str) -> bool:
    """Whether rejects make the exit code 3 under ``--fail-on`` (see ``settings.FAIL_ON``)."""
    if fail_on == "never":
        return False
    if fail_on == "new-rejects":
        return rejected > known
    return rejected > 0


@dataclass(frozen=True)
class PlanResult:
    """What ``rg-import plan`` found, and the files it wrote."""

    run_id: str
    command: str
    input: InputFacts
    mapping: Mapping
    site: str | None
    leads: Counter[Outcome]  # rows per planned outcome
    warnings: Warnings
    out_dir: Path
    plan_file: Path
    rejects_file: Path | None
    duration_s: float
    rejects_known: int = 0  # rejects an earlier run of the ledger reported (see plan.known_rejects)
    problems: tuple[Problem, ...] = ()  # of the whole input (empty_input)
    fail_on: str = DEFAULT_FAIL_ON
    rejects_workbook: Path | None = None  # rejects.xlsx, beside rejects_file
    rejects: Reasons = field(default_factory=Reasons)  # rejected rows per code
    agents: AgentReport | None = None  # the export's owners and their users (mapping's assign:)

    @property
    def exit_code(self) -> ExitCode:
        failing = rejects_fail(self.leads[Outcome.REJECT], self.rejects_known, self.fail_on)
        return ExitCode.REJECTS if failing or self.problems else ExitCode.OK


@dataclass(frozen=True)
class RunResult:
    """How ``rg-import run`` ended every row, and the files it wrote."""

    run_id: str
    command: str
    input: InputFacts
    read_to_end: bool  # False when the run stopped early: rows it never reached ended not sent
    mapping: Mapping
    site: str
    base_url: str
    sandbox: bool
    leads: Counter[Outcome]  # rows per outcome, each row exactly once
    activities: dict[str, int]
    requests: dict[str, Any]  # the client's counts of attempts
    recovered_in_doubt: dict[str, int]  # what a crashed run had left sending
    warnings: Warnings
    out_dir: Path
    rejects_file: Path | None
    in_doubt_file: Path | None
    held_file: Path | None
    stopped: str | None  # why the run stopped early, if it did
    duration_s: float
    exit_code: ExitCode
    report_file: Path | None = None  # None until report.json is written
    rejects_known: int = 0  # rejects an earlier run of the ledger reported (see plan.known_rejects)
    problems: tuple[Problem, ...] = ()  # of the whole input (empty_input)
    rejects_workbook: Path | None = None  # rejects.xlsx, beside rejects_file
    rejects: Reasons = field(default_factory=Reasons)  # rejected rows per code, send stage included
    results_file: Path | None = None  # results.csv: how each input row ended
    # keys sent earlier (same site and source) absent from this file; None: not checked
    # (the run stopped before the end of its file, or an activity file)
    missing_since_last_run: int | None = None
    missing_file: Path | None = None  # missing.csv, when some are missing

    @property
    def invariant_holds(self) -> bool:
        """Every row read ended in exactly one outcome."""
        return self.input.rows == sum(self.leads[o] for o in Outcome)


def report_json(result: PlanResult | RunResult) -> dict[str, Any]:
    """report.json's data (the paths of the run directory itself aside)."""
    if isinstance(result, PlanResult):
        return _plan_report(result)
    return _run_report(result)


def shown_json(result: PlanResult | RunResult) -> dict[str, Any]:
    """What ``--json`` prints: report.json's data, then where it was written."""
    shown = report_json(result)
    if isinstance(result, RunResult):
        shown["report_file"] = _path(result.report_file)
    shown["out_dir"] = str(result.out_dir)
    return shown


def _head(result: PlanResult | RunResult, **input_extra: Any) -> dict[str, Any]:
    inp, mapping = result.input, result.mapping
    return {
        "run_id": result.run_id,
        "command": result.command,
        "input": {
            "path": inp.path, "sha256": inp.sha256, "rows": inp.rows, "encoding": inp.encoding,
            "delimiter": inp.delimiter, "sheet": inp.sheet, "warnings": inp.warnings,
            **input_extra,
        },
        "mapping": {"name": mapping.name, "path": str(mapping.path or ""), "kind": mapping.kind},
        "site_uuid": result.site,
    }  # fmt: skip


def _warnings(warnings: Warnings) -> dict[str, Any]:
    shown: dict[str, Any] = {"total": warnings.total, **warnings.reasons.as_json()}
    if warnings.examples is not None:
        shown["examples"] = [
            {"row": w.row, "code": w.code, "message": w.message} for w in warnings.examples
        ]
    return shown


def _rejects(result: PlanResult | RunResult) -> dict[str, Any]:
    """report.json's ``rejects``: rows rejected, rows per code (most first), an example of
    each, and how many of them an earlier run reported (``known``) or not (``new``)."""
    rejected = result.leads[Outcome.REJECT]
    return {
        "rows": result.rejects.rows,
        **result.rejects.as_json(),
        "known": result.rejects_known,
        "new": rejected - result.rejects_known,
    }


def _problems(result: PlanResult | RunResult) -> list[dict[str, str]]:
    return [{"code": p.code, "message": p.message} for p in result.problems]


def plan_leads(counts: Counter[Outcome]) -> dict[str, int]:
    """A plan's counts by name: a run's ``rejected``, the predicted ``create`` and ``update``."""
    return {("rejected" if o is Outcome.REJECT else o.value): counts[o] for o in PLANNED}


def _plan_report(result: PlanResult) -> dict[str, Any]:
    return {
        **_head(result),
        "leads": plan_leads(result.leads),
        "rejects": _rejects(result),
        "problems": _problems(result),
        "warnings": _warnings(result.warnings),
        **({"agents": result.agents.as_json()} if result.agents else {}),
        "plan_file": str(result.plan_file),
        "rejects_file": _path(result.rejects_file),
        "rejects_workbook": _path(result.rejects_workbook),
        "duration_s": result.duration_s,
        "exit_code": int(result.exit_code),
    }


def _run_report(result: RunResult) -> dict[str, Any]:
    return {
        # "read_to_end" is False when the run stopped early and planned no more of the
        # file; the rows it never reached still count, as not sent
        **_head(result, read_to_end=result.read_to_end),
        "base_url": result.base_url,
        "sandbox": result.sandbox,
        "leads": {o.done: result.leads[o] for o in Outcome},
        "rejects": _rejects(result),
        "problems": _problems(result),
        "activities": dict(result.activities),
        "requests": result.requests,
        "recovered_in_doubt": result.recovered_in_doubt,
        "warnings": _warnings(result.warnings),
        "rejects_file": _path(result.rejects_file),
        "rejects_workbook": _path(result.rejects_workbook),
        "in_doubt_file": _path(result.in_doubt_file),
        "held_file": _path(result.held_file),
        "results_file": _path(result.results_file),
        "missing_since_last_run": result.missing_since_last_run,
        "missing_file": _path(result.missing_file),
        "stopped": result.stopped,
        "duration_s": result.duration_s,
        "exit_code": int(result.exit_code),
        "invariant_holds": result.invariant_holds,
    }


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)
