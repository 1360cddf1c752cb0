"""Sizes, the shared runner and the plan and send measurements of ``make bench``.

Every measurement runs the CLI as a subprocess (see ``bench.harness``) and
records its raw numbers and repetitions; targets are judged in ``bench.results``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import (
    Finished,
    Inspector,
    Poller,
    SandboxProcess,
    Window,
    child_env,
    cli_command,
    load_average,
    run_timed,
    send_window,
)
from bench.inputs import people_file
from bench.proctree import cpu_between

MAPPING = "followupboss"
# The runs measure sending leads, comparable with earlier results: without the
# users listing and the was_assigned activities of assign: (one GET, a few activities)
NO_ASSIGN = ("--assign", "off")
PLAN_SITE = "b3e1c0de-5a4d-4b0c-8000-00000000be7c"  # a fixed site so plans compute lead ids
OK_CODES = (0, 3)  # 3: finished with rejected rows, which every generated file has
NAIVE_SCRIPT = Path(__file__).resolve().with_name("naive.py")
RUN_TIMEOUT_S = 3600.0
# 50 samples a second: the window is known to +-20 ms (under 0.5% of a 7.5 s send phase)
# while the sandbox answers only a few extra light requests
POLL_INTERVAL_S = 0.02
# the memory of a plan's process tree is sampled 10 times a second: a sample reads
# /proc for every process (about 1 ms), a cost kept under 1% of the plan's CPU
TREE_INTERVAL_S = 0.1


@dataclass(frozen=True, slots=True)
class Sizes:
    """Rows per measurement and repetitions; ``FULL`` and ``QUICK`` are the two presets."""

    plan_rows: int = 100_000
    memory_rows: tuple[int, int] = (100_000, 1_000_000)
    # (workers, rows): about 7.5 s of sending at the ideal rate, workers / latency
    send_rows: tuple[tuple[int, int], ...] = (
        (1, 150), (4, 600), (16, 2400), (32, 4800), (64, 9600),
    )  # fmt: skip
    naive_leads: int = 150
    rerun_rows: int = 100_000
    rerun_workers: int = 16
    latency_ms: float = 50.0
    # throttle_recovery: the issue 17 case (8 workers, 20 ms, 5% random 429s)
    throttle_rows: int = 3000
    throttle_workers: int = 8
    throttle_latency_ms: float = 20.0
    throttle_fault_rate: float = 0.05
    # send_at_0ms: throughput and CPU per lead without latency
    zero_rows: int = 3000
    zero_workers: tuple[int, ...] = (16, 32, 64)
    # send_processes: --send-processes side by side, at 0 ms (zero_rows) and at latency_ms
    process_counts: tuple[int, ...] = (1, 2, 3)
    process_workers_0ms: tuple[int, ...] = (16, 64)
    process_workers_slow: int = 64
    process_slow_rows: int = 4800
    # auto_workers: --workers auto against these fixed counts, into a sandbox with
    # --rate-limit auto_rate_limit (0 ms) and into one at latency_ms without a limit
    auto_fixed: tuple[int, ...] = (4, 16, 64)
    auto_rate_limit: float = 100.0
    auto_limited_rows: int = 1200
    auto_latency_rows: int = 2400
    scale_out: tuple[int, int, int] = (20_000, 4, 8)  # rows, dask-local processes, --workers each
    startup_reps: int = 5
    plan_reps: int = 3
    memory_large_reps: int = 1
    send_reps: int = 3
    naive_reps: int = 3
    rerun_reps: int = 3


FULL = Sizes()
QUICK = Sizes(
    plan_rows=2_000, memory_rows=(2_000, 20_000), scale_out=(40, 2, 2),
    send_rows=((1, 10), (4, 40), (16, 160), (32, 160), (64, 160)),
    naive_leads=10, rerun_rows=500, plan_reps=1, send_reps=1, naive_reps=1, rerun_reps=1,
    throttle_rows=100, zero_rows=100, process_counts=(1, 2), process_workers_0ms=(16,),
    process_slow_rows=160, auto_limited_rows=150, auto_latency_rows=100, startup_reps=1,
)  # fmt: skip


def summarise(values: Sequence[float], *, higher_is_better: bool = True) -> dict[str, Any]:
    """``{"values", "n", "best", "median"}`` of repeated readings; raises ValueError if empty."""
    if not values:
        raise ValueError("no readings to summarise")
    best = max(values) if higher_is_better else min(values)
    return {
        "values": [round(v, 4) for v in values],
        "n": len(values),
        "best": round(best, 4),
        "median": round(statistics.median(values), 4),
    }


@dataclass
class Bench:
    """Where and how to run: sizes, data and scratch directories, the CLI, a logger."""

    sizes: Sizes
    data_dir: Path
    work_dir: Path
    command: tuple[str, ...] = field(default_factory=cli_command)
    log: Callable[[str], None] = print
    env: dict[str, str] = field(default_factory=child_env)
    _plans: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def people(self, rows: int) -> Path:
        """The generated people file of ``rows`` rows (reused when already there)."""
        started = time.perf_counter()
        path = people_file(self.data_dir, rows)
        if time.perf_counter() - started > 1:
            self.log(f"  generated {path.name} in {time.perf_counter() - started:.1f} s")
        return path

    def fresh(self, label: str) -> Path:
        """A new, not yet existing path in the scratch directory."""
        return self.work_dir / f"{label}-{uuid.uuid4().hex[:8]}"

    def cli(
        self, *args: str | Path, timeout_s: float = RUN_TIMEOUT_S, ok_codes: Sequence[int] = OK_CODES,
        tree_interval_s: float | None = None, own_cpu: bool = False,
    ) -> Finished:  # fmt: skip
        """Run ``rg-import ARGS`` in the scratch directory; raises RuntimeError on failure."""
        argv = [*self.command, *(str(a) for a in args)]
        return run_timed(
            argv, env=self.env, cwd=self.work_dir, timeout_s=timeout_s, ok_codes=ok_codes,
            tree_interval_s=tree_interval_s, own_cpu=own_cpu,
        )  # fmt: skip

    def plan_runs(self, rows: int, reps: int) -> list[dict[str, Any]]:
        """At least ``reps`` timed ``rg-import plan`` runs on ``rows`` rows (shared between measurements)."""
        done = self._plans.setdefault(rows, [])
        path = self.people(rows)
        while len(done) < reps:
            self.log(f"  rg-import plan, {rows:,} rows ({len(done) + 1}/{reps}) ...")
            done.append(self.timed_plan(path, rows))
        return done[:reps]

    def timed_plan(self, path: Path, rows: int) -> dict[str, Any]:
        """One timed ``rg-import plan`` of ``path``, which must read ``rows`` rows; its figures."""
        # --assign off: no users listing (it would ask the real service for PLAN_SITE's)
        finished = self.cli("plan", path, "-m", MAPPING, "--site", PLAN_SITE, "--assign", "off",
                            "--out", self.fresh("plan"), "--quiet", "--json",
                            tree_interval_s=TREE_INTERVAL_S)  # fmt: skip
        report = finished.json()
        if report["input"]["rows"] != rows:
            raise RuntimeError(
                f"plan read {report['input']['rows']} rows of {path.name}, expected {rows}"
            )
        _remove_tree(Path(report["out_dir"]))
        return {
            "wall_s": round(finished.wall_s, 4),
            "peak_rss_mb": round(finished.peak_rss_mb, 1),
            "tree": finished.tree,
            "cpu_s": round(finished.cpu_s, 3),
            "in_process_s": report["duration_s"],
            "create": report["leads"]["create"],
            "rejected": report["leads"]["rejected"],
        }


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def plan_throughput(bench: Bench) -> dict[str, Any]:
    """Rows per second of a whole ``rg-import plan`` command, start-up included."""
    rows = bench.sizes.plan_rows
    runs = bench.plan_runs(rows, bench.sizes.plan_reps)
    walls = [r["wall_s"] for r in runs]
    return {
        "rows": rows,
        "repetitions": len(runs),
        "load_average": load_average(),
        "wall_s": summarise(walls, higher_is_better=False),
        "rows_per_s": summarise([rows / w for w in walls]),
        "in_process_s": summarise([r["in_process_s"] for r in runs], higher_is_better=False),
        "startup_and_exit_s": summarise(
            [r["wall_s"] - r["in_process_s"] for r in runs], higher_is_better=False
        ),
        "planned": {"create": runs[0]["create"], "rejected": runs[0]["rejected"]},
    }


def plan_memory(bench: Bench) -> dict[str, Any]:
    """Peak RSS of ``rg-import plan`` on a small and a ten times larger file, and their ratio."""
    small, large = bench.sizes.memory_rows
    small_runs = bench.plan_runs(small, bench.sizes.plan_reps)
    large_runs = bench.plan_runs(large, bench.sizes.memory_large_reps)
    small_rss = summarise([r["peak_rss_mb"] for r in small_runs], higher_is_better=False)
    large_rss = summarise([r["peak_rss_mb"] for r in large_runs], higher_is_better=False)
    return {
        "small_rows": small,
        "large_rows": large,
        "load_average": load_average(),
        "small_peak_rss_mb": small_rss,
        "large_peak_rss_mb": large_rss,
        "ratio": round(large_rss["median"] / small_rss["median"], 3),
        "large_rows_per_s": summarise([large / r["wall_s"] for r in large_runs]),
        "tree": _tree_memory(small_runs, large_runs),
    }


def _tree_memory(
    small_runs: list[dict[str, Any]], large_runs: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The whole process tree's peaks (parent and checking processes), small and large; None without /proc."""
    if any(r["tree"] is None for r in (*small_runs, *large_runs)):
        return None
    found: dict[str, Any] = {}
    for label, runs in (("small", small_runs), ("large", large_runs)):
        for key in ("peak_pss_mb", "peak_rss_mb", "sum_of_own_peaks_mb"):
            found[f"{label}_{key}"] = summarise(
                [r["tree"][key] for r in runs], higher_is_better=False
            )
        found[f"{label}_processes_seen"] = max(r["tree"]["processes_seen"] for r in runs)
        found[f"{label}_most_at_once"] = max(r["tree"]["most_at_once"] for r in runs)
    found["ratio"] = round(
        found["large_peak_pss_mb"]["median"] / found["small_peak_pss_mb"]["median"], 3
    )
    return found


