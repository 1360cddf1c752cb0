"""report.json: what a plan or a run did, and the typed results it is written from.

``plan_file`` returns a ``PlanResult`` and ``run_file`` a ``RunResult``; the CLI
renders them (``importer.cli.summaries``) and ``report_json`` turns either into
report.json's data. One builder makes both, so they share their field names:
run_id, command, input, mapping, site_uuid, leads, warnings, rejects_file,
duration_s and exit_code. A plan's ``leads`` counts what a run would do (its
predicted ``create`` and ``update`` beside ``unchanged`` and ``rejected``), a
run's ``leads`` how every row ended (``Outcome.done``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer.errors import ExitCode
from importer.mapping.spec import Mapping
from importer.models import PLANNED, Outcome, RowWarning

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
    """Warnings per code; a plan also keeps the first few in full."""

    by_code: Counter[str] = field(default_factory=Counter)
    examples: list[RowWarning] | None = None

    def add(self, found: list[RowWarning]) -> None:
        self.by_code.update(w.code for w in found)
        if self.examples is not None:
            self.examples.extend(found[: WARNING_EXAMPLES - len(self.examples)])


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

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.REJECTS if self.leads[Outcome.REJECT] else ExitCode.OK


@dataclass(frozen=True)
class RunResult:
    """How ``rg-import run`` ended every row, and the files it wrote."""

    run_id: str
    command: str
    input: InputFacts
    read_to_end: bool  # False when the run stopped early: ``input.rows`` counts the rows read
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
    shown: dict[str, Any] = {
        "total": sum(warnings.by_code.values()),
        "by_code": dict(warnings.by_code),
    }
    if warnings.examples is not None:
        shown["examples"] = [
            {"row": w.row, "code": w.code, "message": w.message} for w in warnings.examples
        ]
    return shown


def plan_leads(counts: Counter[Outcome]) -> dict[str, int]:
    """A plan's counts by name: a run's ``rejected``, the predicted ``create`` and ``update``."""
    return {("rejected" if o is Outcome.REJECT else o.value): counts[o] for o in PLANNED}


def _plan_report(result: PlanResult) -> dict[str, Any]:
    return {
        **_head(result),
        "leads": plan_leads(result.leads),
        "warnings": _warnings(result.warnings),
        "plan_file": str(result.plan_file),
        "rejects_file": _path(result.rejects_file),
        "duration_s": result.duration_s,
        "exit_code": int(result.exit_code),
    }


def _run_report(result: RunResult) -> dict[str, Any]:
    return {
        # "read_to_end" is False when the run stopped early: "rows" then counts the rows read
        **_head(result, read_to_end=result.read_to_end),
        "base_url": result.base_url,
        "sandbox": result.sandbox,
        "leads": {o.done: result.leads[o] for o in Outcome},
        "activities": dict(result.activities),
        "requests": result.requests,
        "recovered_in_doubt": result.recovered_in_doubt,
        "warnings": _warnings(result.warnings),
        "rejects_file": _path(result.rejects_file),
        "in_doubt_file": _path(result.in_doubt_file),
        "held_file": _path(result.held_file),
        "missing_since_last_run": result.missing_since_last_run,
        "missing_file": _path(result.missing_file),
        "stopped": result.stopped,
        "duration_s": result.duration_s,
        "exit_code": int(result.exit_code),
        "invariant_holds": result.invariant_holds,
    }


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)
