"""Sending without latency (CPU per lead) and ``--workers auto`` against fixed counts.

``send_at_0ms`` shows what the sending process itself costs: with no latency
to wait out, its CPU is the limit. ``auto_workers`` runs ``--workers auto``
side by side with fixed worker counts into a rate-limited sandbox and into a
slow one. The CLI may not have ``--workers auto`` yet: a run it refuses with
exit status 2 is recorded as not available instead of failing the benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.harness import Inspector, SandboxProcess, Window, load_average, send_window
from bench.measures import Bench, send_once, summarise, timed_send

AUTO = "auto"
REFUSED = 2  # the exit status of a usage error (an option value the CLI does not know)


def send_at_0ms(bench: Bench) -> dict[str, Any]:
    """Leads per second and CPU per lead of ``rg-import run`` into a sandbox without latency.

    The CPU is the run's own (user + system, ``os.wait4``), divided by the leads
    it created, with nothing subtracted: start-up, reading the file through and
    its plan are in it. The CPU of an ``rg-import plan`` of the same file is reported next to
    it, so the share of sending can be seen. Every run has the default ``--send-processes
    auto``, as a user's would: one process at 16 workers (so the CPU per lead judged there is
    that of one sending process), 2 at 32 and 64 where 2 CPUs are usable (there the CPU is
    the whole tree's); each run records ``send_processes``. Measurement ``send_processes``
    compares N side by side.
    """
    sizes = bench.sizes
    rows = sizes.zero_rows
    path = bench.people(rows)
    plans = bench.plan_runs(rows, sizes.plan_reps)
    plan_s = plans[0]["in_process_s"]
    results = []
    with SandboxProcess(bench.command, env=bench.env) as sandbox:
        for workers in sizes.zero_workers:
            reps = []
            for rep in range(sizes.send_reps):
                bench.log(f"  rg-import run --workers {workers}, {rows} rows, 0 ms "
                          f"({rep + 1}/{sizes.send_reps}) ...")  # fmt: skip
                reps.append(timed_send(bench, sandbox, path, workers, plan_s))  # the default
            results.append({
                "workers": workers, "created": reps[0]["created"], "requests": reps[0]["requests"],
                "send_processes": reps[0]["send_processes"],
                "leads_per_s": summarise([r["leads_per_s"] for r in reps]),
                "cpu_s": summarise([r["cpu_s"] for r in reps], higher_is_better=False),
                "cpu_ms_per_lead": summarise([r["cpu_ms_per_lead"] for r in reps], higher_is_better=False),
                **_window_cpu(reps),
                "runs": reps,
            })  # fmt: skip
    created = results[0]["created"]
    plan_cpu = summarise([p["cpu_s"] for p in plans], higher_is_better=False)
    return {
        "rows": rows,
        "latency_ms": 0.0,
        "repetitions": sizes.send_reps,
        "load_average": load_average(),
        "plan_cpu_s": plan_cpu,
        "plan_cpu_ms_per_lead": round(1000 * plan_cpu["median"] / created, 4) if created else None,
        "by_workers": results,
    }


def _window_cpu(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """The CPU per lead of the send windows (``measures.timed_send``), where /proc gave it."""
    found: dict[str, Any] = {}
    for key in ("send_cpu_ms_per_lead", "send_own_cpu_ms_per_lead"):
        values = [r[key] for r in reps if r.get(key) is not None]
        found[key] = summarise(values, higher_is_better=False) if values else None
    return found


class CreatedCount:
    """Reads the leads the sandbox created (201s to create_lead); notes when it first saw a 429."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.first_429_at: float | None = None

    def __call__(self, inspector: Inspector) -> int:
        answers = inspector.call("GET", "stats")["requests"].get("create_lead", {})
        if self.first_429_at is None and answers.get("429"):
            self.first_429_at = self.clock()
        return int(answers.get("201", 0))


def auto_workers(bench: Bench) -> dict[str, Any]:
    """``--workers auto`` against fixed worker counts, rate-limited and at high latency,
    each from one sending process (``--send-processes 1``)."""
    sizes = bench.sizes
    configs = [AUTO, *(str(n) for n in sizes.auto_fixed)]
    limit = sizes.auto_rate_limit
    limited = _compare(bench, configs, rows=sizes.auto_limited_rows, latency_ms=0.0,
                       extra=("--rate-limit", f"{limit:g}"), limited=True)  # fmt: skip
    if not limited[AUTO]["available"]:
        configs = configs[1:]  # refused once: do not ask again
    slow = _compare(bench, configs, rows=sizes.auto_latency_rows, latency_ms=sizes.latency_ms)
    if AUTO not in slow:
        slow = {AUTO: limited[AUTO], **slow}
    fixed_best = max(slow[c]["leads_per_s"]["best"] for c in configs if c != AUTO)
    auto_best = slow["auto"]["leads_per_s"]["best"] if slow["auto"]["available"] else None
    return {
        "available": limited["auto"]["available"],
        "repetitions": sizes.send_reps,
        "load_average": load_average(),
        "rate_limited": {"rate_limit": limit, "latency_ms": 0.0, "rows": sizes.auto_limited_rows,
                         "by_workers": limited},
        "high_latency": {"latency_ms": sizes.latency_ms, "rows": sizes.auto_latency_rows,
                         "by_workers": slow,
                         "auto_over_best_fixed": round(auto_best / fixed_best, 4) if auto_best else None},
    }  # fmt: skip


def _compare(
    bench: Bench, configs: Sequence[str], *, rows: int, latency_ms: float,
    extra: Sequence[str] = (), limited: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Each ``--workers`` value of ``configs`` in turn, ``send_reps`` rounds, into one sandbox.

    With ``limited`` (a rate-limited sandbox), ``steady_leads_per_s`` is also
    measured: the rate after the first 429 (``_steady_window``).
    """
    path = bench.people(rows)
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in configs}
    refused: str | None = None
    with SandboxProcess(
        bench.command, latency_ms=latency_ms, extra_args=extra, env=bench.env
    ) as sandbox:
        for rep in range(bench.sizes.send_reps):
            for config in configs:
                if config == AUTO and refused is not None:
                    continue
                bench.log(f"  rg-import run --workers {config}, {rows} rows, {latency_ms:g} ms "
                          f"{' '.join((*extra, ''))}({rep + 1}/{bench.sizes.send_reps}) ...")  # fmt: skip
                run = _limited_run(bench, sandbox, path, config, limited)
                if run is None:
                    refused = "the CLI refused --workers auto (exit status 2)"
                    bench.log(f"    {refused}: recorded as not available")
                    continue
                runs[config].append(run)
    # in the order run; a worker setting the CLI refused is listed as not available
    found = {c: _summary(runs[c], limited) if runs[c] else {"available": False, "why": refused}
             for c in configs}  # fmt: skip
    return found


def _limited_run(
    bench: Bench, sandbox: SandboxProcess, path: Path, config: str, limited: bool
) -> dict[str, Any] | None:
    """One run with ``--workers config``; None when the CLI refuses ``--workers auto`` as a value."""
    count = CreatedCount()
    # one sending process for every setting (the default auto would send fixed 64 from 2,
    # auto from 1): this compares how many requests are in flight, nothing else
    options = ("--workers", config, "--send-processes", "1")
    finished, samples = send_once(bench, sandbox, path, options, count=count,
                                  ok_codes=(0, 3, REFUSED) if config == AUTO else (0, 3))  # fmt: skip
    if finished.returncode == REFUSED:
        if "--workers" not in finished.stderr:  # exit 2 for another reason: a real failure
            raise RuntimeError(
                f"rg-import run --workers {config} exited with 2:\n{finished.stderr[-2000:]}"
            )
        return None
    report = finished.json()
    created, requests = report["leads"]["created"], report["requests"]["total"]
    refused = int(report["requests"]["by_status"].get("429", 0))
    window = send_window(samples)
    if window is None:
        raise RuntimeError(f"no sending was seen (created {created}, requests {requests})")
    steady = _steady_window(samples, count.first_429_at) if limited else None
    seen = sandbox.inspector.call("GET", "stats")["requests"].get("create_lead", {})
    return {
        "created": created,
        "requests": requests,
        "status_429": refused,
        "share_429": round(refused / requests, 4) if requests else None,
        "sandbox_429": int(seen.get("429", 0)),
        "window_s": round(window.seconds, 3),
        "leads_per_s": round(window.rate, 3),
        "steady_leads_per_s": round(steady.rate, 3) if steady else None,
        "first_429_after_s": round(count.first_429_at - window.start_s, 3)
        if count.first_429_at is not None
        else None,
        "wall_s": round(finished.wall_s, 3),
        "cpu_s": round(finished.cpu_s, 3),
    }


def _steady_window(samples: list[tuple[float, int]], first_429_at: float | None) -> Window | None:
    """The send window from the first 429 on, when the sandbox's token bucket was empty.

    Until then the bucket's stored tokens (up to the limit's worth) let a burst
    through faster than the limit; after it, at most the limit gets through. A
    run that never saw a 429 never drained the bucket: its whole window counts.
    """
    if first_429_at is None:
        return send_window(samples)
    return send_window([s for s in samples if s[0] >= first_429_at])


def _summary(runs: list[dict[str, Any]], limited: bool) -> dict[str, Any]:
    """The repeated readings of one worker setting, summarised."""
    found: dict[str, Any] = {
        "available": True,
        "created": runs[0]["created"],
        "leads_per_s": summarise([r["leads_per_s"] for r in runs]),
        "share_429": summarise([r["share_429"] or 0.0 for r in runs], higher_is_better=False),
        "runs": runs,
    }
    steady = [r["steady_leads_per_s"] for r in runs if r["steady_leads_per_s"] is not None]
    if limited and steady:
        found["steady_leads_per_s"] = summarise(steady)
    return found
