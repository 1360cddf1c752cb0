"""The short, human-readable texts the commands print: summaries, questions, tables.

Each function takes a result (a plan or run report as written to report.json,
a preview, a catalog of mappings) and returns text without a final newline;
``importer.cli.main`` prints it. Keeping the wording here keeps the commands thin
and lets tests check the texts without a terminal.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importer.catalog.detect import BrokenMapping
    from importer.mapping.spec import Mapping


def plan_summary(report: MappingABC[str, Any]) -> str:
    """What ``rg-import plan`` found: rows per action, warnings and the files written."""
    inp, leads = report["input"], report["leads"]
    how = ", ".join(
        str(x) for x in (inp["encoding"], inp.get("delimiter") and repr(inp["delimiter"])) if x
    )
    lines = [
        f"Planned {inp['rows']} rows of {inp['path']} ({how}) with mapping {report['mapping']['name']}:"
    ]
    for label, key in (
        ("create", "create"),
        ("update", "update"),
        ("unchanged", "unchanged"),
        ("reject", "rejected"),
    ):
        lines.append(f"  {label:<10}{leads[key]:>8}")
    warnings = report["warnings"]["total"]
    if warnings:
        lines.append(f"  {'warnings':<10}{warnings:>8}  (see report.json)")
    lines += _file_warnings(inp)
    if not report["site_uuid"]:
        lines.append("  (no --site given: lead ids are left blank)")
    lines.append(f"Plan:    {report['plan_file']}")
    if report["rejects_file"]:
        lines.append(f"Rejects: {report['rejects_file']}  (fix them and run the file again)")
    lines.append(f"Report:  {report['out_dir']}/report.json")
    return "\n".join(lines)


def run_summary(report: MappingABC[str, Any]) -> str:
    """What ``rg-import run`` did: leads and activities per outcome, requests, files written."""
    inp, leads, acts, reqs = (
        report["input"],
        report["leads"],
        report["activities"],
        report["requests"],
    )
    where = "the embedded sandbox" if report["sandbox"] else report["base_url"]
    lines = [
        f"Sent {inp['path']} ({inp['rows']} rows, mapping {report['mapping']['name']}) to site {report['site_uuid']} on {where}:"
    ]
    # rows of an activity file are activities: "created" means sent to their lead
    activity_file = report["mapping"].get("kind") == "activity"
    for key in ("created", "updated", "unchanged", "rejected", "in_doubt", "not_sent"):
        if key in ("in_doubt", "not_sent") and not leads[key]:
            continue
        if key == "updated" and activity_file:
            continue
        label = "sent" if key == "created" and activity_file else key.replace("_", " ")
        lines.append(f"  {label:<10}{leads[key]:>8}")
    held = f" ({acts['held']} held)" if acts.get("held") else ""
    unsent = f"{acts['not_sent']} not sent, " if acts.get("not_sent") else ""
    lines.append(
        f"  activities: {acts['sent']} sent, {acts['unchanged']} unchanged, {acts['rejected']} rejected, "
        f"{acts['in_doubt']} in doubt{held}, {unsent}{acts['possible_duplicates']} possible duplicates"
    )
    lines.append(
        f"  requests:   {reqs['total']} ({reqs['retries']} retries) in {report['duration_s']:.1f} s"
    )
    lines += _file_warnings(inp)
    if report["stopped"]:
        # a run stopped by a file it could not write says itself how to go on
        advice = (
            ""
            if "to resume" in report["stopped"]
            else " Run the same command again to resume."
        )
        lines.append(f"Stopped early: {report['stopped']}.{advice}")
    elif leads["not_sent"]:
        lines.append(
            f"Not sent: {leads['not_sent']} rows did not reach the API; "
            "run the same command again to send them."
        )
    if report["rejects_file"]:
        lines.append(f"Rejects:  {report['rejects_file']}  (fix them and run the file again)")
    if report["in_doubt_file"]:
        lines.append(f"In doubt: {report['in_doubt_file']}  (the next run sends them again)")
    if report.get("held_file"):
        lines.append(
            f"Held:     {report['held_file']}  (activities not resent, as their first send is "
            "unknown: check these leads in Real Geeks)"
        )
    if report.get("report_file", True):
        lines.append(f"Report:   {report['out_dir']}/report.json")
    return "\n".join(lines)


def _file_warnings(inp: MappingABC[str, Any]) -> list[str]:
    """Warnings about the input file as a whole (e.g. formula cells read as empty)."""
    return [f"  warning: {w}" for w in inp.get("warnings", [])]


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
