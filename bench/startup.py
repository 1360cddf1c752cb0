"""Start-up of the command and the reading of an Excel workbook.

``startup`` times what every command pays before its first row: ``rg-import
--version`` (the click layer only) and a plan of a 10-row file (every import a
plan needs; its in-process time is subtracted). ``excel_read`` plans the
100,000-row file saved as ``.xlsx`` next to the same rows as CSV, and times
python-calamine alone reading that sheet.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from bench.harness import load_average, run_timed
from bench.inputs import workbook_file
from bench.measures import MAPPING, PLAN_SITE, RUN_TIMEOUT_S, Bench, summarise

TINY_ROWS = 10
# python-calamine alone: the sheet read into Python lists, as importer.read.xlsx does first
CALAMINE_READ = """
import json, sys, time
from python_calamine import CalamineWorkbook
started = time.perf_counter()
rows = CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_index(0).to_python()
print(json.dumps({"rows": len(rows) - 1, "seconds": time.perf_counter() - started}))
"""


def startup(bench: Bench) -> dict[str, Any]:
    """Wall time of ``rg-import --version`` and of a plan of a 10-row file, start-up split out."""
    reps = bench.sizes.startup_reps
    versions = []
    for rep in range(reps):
        bench.log(f"  rg-import --version ({rep + 1}/{reps}) ...")
        versions.append(bench.cli("--version").wall_s)
    path = bench.people(TINY_ROWS)
    plans = []
    for rep in range(reps):
        bench.log(f"  rg-import plan, {TINY_ROWS} rows ({rep + 1}/{reps}) ...")
        finished = bench.cli("plan", path, "-m", MAPPING, "--site", PLAN_SITE, "--assign", "off",
                             "--out", bench.fresh("plan"), "--quiet", "--json")  # fmt: skip
        plans.append((finished.wall_s, finished.json()["duration_s"]))
    return {
        "repetitions": reps,
        "load_average": load_average(),
        "version_wall_s": summarise(versions, higher_is_better=False),
        "tiny_plan_rows": TINY_ROWS,
        "tiny_plan_wall_s": summarise([w for w, _ in plans], higher_is_better=False),
        "tiny_plan_startup_s": summarise([w - d for w, d in plans], higher_is_better=False),
    }


def excel_read(bench: Bench) -> dict[str, Any]:
    """Rows per second of ``rg-import plan`` on an ``.xlsx`` against the same rows as CSV."""
    sizes = bench.sizes
    rows = sizes.plan_rows
    source = bench.people(rows)
    started = time.perf_counter()
    book = workbook_file(source)
    if time.perf_counter() - started > 1:
        bench.log(f"  wrote {book.name} in {time.perf_counter() - started:.1f} s")
    runs = []
    for rep in range(sizes.plan_reps):
        bench.log(f"  rg-import plan, {rows:,} rows as .xlsx ({rep + 1}/{sizes.plan_reps}) ...")
        runs.append(bench.timed_plan(book, rows))
    csv_runs = bench.plan_runs(rows, sizes.plan_reps)
    calamine = []
    for rep in range(sizes.plan_reps):
        bench.log(f"  python-calamine alone, {rows:,} rows ({rep + 1}/{sizes.plan_reps}) ...")
        done = run_timed([sys.executable, "-c", CALAMINE_READ, str(book)], timeout_s=RUN_TIMEOUT_S)
        calamine.append(done.json()["rows"] / done.json()["seconds"])
    xlsx_rate = summarise([rows / r["wall_s"] for r in runs])
    csv_rate = summarise([rows / r["wall_s"] for r in csv_runs])
    return {
        "rows": rows,
        "xlsx_mb": round(book.stat().st_size / 2**20, 1),
        "repetitions": len(runs),
        "load_average": load_average(),
        "rows_per_s": xlsx_rate,
        "in_process_rows_per_s": summarise([rows / r["in_process_s"] for r in runs]),
        "csv_rows_per_s": csv_rate,
        "xlsx_over_csv": round(xlsx_rate["best"] / csv_rate["best"], 3),
        "calamine_rows_per_s": summarise(calamine),
        "peak_rss_mb": summarise([r["peak_rss_mb"] for r in runs], higher_is_better=False),
        "tree_peak_pss_mb": summarise([r["tree"]["peak_pss_mb"] for r in runs], higher_is_better=False)
        if all(r["tree"] for r in runs) else None,
        "runs": runs,
    }  # fmt: skip
