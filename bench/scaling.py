"""Sending without latency (CPU per lead) and ``--workers auto`` against fixed counts.

``send_at_0ms`` shows what the sending process itself costs: with no latency
to wait out, its CPU is the limit. ``auto_workers`` runs ``--workers auto``
side by side with fixed worker counts into a rate-limited sandbox and into a
slow one. The CLI may not have ``--workers auto`` yet: a run it refuses with
exit status 2 is recorded as not available instead of failing the benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import Inspector, SandboxProcess, load_average, send_window
from bench.measures import Bench, send_once, summarise, timed_send

AUTO = "auto"
REFUSED = 2  # the exit status of a usage error (an option value the CLI does not know)


def send_at_0ms(bench: Bench) -> dict[str, Any]:
    """Leads per second and CPU per lead of ``rg-import run`` into a sandbox without latency.

    The CPU is the run's own (user + system, ``os.wait4``), divided by the leads
    it created, with nothing subtracted: start-up and both plans of the file are
    in it. The CPU of an ``rg-import plan`` of the same file is reported next to
    it, so the share of sending can be seen.
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
                reps.append(timed_send(bench, sandbox, path, workers, plan_s))
            results.append({
                "workers": workers, "created": reps[0]["created"], "requests": reps[0]["requests"],
                "leads_per_s": summarise([r["leads_per_s"] for r in reps]),
                "cpu_s": summarise([r["cpu_s"] for r in reps], higher_is_better=False),
                "cpu_ms_per_lead": summarise([r["cpu_ms_per_lead"] for r in reps], higher_is_better=False),
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


def created_count(inspector: Inspector) -> int:
    """Leads the sandbox created (201 answers to create_lead) since its last reset."""
    stats = inspector.call("GET", "stats")
    return int(stats["requests"].get("create_lead", {}).get("201", 0))


def auto_workers(bench: Bench) -> dict[str, Any]:
    """``--workers auto`` against fixed worker counts, rate-limited and at high latency."""
    sizes = bench.sizes
    configs = [AUTO, *(str(n) for n in sizes.auto_fixed)]
    limit = sizes.auto_rate_limit
    limited = _compare(bench, configs, rows=sizes.auto_limited_rows, latency_ms=0.0,
                       extra=("--rate-limit", f"{limit:g}"), burst=int(max(1.0, limit)))  # fmt: skip
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
    extra: Sequence[str] = (), burst: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Each ``--workers`` value of ``configs`` in turn, ``send_reps`` rounds, into one sandbox.

    With ``burst`` (a rate-limited sandbox, whose token bucket lets that many
    requests through at once after a pause), ``steady_leads_per_s`` counts only
    the leads after the first ``burst``.
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
                          f"{' '.join(extra)} ({rep + 1}/{bench.sizes.send_reps}) ...")  # fmt: skip
                run = _limited_run(bench, sandbox, path, config, burst)
                if run is None:
                    refused = "the CLI refused --workers auto (exit status 2)"
                    bench.log(f"    {refused}: recorded as not available")
                    continue
                runs[config].append(run)
    # in the order run; a worker setting the CLI refused is listed as not available
    found = {c: _summary(runs[c], burst) if runs[c] else {"available": False, "why": refused}
             for c in configs}  # fmt: skip
    return found


def _limited_run(
    bench: Bench, sandbox: SandboxProcess, path: Path, config: str, burst: int | None
) -> dict[str, Any] | None:
    """One run with ``--workers config``; None when the CLI refuses ``--workers auto``."""
    finished, samples = send_once(bench, sandbox, path, ("--workers", config), count=created_count,
                                  ok_codes=(0, 3, REFUSED) if config == AUTO else (0, 3))  # fmt: skip
    if finished.returncode == REFUSED:
        return None
    report = finished.json()
    created, requests = report["leads"]["created"], report["requests"]["total"]
    refused = int(report["requests"]["by_status"].get("429", 0))
    window = send_window(samples)
    if window is None:
        raise RuntimeError(f"no sending was seen (created {created}, requests {requests})")
    steady = send_window([s for s in samples if s[1] >= burst]) if burst else None
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
        "wall_s": round(finished.wall_s, 3),
        "cpu_s": round(finished.cpu_s, 3),
    }


def _summary(runs: list[dict[str, Any]], burst: int | None) -> dict[str, Any]:
    """The repeated readings of one worker setting, summarised."""
    found: dict[str, Any] = {
        "available": True,
        "created": runs[0]["created"],
        "leads_per_s": summarise([r["leads_per_s"] for r in runs]),
        "share_429": summarise([r["share_429"] or 0.0 for r in runs], higher_is_better=False),
        "runs": runs,
    }
    steady = [r["steady_leads_per_s"] for r in runs if r["steady_leads_per_s"] is not None]
    if burst and steady:
        found["steady_leads_per_s"] = summarise(steady)
    return found
