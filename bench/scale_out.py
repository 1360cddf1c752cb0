"""Scale-out: Dask runs against one process with the same total ``--workers``.

Two Dask runs: ``--executor dask-local`` (a cluster started by the run and
stopped after it), and ``--executor dask --scheduler ...`` against a cluster of
as many worker processes started once, before the rounds, as docs/scale.md
recommends for big imports (``dask scheduler`` and ``dask worker --preload
importer.scale.warm``). All runs write a PostgreSQL ledger (the one a Dask run
needs), from a server the ``pgserver`` wheel starts in a temporary folder for
this measurement; every run gets a new database, a new site and a reset
sandbox at the send latency. Where pgserver, Dask or its local cluster cannot
start, the measurement says so (``available`` false) instead of failing the
benchmark.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.harness import (
    Finished,
    Inspector,
    Poller,
    SandboxProcess,
    load_average,
    send_window,
    stop_process,
)
from bench.measures import MAPPING, NO_ASSIGN, POLL_INTERVAL_S, Bench, summarise
from bench.postgres import Unavailable, new_database, postgres_server

SINGLE, DASK_LOCAL, DASK_CLUSTER = "single", "dask_local", "dask_cluster"
SPREAD = (DASK_LOCAL, DASK_CLUSTER)
JUDGED = DASK_LOCAL  # the run the words name (bench/README.md, measurement 12)
CLUSTER_START_S = 120.0  # for the running cluster's workers to join


@contextlib.contextmanager
def running_cluster(bench: Bench, processes: int) -> Iterator[str]:
    """``dask scheduler`` and ``dask worker --nworkers processes --nthreads 1`` as child
    processes for the ``with`` block, the workers with the sandbox's login and the
    preload docs/scale.md gives; the scheduler's address once every worker joined."""
    from distributed import Client

    folder = Path(tempfile.mkdtemp(prefix="rg-bench-dask-"))
    address_file = folder / "scheduler.json"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    started: list[subprocess.Popen[bytes]] = []
    log = (folder / "cluster.log").open("wb")
    try:
        started.append(subprocess.Popen(
            [*dask, "--scheduler-file", str(address_file), "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard"],
            env=bench.env, cwd=bench.work_dir, stdout=log, stderr=subprocess.STDOUT,
        ))  # fmt: skip
        started.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(address_file), "--host", "127.0.0.1", "--nworkers", str(processes), "--nthreads", "1",
             "--no-dashboard", "--preload", "importer.scale.warm"],
            env=bench.env, cwd=bench.work_dir, stdout=log, stderr=subprocess.STDOUT,
        ))  # fmt: skip
        deadline = time.monotonic() + CLUSTER_START_S
        while not address_file.exists():
            if time.monotonic() > deadline or any(p.poll() is not None for p in started):
                raise Unavailable("a Dask scheduler and workers cannot start here (see dask's log)")
            time.sleep(0.1)
        with Client(scheduler_file=str(address_file), timeout=CLUSTER_START_S) as client:
            client.wait_for_workers(processes, timeout=CLUSTER_START_S)
            address = client.scheduler.address
        yield address
    finally:
        for process in reversed(started):
            stop_process(process, timeout_s=30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def scale_out(bench: Bench) -> dict[str, Any]:
    """Leads/s of a ``dask-local`` run over those of one process with the same total ``--workers``."""
    rows, processes, per_process = bench.sizes.scale_out
    workers = processes * per_process
    shape = {"rows": rows, "latency_ms": bench.sizes.latency_ms, "processes": processes,
             "workers_per_process": per_process, "total_workers": workers}  # fmt: skip
    if importlib.util.find_spec("distributed") is None:
        return _unavailable(bench, shape, "needs Dask's distributed package (the dask extra)")
    try:
        with postgres_server() as folder, running_cluster(bench, processes) as scheduler:
            runs = _alternate(bench, folder, rows, processes, workers, scheduler)
    except Unavailable as exc:
        return _unavailable(bench, shape, str(exc))
    return {"available": True, **shape, "repetitions": bench.sizes.send_reps,
            "load_average": load_average(), "judged": JUDGED, **_compared(runs)}  # fmt: skip


def _unavailable(bench: Bench, shape: dict[str, Any], why: str) -> dict[str, Any]:
    bench.log(f"  not available: {why}")
    return {"available": False, "why": why, **shape, "load_average": load_average()}


def _alternate(
    bench: Bench, folder: str, rows: int, processes: int, workers: int, scheduler: str
) -> dict[str, list[dict[str, Any]]]:
    """``send_reps`` rounds of a single run, a dask-local run and a run on the running
    cluster at ``scheduler``, into one sandbox."""
    path = bench.people(rows)
    configurations = (
        (SINGLE, ()),
        (DASK_LOCAL, ("--executor", "dask-local", "--processes", str(processes))),
        (DASK_CLUSTER, ("--executor", "dask", "--scheduler", scheduler)),
    )
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in configurations}
    with SandboxProcess(bench.command, latency_ms=bench.sizes.latency_ms, env=bench.env) as sandbox:
        for rep in range(bench.sizes.send_reps):
            for label, extra in configurations:
                bench.log(f"  rg-import run {' '.join(('--workers', str(workers), *extra))}, {rows} "
                          f"rows, PostgreSQL ledger ({rep + 1}/{bench.sizes.send_reps}) ...")  # fmt: skip
                options = ("--ledger", new_database(folder), "--workers", str(workers), *extra)
                try:
                    runs[label].append(_timed_run(bench, sandbox, path, options))
                except RuntimeError as exc:
                    if label in SPREAD and not runs[label]:  # the cluster never ran here
                        raise Unavailable(f"the first {label} run failed: {exc}") from None
                    raise
    return runs


