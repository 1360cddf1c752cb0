"""How ``plan`` and ``run`` print their result: the summary, one line, report.json, or nothing.

``--quiet`` prints nothing when all is well (exit 0), so cron mails nothing;
otherwise each problem goes to stderr as one line. ``--summary-line`` and
``--json`` replace the summary with what they name, quiet or not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from importer.outputs.report import PlanResult, RunResult


@dataclass(frozen=True)
class Shown:
    """The printing flags of a command."""

    as_json: bool = False
    summary_line: bool = False
    quiet: bool = False
    job: str | None = None  # the job the command runs, named in the summary line


def show_result(
    result: PlanResult | RunResult, shown: Shown, *, err: bool = False, problems: bool = True
) -> None:
    """Print ``result`` as ``shown`` says (to stderr with ``err``: stdout may be what failed).

    ``problems=False``: no problem lines under ``--quiet`` (the caller prints the one that
    stopped the command)."""
    from importer.cli.summaries import plan_summary, problem_lines, run_summary, summary_line
    from importer.outputs.report import PlanResult, shown_json

    if shown.as_json:
        click.echo(json.dumps(shown_json(result), indent=2, ensure_ascii=False), err=err)
    elif shown.summary_line:
        click.echo(summary_line(result, shown.job), err=err)
    elif not shown.quiet:
        summary = plan_summary(result) if isinstance(result, PlanResult) else run_summary(result)
        click.echo(summary, err=err)
    if shown.quiet and problems and result.exit_code:
        for line in problem_lines(result):
            click.echo(line, err=True)
