"""The short, human-readable texts the commands print: summaries, questions, tables.

Each function takes a result (of a plan or a run, a preview, a catalog of
mappings) and returns text without a final newline;
``importer.cli.main`` prints it. Keeping the wording here keeps the commands thin
and lets tests check the texts without a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.models import Outcome
from importer.outputs.reasons import Reasons
from importer.outputs.report import RunResult, plan_leads

if TYPE_CHECKING:
    from importer.catalog.detect import BrokenMapping
    from importer.jobs.doctor import Check
    from importer.mapping.spec import Mapping
    from importer.outputs.agents import AgentReport
    from importer.outputs.report import InputFacts, PlanResult
    from importer.outputs.review import Review
    from importer.send.users import User


def plan_summary(result: PlanResult) -> str:
    """What ``rg-import plan`` found: rows per action, warnings and the files written."""
    inp, leads = result.input, plan_leads(result.leads)
    how = ", ".join(str(x) for x in (inp.encoding, inp.delimiter and repr(inp.delimiter)) if x)
    lines = [f"Planned {inp.rows} rows of {inp.path} ({how}) with mapping {result.mapping.name}:"]
    for label, key in (
        ("create", "create"),
        ("update", "update"),
        ("unchanged", "unchanged"),
        ("reject", "rejected"),
    ):
        lines.append(f"  {label:<10}{leads[key]:>8}{_known(result) if key == 'rejected' else ''}")
    if result.warnings.total:
        lines.append(f"  {'warnings':<10}{result.warnings.total:>8}  (see report.json)")
    lines += _reasons(result.rejects, result.warnings.reasons)
    lines += _file_warnings(inp) + _file_problems(result) + _owners(result.agents)
    if not result.site:
        lines.append("  (no --site given: lead ids are left blank)")
    lines.append(f"Plan:    {result.plan_file}")
    if result.rejects_file:
        lines.append(f"Rejects: {result.rejects_file}  (fix them and run the file again)")
    if result.rejects_workbook:
        lines.append(f"         {result.rejects_workbook}  (the same rows, each bad cell marked)")
    lines.append(f"Report:  {result.out_dir}/report.json")
    lines += _page_line(result.out_dir, "         ")
    return "\n".join(lines)


def _owners(agents: AgentReport | None) -> list[str]:
    """Each owner of the export with the user it matched and its rows (the first 20)."""
    if agents is None:
        return []
    if not agents.checked:
        return [f"  ({agents.reason})"]
    lines = ["Owners:"]
    for line in agents.lines[:20]:
        m = line.match
        to = (
            f"{m.user.name} <{m.user.email}> ({m.how})" if m.user
            else "ambiguous: " + ", ".join(p.name for p in m.candidates) if m.candidates
            else "no user"
        )  # fmt: skip
        lines.append(f"  {line.role} {line.owner!r:<28} {line.rows:>6} rows -> {to}")
    if len(agents.lines) > 20:
        lines.append(f"  ... {len(agents.lines) - 20} more in agents.csv")
    if agents.file:
        lines.append(f"  ({agents.file}: complete its user column and pass it as --agent-map)")
    return lines


def run_summary(result: RunResult) -> str:
    """What ``rg-import run`` did: leads and activities per outcome, requests, files written."""
    inp, leads, acts, reqs = result.input, result.leads, result.activities, result.requests
    where = "the embedded sandbox" if result.sandbox else result.base_url
    lines = [
        f"Sent {inp.path} ({inp.rows} rows, mapping {result.mapping.name}) to site {result.site} on {where}:"
    ]
    activity_file = result.mapping.kind == "activity"
    if activity_file:
        lines += _activity_rows(leads)
    else:
        for outcome in Outcome:
            if outcome in (Outcome.IN_DOUBT, Outcome.NOT_SENT) and not leads[outcome]:
                continue
            known = _known(result) if outcome is Outcome.REJECT else ""
            lines.append(f"  {outcome.done.replace('_', ' '):<10}{leads[outcome]:>8}{known}")
    held = f" ({acts['held']} held)" if acts.get("held") else ""
    unsent = f"{acts['not_sent']} not sent, " if acts.get("not_sent") else ""
    label, refused = "activities", "rejected"
    if activity_file:
        # its rows refused by our checks never became activities: the rows' count holds them
        label, refused = "activities built from rows", "rejected by the API"
    lines.append(
        f"  {label}: {acts['sent']} sent, {acts['unchanged']} unchanged, {acts['rejected']} {refused}, "
        f"{acts['in_doubt']} in doubt{held}, {unsent}{acts['possible_duplicates']} possible duplicates"
    )
    processes = reqs.get("send_processes", 1)  # what --send-processes auto chose, if more than 1
    sent_from = f" from {processes} sending processes" if processes > 1 else ""
    lines.append(
        f"  requests:   {reqs['total']} ({reqs['retries']} retries){sent_from} in {result.duration_s:.1f} s"
    )
    lines += _reasons(result.rejects, result.warnings.reasons)
    lines += _file_warnings(inp) + _file_problems(result)
    if result.stopped:
        # a run stopped by a file it could not write says itself how to go on
        advice = "" if "to resume" in result.stopped else " Run the same command again to resume."
        lines.append(f"Stopped early: {result.stopped}.{advice}")
    elif leads[Outcome.NOT_SENT]:
        lines.append(
            f"Not sent: {leads[Outcome.NOT_SENT]} rows did not reach the API; "
            "run the same command again to send them."
        )
    if result.rejects_file:
        lines.append(f"Rejects:  {result.rejects_file}  (fix them and run the file again)")
    if result.rejects_workbook:
        lines.append(f"          {result.rejects_workbook}  (the same rows, each bad cell marked)")
    if result.in_doubt_file:
        lines.append(f"In doubt: {result.in_doubt_file}  (the next run sends them again)")
    if result.held_file:
        lines.append(
            f"Held:     {result.held_file}  (activities not resent, as their first send is "
            "unknown: check these leads in Real Geeks)"
        )
    if result.results_file:
        lines.append(f"Results:  {result.results_file}  (how each row ended, and its lead id)")
    lines += _missing_lines(result)
    if result.report_file:
        lines.append(f"Report:   {result.out_dir}/report.json")
        lines += _page_line(result.out_dir, "          ")
    return "\n".join(lines)


# What each row count of an activity file means: its rows are not leads, and a row
# refused by our checks never became an activity, so the activities line cannot show it.
ACTIVITY_ROWS = {
    Outcome.CREATE: ("rows sent", "their activities reached their leads"),
    Outcome.UNCHANGED: ("rows unchanged", "their activities were all sent before"),
    Outcome.REJECT: (
        "rows rejected",
        "refused by rg-import's checks before any activity was built, or by the API",
    ),
    Outcome.IN_DOUBT: ("rows in doubt", "the API may have stored their activities"),
    Outcome.NOT_SENT: ("rows not sent", "their activities never reached the API"),
}


def _activity_rows(leads: MappingABC[Outcome, int]) -> list[str]:
    """The row counts of an activity file, each saying what it counts."""
    lines = []
    for outcome, (label, meaning) in ACTIVITY_ROWS.items():
        if outcome in (Outcome.IN_DOUBT, Outcome.NOT_SENT) and not leads[outcome]:
            continue
        lines.append(f"  {label:<15}{leads[outcome]:>8}  ({meaning})")
    return lines


def _page_line(out_dir: Path, indent: str) -> list[str]:
    """report.html under report.json, if it was written (a full disk may have stopped it)."""
    page = out_dir / "report.html"
    return [f"{indent}{page}  (open it in a browser)"] if page.is_file() else []


def _known(result: PlanResult | RunResult) -> str:
    """``  (K already reported)`` after the rejects, when an earlier run reported some."""
    return f"  ({result.rejects_known} already reported)" if result.rejects_known else ""


def _file_problems(result: PlanResult | RunResult) -> list[str]:
    return [f"  problem: {p.message} ({p.code})" for p in result.problems]


def summary_line(result: PlanResult | RunResult, job: str | None = None) -> str:
    """``--summary-line``: the whole result in one line, for cron mail and logs.

    ``job nightly: 240 rows, 3 created, 5 updated, 232 unchanged, 0 new rejects, exit 0``;
    without a job the input as typed names it. A plan says ``to create``, ``to update``.
    """
    leads, rejected = result.leads, result.leads[Outcome.REJECT]
    parts = [f"{result.input.rows} rows"]
    if isinstance(result, RunResult):
        parts += [f"{leads[Outcome.CREATE]} created", f"{leads[Outcome.UPDATE]} updated"]
    else:
        parts += [f"{leads[Outcome.CREATE]} to create", f"{leads[Outcome.UPDATE]} to update"]
    parts.append(f"{leads[Outcome.UNCHANGED]} unchanged")
    known = f" ({result.rejects_known} already reported)" if result.rejects_known else ""
    parts.append(f"{rejected - result.rejects_known} new rejects{known}")
    if isinstance(result, RunResult):
        parts += [
            f"{leads[o]} {o.done.replace('_', ' ')}"
            for o in (Outcome.IN_DOUBT, Outcome.NOT_SENT)
            if leads[o]
        ]
        if result.stopped:
            parts.append(f"stopped: {result.stopped}")
    parts += [p.code for p in result.problems]
    who = f"job {job}" if job else result.input.path
    return f"{who}: {', '.join(parts)}, exit {int(result.exit_code)}"


def problem_lines(result: PlanResult | RunResult) -> list[str]:
    """What needs a look, one line each, for ``--quiet`` (empty when nothing does)."""
    lines = [f"{p.code}: {p.message}" for p in result.problems]
    rejected = result.leads[Outcome.REJECT]
    if rejected:
        known = f" ({result.rejects_known} already reported)" if result.rejects_known else ""
        where = f": see {result.rejects_file}" if result.rejects_file else ""
        lines.append(f"rejected {rejected} rows{known}{where}")
    if isinstance(result, RunResult):
        lines += _run_problem_lines(result)
    return lines


def _run_problem_lines(result: RunResult) -> list[str]:
    leads, lines = result.leads, []
    if leads[Outcome.IN_DOUBT]:
        lines.append(
            f"{leads[Outcome.IN_DOUBT]} rows in doubt: see {result.in_doubt_file} "
            "(the next run sends them again)"
        )
    if leads[Outcome.NOT_SENT]:
        lines.append(
            f"{leads[Outcome.NOT_SENT]} rows not sent: run the same command again to send them"
        )
    if result.activities.get("held"):
        lines.append(f"{result.activities['held']} activities held: see {result.held_file}")
    if result.stopped:
        lines.append(f"stopped early: {result.stopped}")
    return lines


def _reasons(rejects: Reasons, warnings: Reasons) -> list[str]:
    """The reject and warning codes under a summary's counts, most frequent first."""
    both = [*rejects.ordered(), *warnings.ordered()]
    widths = (
        max((len(c) for c, _ in both), default=0),
        max((len(str(n)) for _, n in both), default=0),
    )
    lines = []
    if rejects.by_code:
        lines.append("Rejected rows by code (rows, first row and its message):")
        lines += reasons_table(rejects.ordered(), rejects.examples, widths)
    if warnings.by_code:
        lines.append("Warnings by code (rows, first row and its message):")
        lines += reasons_table(warnings.ordered(), warnings.examples, widths)
    return lines


