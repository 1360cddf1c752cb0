"""``unchanged_rerun``: a file sent in full at 0 ms latency, then re-run unchanged.

The first run doubles as the benchmark's "100,000 leads at 0 ms" figure (wall
time, leads/s, CPU per lead), so it is not run a second time elsewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import (
    Finished,
    Inspector,
    Poller,
    SandboxProcess,
    Window,
    load_average,
    send_window,
)
from bench.measures import MAPPING, NO_ASSIGN, Bench, summarise


def unchanged_rerun(bench: Bench) -> dict[str, Any]:
    """Rows per second and requests of re-running a file that was fully sent before."""
    sizes = bench.sizes
    rows, workers = sizes.rerun_rows, sizes.rerun_workers
    path = bench.people(rows)
    site, ledger = str(uuid.uuid4()), bench.fresh("ledger").with_suffix(".sqlite")

    def command() -> list[str | Path]:
        return ["run", path, "-m", MAPPING, "--site", site, "--base-url", sandbox.url,
                "--ledger", ledger, "--out", bench.fresh("run"), "--workers", str(workers),
                "--yes", "--quiet", "--json", *NO_ASSIGN]  # fmt: skip

    with SandboxProcess(bench.command, env=bench.env) as sandbox:
        bench.log(f"  first run: {rows:,} rows into a sandbox without latency (a few minutes) ...")
        counter = Inspector(sandbox.root_url)
        try:
            with Poller(
                counter.total, interval_s=1.0, on_sample=_progress_printer(bench.log)
            ) as poller:
                first = bench.cli(*command())
        finally:
            counter.close()
        first_report = first.json()
        seen_before = sandbox.inspector.total()
        reruns = []
        for rep in range(sizes.rerun_reps):
            bench.log(f"  unchanged re-run ({rep + 1}/{sizes.rerun_reps}) ...")
            finished = bench.cli(*command())
            report = finished.json()
            reruns.append({
                "wall_s": round(finished.wall_s, 4), "duration_s": report["duration_s"],
                "requests_total": report["requests"]["total"], "leads": report["leads"],
                "peak_rss_mb": round(finished.peak_rss_mb, 1),
            })  # fmt: skip
        seen_during_reruns = sandbox.inspector.total() - seen_before
    window = send_window(poller.samples)
    return {
        "rows": rows,
        "workers": workers,
        "repetitions": len(reruns),
        "load_average": load_average(),
        "first_run": _first_run(first, first_report, window),
        "rows_per_s": summarise([rows / r["wall_s"] for r in reruns]),
        "requests_total": [r["requests_total"] for r in reruns],
        "sandbox_requests_during_reruns": seen_during_reruns,
        "reruns": reruns,
    }


def _first_run(finished: Finished, report: dict[str, Any], window: Window | None) -> dict[str, Any]:
    """The first, full run of the file at 0 ms: its time, rates and CPU per lead.

    ``leads_per_s`` is created leads over the whole command (start-up and both
    plans included); ``requests_per_s`` is the send window's rate, from the
    sandbox's counter read once a second. ``cpu_s`` includes the checking
    processes the plans fork (``os.wait4`` adds waited-for children).
    """
    created = report["leads"]["created"]
    return {
        "wall_s": round(finished.wall_s, 3),
        "duration_s": report["duration_s"],
        "leads": report["leads"],
        "requests_total": report["requests"]["total"],
        "requests_per_s": round(window.rate, 1) if window else None,
        "leads_per_s": round(created / finished.wall_s, 1),
        "cpu_s": round(finished.cpu_s, 2),
        "cpu_ms_per_lead": round(1000 * finished.cpu_s / created, 4) if created else None,
        "peak_rss_mb": round(finished.peak_rss_mb, 1),
    }


def _progress_printer(
    log: Callable[[str], None], every_s: float = 10.0
) -> Callable[[float, int], None]:
    """An ``on_sample`` callback that logs the request count every ``every_s`` seconds."""
    start: float | None = None
    due = 0.0

    def show(now: float, value: int) -> None:
        nonlocal start, due
        start = now if start is None else start
        if now - start >= due:
            due = now - start + every_s
            log(f"    {value:,} requests answered after {now - start:.0f} s")

    return show
