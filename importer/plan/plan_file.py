"""``rg-import plan``: the dry run that checks every row and writes what a run would do.

``plan_file`` reads the input (checking it on several cores, see
``importer.plan.parallel``), plans every row with ``importer.plan.planner.Planner``, and
writes the run directory: plan.csv (one line per input row), rejects.csv (only
when rows are rejected) and report.json, whose lines ``importer.plan.plan_csv``
makes.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer.errors import ConfigError, ExitCode
from importer.mapping.files import read_overrides
from importer.mapping.spec import Mapping
from importer.plan.plan_csv import write_chunk
from importer.plan.planner import Planner
from importer.progress import Progress
from importer.settings import DEFAULT_UPDATE_API

# Chunk size while planning: small enough that several checking processes
# overlap with reading, big enough that pandera's fixed cost per chunk stays
# small (measured best between 30,000 and 50,000 rows on 2 cores).
PARALLEL_CHUNK_ROWS = 33_000


@dataclass(frozen=True)
class PlanRequest:
    """Everything ``rg-import plan`` needs, resolved by the CLI."""

    input: Path
    mapping: Mapping
    site: str | None = None
    ledger: Path | None = None
    out: Path | None = None
    read_options: Any = None  # importer.read.table.ReadOptions
    command: str = "plan"
    input_name: str | None = None  # the input as typed, when ``input`` is a copy of it (stdin)
    overwrite: bool = False  # replace the outputs of an earlier run in ``out``
    processes: int | None = None  # checking processes; None: one per core
    update_api: str = (
        DEFAULT_UPDATE_API  # the one the run would use: v2 can clear fields, v1 cannot
    )


def plan_file(
    req: PlanRequest, *, progress: Callable[..., Progress] | None = None
) -> dict[str, Any]:
    """Plan every row of ``req.input`` and write the run directory; returns report.json's data."""
    from importer.ledger.ledger import Ledger
    from importer.outputs import csv_files, private_files
    from importer.plan.parallel import planned_chunks
    from importer.progress import NullProgress
    from importer.read.options import ReadOptions
    from importer.read.table import open_table

    started = time.monotonic()
    run_id = private_files.new_run_id()
    options = req.read_options or ReadOptions(**read_overrides(req.mapping))
    # smaller chunks keep every core busy while the checking is spread over processes
    options = dataclasses.replace(
        options, chunk_rows=min(options.chunk_rows, PARALLEL_CHUNK_ROWS), even_chunks=True
    )
    ledger = None
    if req.ledger is not None:
        if not req.ledger.exists():
            raise ConfigError(
                f"ledger {req.ledger} does not exist; leave out --ledger to plan without history"
            )
        if not req.site:
            raise ConfigError("--ledger needs --site: the ledger keeps leads per site")
        ledger = Ledger(req.ledger, run_id=run_id, readonly=True)
    try:
        # lazy: the rows are parsed where they are checked (see importer.plan.parallel)
        with open_table(req.input, options, lazy=True) as table:
            planner = Planner(
                req.mapping,
                table.info.columns,
                table.info.headers,
                site=req.site,
                ledger=ledger,
                clears_fields=req.update_api == "v2",
            )
            bar = (progress or (lambda *a, **k: NullProgress()))(
                "Planning", total=table.info.size, unit="B"
            )
            chunks = planned_chunks(planner, table, processes=req.processes)
            try:
                # the first rows are read and checked before anything is written:
                # a file that fails there (a ragged row) leaves no run directory
                first = next(chunks, None)
            except BaseException:
                bar.close()
                raise
            out_dir = private_files.make_run_dir(
                req.out or Path("rg-import-runs") / run_id, overwrite=req.overwrite
            )
            plan_out = csv_files.CsvOut(out_dir / "plan.csv", csv_files.PLAN_COLUMNS)
            rejects = csv_files.RejectWriter(out_dir / "rejects.csv", table.info.headers)
            counts: Counter[str] = Counter()
            warnings: Counter[str] = Counter()
            warning_examples: list[dict[str, Any]] = []
            try:
                done = 0
                for planned in itertools.chain([first] if first else [], chunks):
                    write_chunk(planned, plan_out, rejects, counts)
                    for w in planned.warnings:
                        warnings[w.code] += 1
                        if len(warning_examples) < 20:
                            warning_examples.append(
                                {"row": w.row, "code": w.code, "message": w.message}
                            )
                    bar.advance(table.bytes_read - done)
                    done = table.bytes_read
                    bar.counts(
                        **{k: counts[k] for k in ("create", "update", "unchanged", "reject")}
                    )
            finally:
                bar.close()
                plan_out.close()
                rejects.close()
            info = table.info
    finally:
        if ledger is not None:
            ledger.close()

    rejected = counts["reject"]
    report: dict[str, Any] = {
        "run_id": run_id,
        "command": req.command,
        "input": {
            "path": req.input_name or str(req.input),
            "sha256": info.sha256,
            "rows": info.rows,
            "encoding": info.encoding,
            "delimiter": info.delimiter,
            "sheet": info.sheet,
            "warnings": info.warnings,
        },
        "mapping": {
            "name": req.mapping.name,
            "path": str(req.mapping.path or ""),
            "kind": req.mapping.kind,
        },
        "site_uuid": req.site,
        "leads": {
            "create": counts["create"],
            "update": counts["update"],
            "unchanged": counts["unchanged"],
            "rejected": rejected,
        },
        "warnings": {
            "total": sum(warnings.values()),
            "by_code": dict(warnings),
            "examples": warning_examples,
        },
        "plan_file": str(out_dir / "plan.csv"),
        "rejects_file": str(rejects.path) if rejects.written else None,
        "duration_s": round(time.monotonic() - started, 3),
        "exit_code": int(ExitCode.REJECTS if rejected else ExitCode.OK),
    }
    private_files.write_json(out_dir / "report.json", report)
    report["out_dir"] = str(out_dir)
    return report
