"""report.html: report.json's data as one page a person opens after a run or a plan.

Written beside report.json from the same dict, so the two never disagree. The
page is self-contained: inline CSS and an inline SVG chart, no script, font,
image or address of any kind (its Content-Security-Policy forbids fetching
anything), so it opens offline and tells no server it was opened. It shows
what report.json holds, nothing else: no credentials, no lead data beyond the
example messages report.json keeps. Links name only the files beside it.
Parts of report.json added later (``rejects``, ``warnings.example_by_code``)
are read with defaults and shown as "none" when missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from importer.codes import describe
from importer.outputs import private_files
from importer.outputs.html_parts import NONE, bar_chart, facts, table, text

# the files a run directory can hold, in the order a person looks at them
LINKED = (
    ("rejects.csv", "rejected rows with their reasons: fix them and run the file again"),
    ("rejects.xlsx", "the same rejected rows for Excel or LibreOffice, problem cells marked"),
    ("results.csv", "one line per input row: its key, lead id and how it ended"),
    ("in_doubt.csv", "rows the API may or may not have applied: the next run sends them again"),
    ("held_activities.csv", "activities not sent again: check these leads in Real Geeks"),
    ("plan.csv", "what a run would do with each row"),
    ("report.json", "everything on this page, as data"),
)
# the browser may fetch nothing at all; only the inline style applies
POLICY = "default-src 'none'; style-src 'unsafe-inline'"
# a bar's colour per outcome, by report.json's names (a run's and a plan's)
BAR_CLASS = {
    "created": "done", "create": "done", "updated": "done", "update": "done",
    "unchanged": "same", "rejected": "bad", "in_doubt": "doubt", "not_sent": "unsent",
}  # fmt: skip
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; vertical-align: top; }
td { overflow-wrap: anywhere; } thead th { background: #f2f2f2; }
.facts th { background: #f7f7f7; font-weight: normal; }
.chart text { font-size: 14px; } .chart .count { font-weight: bold; }
.done { fill: #2e7d32; } .same { fill: #90a4ae; } .bad { fill: #c62828; }
.doubt { fill: #ef6c00; } .unsent { fill: #6a1b9a; }
.none { color: #666; font-style: italic; } .stopped { color: #c62828; font-weight: bold; }
"""


def write_html(path: Path, report: Mapping[str, Any]) -> None:
    """Write report.html (0600, always a new file) for ``report``, report.json's data.

    Links go only to the files that exist beside ``path`` when it is written.
    """
    present = [name for name, _ in LINKED if (path.parent / name).is_file()]
    page = render(report, present)
    with private_files.open_private(path) as f:
        f.write(page)


def render(report: Mapping[str, Any], present: Sequence[str] = ()) -> str:
    """The page for ``report``; ``present`` names the files beside it that it links."""
    run = "requests" in report  # only a run's report counts requests
    sections = [
        _heading(report, run=run),
        _outcomes(report, run=run),
        _reasons(report),
        _warnings(report),
    ]
    if run:
        sections += [_activities(report), _requests(report)]
    sections += [_timings(report), _input(report), _files(present)]
    title = f"rg-import {'run' if run else 'plan'} {report.get('run_id', '')}"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
        f"<title>{text(title)}</title>\n<style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def _heading(report: Mapping[str, Any], *, run: bool) -> str:
    inp, mapping = report.get("input", {}), report.get("mapping", {})
    what = f"{'Run' if run else 'Plan'} {report.get('run_id', '')}"
    site = report.get("site_uuid")
    where = f"site {text(site)}" if site else "no site given"
    if run:
        where = f"sent to {where} at {text(_host(report))}"
        if report.get("sandbox"):
            where += " (the embedded sandbox)"
    lines = [
        f"<h1>rg-import: {text(what)}</h1>",
        f"<p>{text(inp.get('path'))}, {text(inp.get('rows'))} rows, with mapping "
        f"{text(mapping.get('name'))}; {where}. Exit code {text(report.get('exit_code'))}.</p>",
    ]
    if report.get("stopped"):
        lines.append(f'<p class="stopped">Stopped early: {text(report["stopped"])}</p>')
    return "\n".join(lines)


def _host(report: Mapping[str, Any]) -> str | None:
    """The API's host and port only: the page names no address (nor any user in one)."""
    url = urlsplit(report.get("base_url") or "")
    if not url.hostname:
        return None
    return url.hostname if url.port is None else f"{url.hostname}:{url.port}"


def _outcome_bars(report: Mapping[str, Any]) -> list[tuple[str, int, str]]:
    """(label, rows, css class) per outcome, as report.json's ``leads`` names them."""
    activity_file = report.get("mapping", {}).get("kind") == "activity"
    bars = []
    for name, count in report.get("leads", {}).items():
        if activity_file and name in ("updated", "update") and not count:
            continue  # a row of an activity file is never an update of its lead
        label = name.replace("_", " ")
        if activity_file and name == "created":
            label = "sent"  # its activities reached their lead
        bars.append((label, int(count), BAR_CLASS.get(name, "same")))
    return bars


