"""``--send-processes N`` side by side with one process: leads per second and CPU per lead.

One sandbox (its own process) per latency; the runs alternate round by round
between the process counts, so a busy spell of the machine falls on all of
them alike. At 0 ms the sending process's CPU is the limit (issue 15: about
780 leads/s whatever ``--workers``); at ``latency_ms`` with 64 workers the ideal
is workers / latency, and the fraction of it reached is reported.

The CPU is the whole process tree's: the run reaps its sending processes
before it exits, so ``os.wait4`` on the command counts theirs in its own. The
run's own process's share is sampled apart (``own_cpu_ms_per_lead``): where
cores are free it is what bounds the rate, as the sending processes run beside it.
"""

from __future__ import annotations

from typing import Any

from bench.harness import SandboxProcess, load_average
from bench.measures import Bench, summarise, timed_send


def send_processes(bench: Bench) -> dict[str, Any]:
    """Each process count against one process, at 0 ms and at ``latency_ms``."""
    sizes = bench.sizes
    zero = _side_by_side(bench, 0.0, sizes.zero_rows, sizes.process_workers_0ms)
    slow = _side_by_side(
        bench, sizes.latency_ms, sizes.process_slow_rows, (sizes.process_workers_slow,)
    )
    for row in slow:
        ideal = row["workers"] * 1000 / sizes.latency_ms
        row["ideal_leads_per_s"] = ideal
        for found in row["by_processes"].values():
            found["fraction_of_ideal"] = round(found["leads_per_s"]["best"] / ideal, 4)
            found["fraction_of_ideal_median"] = round(found["leads_per_s"]["median"] / ideal, 4)
    return {
        "processes": list(sizes.process_counts),
        "repetitions": sizes.send_reps,
        "load_average": load_average(),
        "at_0ms": {"latency_ms": 0.0, "rows": sizes.zero_rows, "by_workers": zero},
        "at_latency": {"latency_ms": sizes.latency_ms, "rows": sizes.process_slow_rows,
                       "by_workers": slow},
    }  # fmt: skip


def _side_by_side(
    bench: Bench, latency_ms: float, rows: int, workers_list: tuple[int, ...]
) -> list[dict[str, Any]]:
    """For each worker count: every process count in turn, ``send_reps`` rounds, one sandbox."""
    sizes = bench.sizes
    path = bench.people(rows)
    plan_s = bench.plan_runs(rows, 1)[0]["in_process_s"]
    counts = sizes.process_counts
    runs: dict[tuple[int, int], list[dict[str, Any]]] = {}
    with SandboxProcess(bench.command, latency_ms=latency_ms, env=bench.env) as sandbox:
        for rep in range(sizes.send_reps):
            for workers in workers_list:
                for processes in counts:
                    bench.log(f"  rg-import run --workers {workers} --send-processes {processes}, "
                              f"{rows} rows, {latency_ms:g} ms ({rep + 1}/{sizes.send_reps}) ...")  # fmt: skip
                    run = timed_send(bench, sandbox, path, workers, plan_s, processes)
                    if run["send_processes"] not in (processes, None):  # None: an older run
                        raise RuntimeError(
                            f"--send-processes {processes} sent from {run['send_processes']}"
                        )
                    runs.setdefault((workers, processes), []).append(run)
    found = []
    for workers in workers_list:
        by_processes = {str(p): _summary(runs[(workers, p)]) for p in counts}
        one = by_processes[str(counts[0])]
        for summary in by_processes.values():
            summary["leads_per_s_over_first"] = _ratio(summary, one, "leads_per_s")
            summary["cpu_per_lead_over_first"] = _ratio(summary, one, "cpu_ms_per_lead")
            summary["own_cpu_per_lead_over_first"] = _ratio(summary, one, "own_cpu_ms_per_lead")
        found.append({"workers": workers, "by_processes": by_processes})
    return found


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "created": runs[0]["created"],
        "leads_per_s": summarise([r["leads_per_s"] for r in runs]),
        "cpu_ms_per_lead": summarise([r["cpu_ms_per_lead"] for r in runs], higher_is_better=False),
        "own_cpu_ms_per_lead": summarise(
            [r["own_cpu_ms_per_lead"] or 0.0 for r in runs], higher_is_better=False
        ),
        "runs": runs,
    }


def _ratio(summary: dict[str, Any], first: dict[str, Any], key: str) -> dict[str, float]:
    """``key`` of ``summary`` over the first process count's: best over best, median over median."""
    return {
        which: round(summary[key][which] / first[key][which], 4)
        for which in ("best", "median")
        if first[key][which]
    }