def send_throughput(bench: Bench) -> dict[str, Any]:
    """Leads per second of the send phase of ``rg-import run`` at each worker count."""
    sizes = bench.sizes
    results = []
    with SandboxProcess(bench.command, latency_ms=sizes.latency_ms, env=bench.env) as sandbox:
        for workers, rows in sizes.send_rows:
            path = bench.people(rows)
            plan_s = bench.plan_runs(rows, 1)[0]["in_process_s"]
            reps = []
            for rep in range(sizes.send_reps):
                bench.log(
                    f"  rg-import run --workers {workers}, {rows} rows ({rep + 1}/{sizes.send_reps}) ..."
                )
                reps.append(timed_send(bench, sandbox, path, workers, plan_s))
            ideal = workers * 1000 / sizes.latency_ms
            rates = summarise([r["leads_per_s"] for r in reps])
            results.append({
                "workers": workers, "rows": rows, "repetitions": len(reps),
                "created": reps[0]["created"], "requests": reps[0]["requests"],
                # the default, --send-processes auto: what it chose (2 from 32 workers on 2 CPUs)
                "send_processes": _send_processes(reps),
                "leads_per_s": rates, "ideal_leads_per_s": ideal,
                "fraction_of_ideal": round(rates["best"] / ideal, 4),
                "fraction_of_ideal_median": round(rates["median"] / ideal, 4),
                "cross_check_leads_per_s": summarise([r["by_subtraction"] for r in reps]),
                "cpu_ms_per_lead": summarise([r["cpu_ms_per_lead"] for r in reps], higher_is_better=False),
                "runs": reps,
            })  # fmt: skip
    return {"latency_ms": sizes.latency_ms, "load_average": load_average(), "by_workers": results}