def _timed_run(
    bench: Bench, sandbox: SandboxProcess, path: Path, options: tuple[str, ...]
) -> dict[str, Any]:
    """One run into a reset sandbox and a fresh site: its send-window and whole-command rates."""
    sandbox.reset()
    counter = Inspector(sandbox.root_url)  # the poller's own connection
    try:
        with Poller(counter.total, interval_s=POLL_INTERVAL_S) as poller:
            finished: Finished = bench.cli(
                "run", path, "-m", MAPPING, "--site", str(uuid.uuid4()), "--base-url", sandbox.url,
                "--out", bench.fresh("run"), *options, "--yes", "--quiet", "--json", *NO_ASSIGN,
            )  # fmt: skip
            time.sleep(0.05)  # one more sample after the last answer
    finally:
        counter.close()
    report = finished.json()
    created, requests = report["leads"]["created"], report["requests"]["total"]
    window = send_window(poller.samples)
    if window is None or requests == 0:
        raise RuntimeError(f"no sending was seen (created {created}, requests {requests})")
    return {
        "created": created,
        "requests": requests,
        "window_s": round(window.seconds, 4),
        "window_leads_per_s": round(window.rate * created / requests, 3),
        "wall_s": round(finished.wall_s, 3),
        "whole_leads_per_s": round(created / finished.wall_s, 3),
        "cpu_s": round(finished.cpu_s, 3),
    }


def _compared(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The configurations summarised, and each Dask run over single for each way of timing:
    ``ratio_whole``... for dask-local, ``cluster_ratio_whole``... for the running cluster."""
    created = {r["created"] for found in runs.values() for r in found}
    if len(created) != 1:
        raise RuntimeError(f"the runs created different numbers of leads: {sorted(created)}")
    found: dict[str, Any] = {}
    for label, done in runs.items():
        found[label] = {
            "whole_leads_per_s": summarise([r["whole_leads_per_s"] for r in done]),
            "window_leads_per_s": summarise([r["window_leads_per_s"] for r in done]),
            "wall_s": summarise([r["wall_s"] for r in done], higher_is_better=False),
            "runs": done,
        }
    for label, prefix in ((DASK_LOCAL, ""), (DASK_CLUSTER, "cluster_")):
        for way in ("whole", "window"):
            spread, single = found[label][f"{way}_leads_per_s"], found[SINGLE][f"{way}_leads_per_s"]
            found[f"{prefix}ratio_{way}"] = round(spread["best"] / single["best"], 4)
            found[f"{prefix}ratio_{way}_median"] = round(spread["median"] / single["median"], 4)
    found["created"] = created.pop()
    return found
