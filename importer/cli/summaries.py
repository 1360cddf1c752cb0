"""The short, human-readable texts the commands print: summaries, questions, tables.

Each function takes a result (of a plan or a run, a preview, a catalog of
mappings) and returns text without a final newline;
``importer.cli.main`` prints it. Keeping the wording here keeps the commands thin
and lets tests check the texts without a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from importer.models import Outcome
from importer.outputs.report import plan_leads

if TYPE_CHECKING:
    from importer.catalog.detect import BrokenMapping
    from importer.mapping.spec import Mapping
    from importer.outputs.report import InputFacts, PlanResult, RunResult


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
        lines.append(f"  {label:<10}{leads[key]:>8}")
    warnings = sum(result.warnings.by_code.values())
    if warnings:
        lines.append(f"  {'warnings':<10}{warnings:>8}  (see report.json)")
    lines += _file_warnings(inp)
    if not result.site:
        lines.append("  (no --site given: lead ids are left blank)")
    lines.append(f"Plan:    {result.plan_file}")
    if result.rejects_file:
        lines.append(f"Rejects: {result.rejects_file}  (fix them and run the file again)")
    lines.append(f"Report:  {result.out_dir}/report.json")
    return "\n".join(lines)


def run_summary(result: RunResult) -> str:
    """What ``rg-import run`` did: leads and activities per outcome, requests, files written."""
    inp, leads, acts, reqs = result.input, result.leads, result.activities, result.requests
    where = "the embedded sandbox" if result.sandbox else result.base_url
    lines = [
        f"Sent {inp.path} ({inp.rows} rows, mapping {result.mapping.name}) to site {result.site} on {where}:"
    ]
    # rows of an activity file are activities: "created" means sent to their lead
    activity_file = result.mapping.kind == "activity"
    for outcome in Outcome:
        if outcome in (Outcome.IN_DOUBT, Outcome.NOT_SENT) and not leads[outcome]:
            continue
        if outcome is Outcome.UPDATE and activity_file:
            continue
        sent_activities = outcome is Outcome.CREATE and activity_file
        label = "sent" if sent_activities else outcome.done.replace("_", " ")
        lines.append(f"  {label:<10}{leads[outcome]:>8}")
    held = f" ({acts['held']} held)" if acts.get("held") else ""
    unsent = f"{acts['not_sent']} not sent, " if acts.get("not_sent") else ""
    lines.append(
        f"  activities: {acts['sent']} sent, {acts['unchanged']} unchanged, {acts['rejected']} rejected, "
        f"{acts['in_doubt']} in doubt{held}, {unsent}{acts['possible_duplicates']} possible duplicates"
    )
    lines.append(
        f"  requests:   {reqs['total']} ({reqs['retries']} retries) in {result.duration_s:.1f} s"
    )
    lines += _file_warnings(inp)
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
    if result.in_doubt_file:
        lines.append(f"In doubt: {result.in_doubt_file}  (the next run sends them again)")
    if result.held_file:
        lines.append(
            f"Held:     {result.held_file}  (activities not resent, as their first send is "
            "unknown: check these leads in Real Geeks)"
        )
    lines += _missing_lines(result)
    if result.report_file:
        lines.append(f"Report:   {result.out_dir}/report.json")
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