def _send_processes(reps: Sequence[dict[str, Any]]) -> int | None:
    """The sending processes the runs of one setting used; all alike (the rule is fixed)."""
    found = {r["send_processes"] for r in reps}
    if len(found) != 1:
        raise RuntimeError(f"the runs of one setting sent from {sorted(map(str, found))} processes")
    return found.pop()


def timed_send(
    bench: Bench, sandbox: SandboxProcess, path: Path, workers: int, plan_s: float,
    processes: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One ``rg-import run`` into a fresh site and ledger, its send phase timed from the sandbox.

    ``processes`` adds ``--send-processes N``; None leaves the run's default (auto: 2 from
    32 workers on where 2 CPUs are usable), and ``send_processes`` records what the run
    used (report.json; None from a version that does not say). The CPU is the whole
    process tree's (the run reaps its sending processes, so ``os.wait4`` counts them)."""
    options: tuple[str, ...] = ("--workers", str(workers))
    if processes is not None:
        options += ("--send-processes", str(processes))
    finished, samples = send_once(bench, sandbox, path, options)
    report = finished.json()
    created, requests = report["leads"]["created"], report["requests"]["total"]
    window = send_window(samples)
    if window is None or requests == 0:
        raise RuntimeError(f"no sending was seen (created {created}, requests {requests})")
    per_lead = created / requests  # 1.0: a Follow Up Boss lead is one POST with its notes inside
    # with --yes nothing is previewed (importer.send.run.ask_first_write): before the
    # first send the run reads the file through once (cut into blocks, quoting checked,
    # not parsed: importer.read.table.read_through), then plans it as it sends; the
    # plan, taken as plan_s (the plan command's in-process time), is what is subtracted
    sending_s = max(report["duration_s"] - plan_s, 1e-9)
    return {
        "created": created,
        "requests": requests,
        "send_processes": report["requests"].get("send_processes"),
        "window_s": round(window.seconds, 4),
        "window_requests": window.requests,
        "leads_per_s": round(window.rate * per_lead, 3),
        "duration_s": report["duration_s"],
        "wall_s": round(finished.wall_s, 3),
        "by_subtraction": round(created / sending_s, 3),
        "cpu_s": round(finished.cpu_s, 3),
        "cpu_ms_per_lead": round(1000 * finished.cpu_s / created, 4) if created else None,
        # the run's own process, without the sending processes it reaps (sampled)
        "own_cpu_ms_per_lead": round(1000 * finished.own_cpu_s / created, 4)
        if created and finished.own_cpu_s is not None
        else None,
        **_send_window_cpu(finished, window, per_lead),
    }


