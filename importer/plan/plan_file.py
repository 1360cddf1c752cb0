"""``rg-import plan``: the dry run that checks every row and writes what a run would do.

``plan_file`` reads the input (checking it on several cores, see
``importer.plan.parallel``), plans every row with ``importer.plan.planner.Planner``, and
writes the run directory: plan.csv (one line per input row) and rejects.csv
(only when rows are rejected), whose lines ``importer.plan.plan_csv`` makes, and
report.json, built (``importer.outputs.report``) from the ``PlanResult`` it returns.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.errors import ConfigError
from importer.mapping.files import read_overrides
from importer.mapping.spec import Mapping
from importer.models import PLANNED, Outcome
from importer.outputs import private_files, report_html
from importer.outputs.reasons import Reasons
from importer.outputs.report import (
    InputFacts,
    PlanResult,
    Warnings,
    input_problems,
    report_json,
)
from importer.plan.agents import agent_report
from importer.plan.known_rejects import RejectMemory
from importer.plan.plan_csv import write_chunk
from importer.plan.planner import Planner
from importer.plan.rows import PlannedChunk
from importer.plan.users import users_for_plan
from importer.progress import NullProgress, Progress
from importer.settings import DEFAULT_FAIL_ON, DEFAULT_UPDATE_API, REJECT_WORKBOOK_MAX_ROWS

if TYPE_CHECKING:
    from importer.ledger.ledger import Ledger
    from importer.outputs.csv_files import RejectWriter
    from importer.read.options import ReadOptions
    from importer.read.table import Table

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
    ledger: Path | str | None = None  # a SQLite file, or a postgresql:// URL
    out: Path | None = None
    read_options: Any = None  # importer.read.table.ReadOptions
    command: str = "plan"
    input_name: str | None = None  # the input as typed, when ``input`` is a copy of it (stdin)
    overwrite: bool = False  # replace the outputs of an earlier run in ``out``
    processes: int | None = None  # checking processes; None: one per core
    reject_workbook: bool = True  # write rejects.xlsx beside rejects.csv (--no-xlsx: not)
    update_api: str = (
        DEFAULT_UPDATE_API  # the one the run would use: v2 can clear fields, v1 cannot
    )
    fail_on: str = DEFAULT_FAIL_ON  # which rejects make exit 3 (settings.FAIL_ON)
    allow_empty: bool = False  # a file with no data rows is no problem (else empty_input)
    # assign: the site's users (Client.list_users; None: not asked, for ``agents_unchecked``)
    list_users: Callable[[], Iterable[Any]] | None = None
    agent_map: Path | None = None  # --agent-map
    agents_unchecked: str = ""  # why the users cannot be asked (no --site, no credentials)


def plan_file(req: PlanRequest, *, progress: Callable[..., Progress] | None = None) -> PlanResult:
    """Plan every row of ``req.input`` and write the run directory (report.json from the result)."""
    from importer.plan.parallel import planned_chunks
    from importer.read.table import open_table

    started = time.monotonic()
    run_id = private_files.new_run_id()
    options = _options(req)
    # lazy: the rows are parsed where they are checked (see importer.plan.parallel)
    with _history(req, run_id) as ledger, open_table(req.input, options, lazy=True) as table:
        req, unchecked = _with_users(req, table.info.columns)
        planner = Planner(
            req.mapping, table.info.columns, table.info.headers, site=req.site, ledger=ledger,
            clears_fields=req.update_api == "v2", shows_fields=True,
        )  # fmt: skip
        bar = (progress or _no_progress)("Planning", total=table.info.size, unit="B")
        chunks = _first_read(planned_chunks(planner, table, processes=req.processes), bar)
        out_dir = private_files.make_run_dir(
            req.out or Path("rg-import-runs") / run_id, overwrite=req.overwrite
        )
        memory = RejectMemory(ledger, req.site, req.mapping.source)
        workbook_mapping = req.mapping if req.reject_workbook else None
        leads, reasons, warnings, rejects = _write_outputs(
            chunks, table, out_dir, bar, memory, workbook_mapping
        )
        workbook = _reject_workbook(rejects, table, workbook_mapping)
        info = table.info
    agents = agent_report(req.mapping, req.input, options, out_dir, unchecked)
    name = req.input_name or str(req.input)
    result = PlanResult(
        run_id=run_id, command=req.command, input=InputFacts.of(info, name),
        mapping=req.mapping, site=req.site, leads=leads, rejects=reasons, warnings=warnings,
        out_dir=out_dir, plan_file=out_dir / "plan.csv",
        rejects_file=rejects.path if rejects else None, rejects_workbook=workbook,
        duration_s=round(time.monotonic() - started, 3), rejects_known=memory.known,
        problems=input_problems(info.rows, name, allow_empty=req.allow_empty), fail_on=req.fail_on,
        agents=agents,
    )  # fmt: skip
    data = report_json(result)
    private_files.write_json(out_dir / "report.json", data)
    report_html.write_html(out_dir / "report.html", data)
    return result


def _with_users(req: PlanRequest, columns: list[str]) -> tuple[PlanRequest, str]:
    """The request whose mapping carries the site's users, and why owners were not checked."""
    mapping, unchecked = users_for_plan(
        req.mapping, columns, req.list_users, agent_map=req.agent_map, site=req.site,
        unchecked=req.agents_unchecked,
    )  # fmt: skip
    return dataclasses.replace(req, mapping=mapping), unchecked