def _outcomes(report: Mapping[str, Any], *, run: bool) -> str:
    bars = _outcome_bars(report)
    rows = report.get("input", {}).get("rows")
    kind = "activity file rows" if report.get("mapping", {}).get("kind") == "activity" else "rows"
    title = f"{kind} by how they {'ended' if run else 'would end'}"
    caption = f"<p>{text(rows)} {text(kind)} in all; each counts under exactly one outcome.</p>"
    if report.get("invariant_holds") is False:
        caption += '<p class="stopped">These counts do not add up to the rows read: please report this.</p>'
    return "\n".join(
        [
            f"<h2>{text(title.capitalize())}</h2>",
            bar_chart("outcome-chart", title, bars),
            table("outcomes", ("outcome", "rows"), [(label, n) for label, n, _ in bars]),
            caption,
        ]
    )


def _by_code(part: Mapping[str, Any], examples: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """code, rows, meaning, example row and message, most frequent first as report.json has them."""
    rows = []
    for code, count in (part.get("by_code") or {}).items():
        example = examples.get(code) or {}
        known = describe(code)
        meaning = known.meaning if known else None
        rows.append((code, count, meaning, example.get("row"), example.get("message")))
    return rows


HEADERS = ("code", "rows", "meaning", "example row", "example message")


def _reasons(report: Mapping[str, Any]) -> str:
    rejects = report.get("rejects") or {}
    rows = _by_code(rejects, rejects.get("example_by_code") or {})
    return "\n".join(
        [
            "<h2>Why rows were rejected</h2>",
            f"<p>Rows rejected: {text(report.get('leads', {}).get('rejected', 0))}. Each code "
            "counts the rows that have it: a row with two codes counts under each.</p>",
            table("reasons", HEADERS, rows),
        ]
    )


def _warnings(report: Mapping[str, Any]) -> str:
    warnings = report.get("warnings") or {}
    examples = dict(warnings.get("example_by_code") or {})
    # a plan keeps its first warnings in full: the first of each code is an example too
    for shown in warnings.get("examples") or []:
        examples.setdefault(shown.get("code"), shown)
    return "\n".join(
        [
            "<h2>Warnings (the rows are still sent)</h2>",
            f"<p>Warnings: {text(warnings.get('total', 0))}.</p>",
            table("warnings", HEADERS, _by_code(warnings, examples)),
        ]
    )


def _activities(report: Mapping[str, Any]) -> str:
    counts = report.get("activities") or {}
    rows = [(name.replace("_", " "), count) for name, count in counts.items()]
    return "\n".join(
        [
            "<h2>Activities</h2>",
            "<p>Activities (notes and the like) built from rows that were sent or unchanged; "
            "a row rejected before any activity was built has none here.</p>",
            table("activities", ("activities", "count"), rows),
        ]
    )


def _sent_from(reqs: Mapping[str, Any]) -> str:
    """The words ", made from N sending processes" when more than one made the requests."""
    processes = reqs.get("send_processes") or 1
    return f", made from {text(processes)} sending processes" if processes > 1 else ""


def _requests(report: Mapping[str, Any]) -> str:
    reqs = report.get("requests") or {}
    by_status = [(status, n) for status, n in (reqs.get("by_status") or {}).items()]
    recovered = report.get("recovered_in_doubt") or {}
    lines = [
        "<h2>Requests</h2>",
        f"<p>{text(reqs.get('total', 0))} requests, {text(reqs.get('retries', 0))} of them "
        f"retries{_sent_from(reqs)}. Each try counts once, under the status it got (timeout "
        "and connection: no answer).</p>",
        table("requests", ("status", "requests"), by_status),
    ]
    if any(recovered.values()):
        lines.append(
            f"<p>Left in doubt by an earlier run that crashed, and recovered: "
            f"{text(recovered.get('leads', 0))} leads, {text(recovered.get('activities', 0))} "
            "activities.</p>"
        )
    return "\n".join(lines)


def _timings(report: Mapping[str, Any]) -> str:
    return f"<h2>Timings</h2>\n<p>Took {text(report.get('duration_s'))} s.</p>"


def _input(report: Mapping[str, Any]) -> str:
    inp, mapping = report.get("input", {}), report.get("mapping", {})
    shown = [(name, inp.get(name)) for name in ("path", "sha256", "encoding", "delimiter", "sheet")]
    shown.append(("rows", inp.get("rows")))
    if "read_to_end" in inp:
        shown.append(("read to the end", inp["read_to_end"]))
    shown += [("warning", w) for w in inp.get("warnings") or []]
    return "\n".join(
        [
            "<h2>Input</h2>",
            facts("input", shown),
            "<h2>Mapping</h2>",
            facts("mapping", [(n, mapping.get(n)) for n in ("name", "kind", "path")]),
        ]
    )


def _files(present: Sequence[str]) -> str:
    items = [
        f'<li><a href="{text(name)}">{text(name)}</a>: {text(what)}</li>'
        for name, what in LINKED
        if name in present
    ]
    body = f'<ul id="files">{"".join(items)}</ul>' if items else f'<p class="none">{NONE}</p>'
    return f"<h2>Files beside this report</h2>\n{body}"