def reasons_table(
    counts: Sequence[tuple[str, int]],
    examples: MappingABC[str, tuple[int, str]],
    widths: tuple[int, int] = (0, 0),
) -> list[str]:
    """One aligned line per code: the code, its rows, an example row and its message
    (on one line, cut to ``MESSAGE_WIDTH`` characters). ``widths``: at least
    this wide (code, count), to align several tables."""
    code_width = max([widths[0], *(len(code) for code, _ in counts)])
    count_width = max([widths[1], *(len(str(n)) for _, n in counts)])
    lines = []
    for code, n in counts:
        line = f"  {code:<{code_width}}  {n:>{count_width}}"
        if code in examples:
            row, message = examples[code]
            line += f"  {f'row {row}: ' if row else ''}{one_line(message)}"
        lines.append(line)
    return lines


MESSAGE_WIDTH = 90  # characters of an example message shown in a reasons table


def one_line(message: str, width: int = MESSAGE_WIDTH) -> str:
    """``message`` on one line, cut with "…" when longer than ``width``."""
    text = " ".join(message.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def review_table(review: Review) -> str:
    """``rg-import review PATH``: rejected rows per code, then the run's warnings per code."""
    if review.rejects_file is None:
        lines = [f"No rejected rows in {review.run_dir}."]
    else:
        lines = [f"{_rows(review.rejects.rows)} rejected in {review.rejects_file}"]
    lines += _reasons(review.rejects, review.warnings or Reasons())
    if review.rejects.by_code:
        lines.append("List the rows of a code with --code CODE.")
    return "\n".join(lines)


def _rows(n: int) -> str:
    return f"{n} row{'' if n == 1 else 's'}"


def review_code(review: Review, code: str) -> str:
    """``rg-import review PATH --code CODE``: the rows rejected for one code, with their messages."""
    rows = review.rows_of(code)
    if not rows:
        warned = review.warnings.by_code.get(code) if review.warnings else None
        if warned:
            return (
                f"{code} is a warning on {warned} rows, which were not rejected: "
                "they are not in the rejects file (report.json has examples)."
            )
        return f"No row of {review.rejects_file or review.run_dir} was rejected for {code}."
    table = [("row", *review.key_columns, "message")]
    table += [(str(r.row), *r.keys, one_line(r.message, width=10_000)) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    lines = [f"{code}: {_rows(len(rows))} rejected"]
    for line in table:
        row, *keys = (c.ljust(w) for c, w in zip(line, widths, strict=False))
        lines.append("  " + "  ".join([row.strip().rjust(widths[0]), *keys, line[-1]]))
    return "\n".join(lines)


def _missing_lines(result: RunResult) -> list[str]:
    """Leads sent by earlier runs that this file no longer holds (nothing is deleted)."""
    missing = result.missing_since_last_run
    if missing is None:
        if result.mapping.kind == "activity" or (result.read_to_end and not result.stopped):
            return []
        return ["Missing:  not checked (the run stopped early)"]
    if not missing:
        return []
    return [
        f"Missing:  {result.missing_file}  ({missing} leads sent by earlier runs are not in this "
        "file; nothing was deleted: check them in your CRM)"
    ]


def _file_warnings(inp: InputFacts) -> list[str]:
    """Warnings about the input file as a whole (e.g. formula cells read as empty)."""
    return [f"  warning: {w}" for w in inp.warnings]


def first_write_preview(preview: MappingABC[str, Any], url: str) -> str:
    """The counts shown before the first write to a site, asking the user to confirm."""
    return (
        f"About to write to Real Geeks site {preview['site']} at {url}:\n"
        f"  create {preview['create']}, update {preview['update']}, "
        f"unchanged {preview['unchanged']}, rejected {preview['reject']}"
    )


def detected_mapping(mapping: Mapping) -> str:
    """The notice that the mapping was chosen by the file's header, not by --mapping."""
    return (
        f"Using mapping {mapping.name} ({mapping.crm or 'no CRM'}, {mapping.confidence}), "
        "detected from the file's header."
    )


def catalog_table(catalog: Sequence[Mapping], broken: Sequence[BrokenMapping]) -> list[str]:
    """``rg-import mappings list``: one aligned line per mapping, a header line first.

    Mappings that do not load are listed too, marked "(does not load)".
    """
    rows = [("NAME", "CRM", "CONFIDENCE", "PATH")]
    rows += [(m.name, m.crm or "-", m.confidence, str(m.path or "")) for m in catalog]
    rows += [(b.path.stem, "(does not load)", "-", str(b.path)) for b in broken]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[3] for r in rows
    ]


def users_table(users: Sequence[User]) -> str:
    """A site's users as an aligned table: id, name, email, role, admin."""
    if not users:
        return "No users on this site."
    rows = [("id", "name", "email", "role", "admin")]
    rows += [(u.id, u.name, u.email or "", u.role, "yes" if u.admin else "no") for u in users]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines)


def users_json(users: Sequence[User]) -> str:
    """A site's users as a JSON list of objects (id, name, email, role, admin)."""
    import dataclasses
    import json

    return json.dumps([dataclasses.asdict(u) for u in users], ensure_ascii=False, indent=2)


def doctor_line(check: Check) -> str:
    """One doctor check: its status, what it checked, and what holds or what to do."""
    return f"{check.status:<8} {check.name}: {check.message}"