def _options(req: PlanRequest) -> ReadOptions:
    """How to read the input, in chunks small enough to keep every checking process busy."""
    from importer.read.options import ReadOptions

    options = req.read_options or ReadOptions(**read_overrides(req.mapping))
    return dataclasses.replace(
        options, chunk_rows=min(options.chunk_rows, PARALLEL_CHUNK_ROWS), even_chunks=True
    )


@contextmanager
def _history(req: PlanRequest, run_id: str) -> Iterator[Ledger | None]:
    """The ledger of earlier runs (read only) when one is given, to plan updates."""
    if req.ledger is None:
        yield None
        return
    from importer.ledger.ledger import Ledger

    if isinstance(req.ledger, Path) and not req.ledger.exists():
        raise ConfigError(
            f"ledger {req.ledger} does not exist; leave out --ledger to plan without history"
        )
    if not req.site:
        raise ConfigError("--ledger needs --site: the ledger keeps leads per site")
    ledger = Ledger(req.ledger, run_id=run_id, readonly=True)
    try:
        yield ledger
    finally:
        ledger.close()


def _no_progress(*args: Any, **kwargs: Any) -> Progress:
    return NullProgress()


def _first_read(chunks: Iterator[PlannedChunk], bar: Progress) -> Iterator[PlannedChunk]:
    """The planned chunks, the first one read and checked already.

    A file that fails in its first rows (a ragged row) then stops before the
    run directory is made, so it leaves none.
    """
    try:
        first = next(chunks, None)
    except BaseException:
        bar.close()
        raise
    return itertools.chain([first] if first else [], chunks)


def _write_outputs(
    chunks: Iterator[PlannedChunk], table: Table, out_dir: Path, bar: Progress,
    memory: RejectMemory, workbook_mapping: Mapping | None,
) -> tuple[Counter[Outcome], Reasons, Warnings, RejectWriter | None]:  # fmt: skip
    """Write plan.csv and rejects.csv; returns the rows per outcome, the rejected rows
    per code, the warnings and the rejects file (None when no row was rejected).
    ``memory`` counts the rejects reported before."""
    from importer.outputs import csv_files

    plan_out = csv_files.CsvOut(out_dir / "plan.csv", csv_files.PLAN_COLUMNS)
    rejects = csv_files.RejectWriter(
        out_dir / "rejects.csv", table.info.headers,
        workbook_rows=REJECT_WORKBOOK_MAX_ROWS if workbook_mapping else 0,
    )  # fmt: skip
    counts: Counter[Outcome] = Counter()
    reasons = Reasons()
    warnings = Warnings(examples=[])
    try:
        done = 0
        for planned in chunks:
            write_chunk(planned, plan_out, rejects, counts, reasons)
            rejected = [i for i, a in enumerate(planned.actions) if a is Outcome.REJECT]
            memory.count(planned.rejects_at(rejected))
            warnings.add(planned.warnings)
            bar.advance(table.bytes_read - done)
            done = table.bytes_read
            bar.counts(**{o.value: counts[o] for o in PLANNED})
    finally:
        bar.close()
        plan_out.close()
        rejects.close()
    return counts, reasons, warnings, rejects if rejects.written else None


def _reject_workbook(
    rejects: RejectWriter | None, table: Table, mapping: Mapping | None
) -> Path | None:
    """rejects.xlsx beside rejects.csv, when there are rejects and not too many."""
    if rejects is None or mapping is None or not rejects.wants_workbook:
        return None
    from importer.outputs.problem_cells import ProblemCells
    from importer.outputs.reject_workbook import write_reject_workbook

    return write_reject_workbook(
        rejects.path, rejects.path.with_suffix(".xlsx"), rejects.problems,
        ProblemCells(table.info.headers, mapping),
    )  # fmt: skip