def _send_window_cpu(finished: Finished, window: Window, per_lead: float) -> dict[str, Any]:
    """CPU per lead spent while the leads were being sent (no start-up, no plan, no end).

    The run's CPU at the window's first and last counted request, read off the
    samples of its process tree (``proctree.cpu_between``), over the leads of the
    window: ``send_cpu_ms_per_lead`` for the whole tree (sending processes
    included), ``send_own_cpu_ms_per_lead`` for the run's own process. None where
    ``/proc`` was not sampled.
    """
    spent = cpu_between(list(finished.cpu_trace), window.start_s, window.end_s)
    leads = window.requests * per_lead
    if spent is None or leads <= 0:
        return {"send_cpu_ms_per_lead": None, "send_own_cpu_ms_per_lead": None}
    own, tree = spent
    return {
        "send_cpu_ms_per_lead": round(1000 * tree / leads, 4),
        "send_own_cpu_ms_per_lead": round(1000 * own / leads, 4),
    }


def send_once(
    bench: Bench, sandbox: SandboxProcess, path: Path, options: Sequence[str], *,
    count: Callable[[Inspector], int] = Inspector.total, ok_codes: Sequence[int] = OK_CODES,
) -> tuple[Finished, list[tuple[float, int]]]:  # fmt: skip
    """``rg-import run PATH OPTIONS`` into a reset sandbox, a fresh site and ledger.

    Returns the finished command and the samples of ``count`` (the sandbox's
    request counter by default) taken every ``POLL_INTERVAL_S`` while it ran.
    """
    sandbox.reset()
    counter = Inspector(sandbox.root_url)  # the poller's own connection
    try:
        with Poller(lambda: count(counter), interval_s=POLL_INTERVAL_S) as poller:
            finished = bench.cli(
                "run", path, "-m", MAPPING, "--site", str(uuid.uuid4()), "--base-url", sandbox.url,
                "--ledger", bench.fresh("ledger").with_suffix(".sqlite"), "--out", bench.fresh("run"),
                *options, "--yes", "--quiet", "--json", *NO_ASSIGN, ok_codes=ok_codes, own_cpu=True,
            )  # fmt: skip
            time.sleep(0.05)  # one more sample after the last answer
    finally:
        counter.close()
    return finished, poller.samples


def throttle_recovery(bench: Bench) -> dict[str, Any]:
    """Send throughput with 5% random 429s over that without faults, measured side by side.

    Two sandboxes with the same latency, one drawing 429s (Retry-After: 1) for a
    share of the requests; the runs alternate between them. The rate is leads
    created per second of the send window (the 429s and their retries are
    requests, not leads), and the ratio is faulty over clean, best against best.
    """
    sizes = bench.sizes
    rows, workers = sizes.throttle_rows, sizes.throttle_workers
    path = bench.people(rows)
    plan_s = bench.plan_runs(rows, 1)[0]["in_process_s"]
    faults = ["--fault-rate", f"{sizes.throttle_fault_rate:g}", "--faults", "429", "--seed", "17"]
    runs: dict[str, list[dict[str, Any]]] = {"clean": [], "faulty": []}
    with (
        SandboxProcess(bench.command, latency_ms=sizes.throttle_latency_ms, env=bench.env) as clean,
        SandboxProcess(bench.command, latency_ms=sizes.throttle_latency_ms, extra_args=faults,
                       env=bench.env) as faulty,
    ):  # fmt: skip
        for rep in range(sizes.send_reps):
            for label, sandbox in (("clean", clean), ("faulty", faulty)):
                bench.log(f"  rg-import run --workers {workers}, {rows} rows, {label} "
                          f"({rep + 1}/{sizes.send_reps}) ...")  # fmt: skip
                run = timed_send(bench, sandbox, path, workers, plan_s)
                # every lead gets through in the end: 429s are retried
                if runs["clean"] and run["created"] != runs["clean"][0]["created"]:
                    raise RuntimeError(f"the {label} run created {run['created']} leads, "
                                       f"the clean one {runs['clean'][0]['created']}")  # fmt: skip
                runs[label].append(run)
    clean_rate = summarise([r["leads_per_s"] for r in runs["clean"]])
    faulty_rate = summarise([r["leads_per_s"] for r in runs["faulty"]])
    return {
        "rows": rows,
        "workers": workers,
        "latency_ms": sizes.throttle_latency_ms,
        "fault_rate": sizes.throttle_fault_rate,
        "repetitions": sizes.send_reps,
        "load_average": load_average(),
        "clean_leads_per_s": clean_rate,
        "faulty_leads_per_s": faulty_rate,
        "ratio": round(faulty_rate["best"] / clean_rate["best"], 4),
        "ratio_median": round(faulty_rate["median"] / clean_rate["median"], 4),
        "runs": runs,
    }


def naive_baseline(bench: Bench) -> dict[str, Any]:
    """Leads per second of a one-at-a-time loop with a new connection per lead."""
    sizes = bench.sizes
    leads = _captured_leads(bench, sizes.naive_leads)
    leads_file = bench.fresh("naive").with_suffix(".json")
    leads_file.write_text(json.dumps(leads), encoding="utf-8")
    leads_file.chmod(0o600)
    runs = []
    with SandboxProcess(bench.command, latency_ms=sizes.latency_ms, env=bench.env) as sandbox:
        for rep in range(sizes.naive_reps):
            bench.log(f"  naive loop, {len(leads)} leads ({rep + 1}/{sizes.naive_reps}) ...")
            finished = run_timed(
                [sys.executable, str(NAIVE_SCRIPT), "--url", sandbox.url,
                 "--site", str(uuid.uuid4()), "--leads", str(leads_file)],
                env=bench.env, timeout_s=RUN_TIMEOUT_S,
            )  # fmt: skip
            result = finished.json()
            created = int(result["statuses"].get("201", 0))
            if created != len(leads):
                raise RuntimeError(f"the naive loop created {created} of {len(leads)}: {result}")
            runs.append({**result, "leads_per_s": round(created / result["seconds"], 3)})
    return {
        "leads": len(leads),
        "latency_ms": sizes.latency_ms,
        "repetitions": len(runs),
        "load_average": load_average(),
        "leads_per_s": summarise([r["leads_per_s"] for r in runs]),
        "runs": runs,
    }


def _captured_leads(bench: Bench, rows: int) -> list[dict[str, Any]]:
    """The lead payloads rg-import sends for a file of ``rows`` rows, as the sandbox received them."""
    path = bench.people(rows)
    with SandboxProcess(bench.command, env=bench.env) as sandbox:
        bench.cli(
            "run", path, "-m", MAPPING, "--site", str(uuid.uuid4()), "--base-url", sandbox.url,
            "--ledger", bench.fresh("ledger").with_suffix(".sqlite"), "--out", bench.fresh("run"),
            "--workers", "4", "--yes", "--quiet", "--json", *NO_ASSIGN,
        )  # fmt: skip
        log = sandbox.inspector.call("GET", "requests")
    return [e["body"] for e in log if e["route"] == "create_lead" and e["status"] == "201"]
