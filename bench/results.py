"""Targets, ratios and the printed table of a benchmark run (pure functions of its results)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PLAN_MIN_ROWS_PER_S = 50_000
MEMORY_MAX_RATIO = 1.5
SEND_TARGET_WORKERS = 16  # the worker count compared with the naive loop
# at 50 ms latency, the fraction of the ideal (workers / latency) each worker count must reach
SEND_MIN_FRACTIONS = {16: 0.90, 32: 0.90, 64: 0.80}
CPU_WORKERS = 16  # CPU per lead is judged on the 0 ms runs with this many workers
CPU_MAX_MS_PER_LEAD = 0.6
ZERO_LATENCY_MIN_LEADS_PER_S = 1_500
AUTO_MAX_SHARE_429 = 0.02  # --workers auto against --rate-limit R: under 2% of requests refused
AUTO_MIN_FRACTION_OF_LIMIT = 0.85  # and at least 85% of R leads/s
RERUN_MIN_ROWS_PER_S = 50_000
RERUN_MAX_REQUESTS = 0
THROTTLE_MIN_RATIO = 2 / 3  # 5% random 429s keep at least two thirds of the throughput
# leads/s of a dask-local run over one process with the same total --workers (whole command)
SCALE_OUT_MIN_RATIO = 0.9
SCALE_OUT = "scale-out, dask-local over one process"


def _target(
    name: str, metric: str, op: str, target: float, measured: float | None
) -> dict[str, Any]:
    checks = {">=": lambda m: m >= target, "<=": lambda m: m <= target}
    passed = None if measured is None else bool(checks[op](measured))
    return {
        "name": name,
        "metric": metric,
        "op": op,
        "target": target,
        "measured": measured,
        "pass": passed,
    }


def _send_at(measurements: Mapping[str, Any], workers: int) -> dict[str, Any] | None:
    send = measurements.get("send_throughput")
    if not send:
        return None
    return next((r for r in send["by_workers"] if r["workers"] == workers), None)


def judge(measurements: Mapping[str, Any]) -> dict[str, Any]:
    """The targets (with pass/fail) and ratios of ``measurements``.

    Returns ``{"targets": [...], "ratios": {...}, "all_targets_pass": bool | None}``;
    a target whose measurement is missing is listed with ``measured`` and ``pass``
    None, and ``all_targets_pass`` is None unless every target was measured.
    """
    targets = []
    if plan := measurements.get("plan_throughput"):
        targets.append(_target("plan throughput", "rows_per_s.best", ">=", PLAN_MIN_ROWS_PER_S,
                               plan["rows_per_s"]["best"]))  # fmt: skip
    if memory := measurements.get("plan_memory"):
        targets.append(_target("plan memory", "ratio of median peak RSS, large/small", "<=",
                               MEMORY_MAX_RATIO, memory["ratio"]))  # fmt: skip
    if memory and "tree" in memory:
        tree = memory["tree"]
        targets.append(_target("plan memory, process tree", "ratio of median peak PSS of the tree, large/small",
                               "<=", MEMORY_MAX_RATIO, tree["ratio"] if tree else None))  # fmt: skip
    if "send_throughput" in measurements:
        for workers, fraction in SEND_MIN_FRACTIONS.items():
            at_target = _send_at(measurements, workers)
            targets.append(_target(
                f"send throughput, {workers} workers", "fraction_of_ideal", ">=",
                fraction, at_target["fraction_of_ideal"] if at_target else None,
            ))  # fmt: skip
    if zero := measurements.get("send_at_0ms"):
        targets += _zero_latency_targets(zero)
    if rerun := measurements.get("unchanged_rerun"):
        targets.append(_target("unchanged re-run throughput", "rows_per_s.best", ">=",
                               RERUN_MIN_ROWS_PER_S, rerun["rows_per_s"]["best"]))  # fmt: skip
        targets.append(_target("unchanged re-run requests", "max requests_total", "<=",
                               RERUN_MAX_REQUESTS, max(rerun["requests_total"])))  # fmt: skip
    if throttle := measurements.get("throttle_recovery"):
        targets.append(_target("throughput under 5% 429s", "ratio faulty/clean (best)", ">=",
                               round(THROTTLE_MIN_RATIO, 4), throttle["ratio"]))  # fmt: skip
    if auto := measurements.get("auto_workers"):
        targets += _auto_targets(auto)
    if scale := measurements.get("scale_out"):
        prefix, how = _SCALE_OUT_RUNS[scale.get("judged", "dask_local")]
        targets.append(_target(SCALE_OUT, f"{prefix}ratio_whole ({how}/single, best)", ">=",
                               SCALE_OUT_MIN_RATIO, scale.get(f"{prefix}ratio_whole")))  # fmt: skip
    ratios: dict[str, float | None] = {}
    fast, naive = _send_at(measurements, SEND_TARGET_WORKERS), measurements.get("naive_baseline")
    if naive:
        best_naive = naive["leads_per_s"]["best"]
        ratios[f"rg_import_{SEND_TARGET_WORKERS}_workers_over_naive"] = (
            round(fast["leads_per_s"]["best"] / best_naive, 2) if fast and best_naive else None
        )
    verdicts = [t["pass"] for t in targets]
    everything = bool(targets) and None not in verdicts
    return {
        "targets": targets,
        "ratios": ratios,
        "all_targets_pass": all(verdicts) if everything else None,
    }


def _zero_latency_targets(zero: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CPU per lead at ``CPU_WORKERS`` workers, and the best rate of any worker count, at 0 ms.

    The CPU a lead costs to send is judged two ways, neither counting what a run
    spends once whatever its size (start-up, the imports of planning, about a
    second of CPU on this machine, about 0.3 ms per lead of a 3,000-row run):
    the process tree's CPU while the leads were being sent, over those leads;
    and the whole run's CPU less that of an ``rg-import plan`` of the same file,
    over the leads sent (what sending adds, its start and end included). The
    whole run's CPU per lead is reported beside them, not judged.
    """
    at_cpu = next((r for r in zero["by_workers"] if r["workers"] == CPU_WORKERS), None)
    rates = [r["leads_per_s"]["best"] for r in zero["by_workers"]]
    sending = at_cpu.get("send_cpu_ms_per_lead") if at_cpu else None
    return [
        _target(f"CPU per lead while sending, {CPU_WORKERS} workers at 0 ms",
                "send_cpu_ms_per_lead.best", "<=", CPU_MAX_MS_PER_LEAD,
                sending["best"] if sending else None),
        _target(f"CPU per lead beyond the plan, {CPU_WORKERS} workers at 0 ms",
                "cpu_ms_per_lead.best - plan_cpu_s.best / created", "<=", CPU_MAX_MS_PER_LEAD,
                beyond_plan_ms_per_lead(zero, at_cpu) if at_cpu else None),
        _target("send throughput at 0 ms", "leads_per_s.best (best worker count)", ">=",
                ZERO_LATENCY_MIN_LEADS_PER_S, max(rates) if rates else None),
    ]  # fmt: skip


def beyond_plan_ms_per_lead(zero: Mapping[str, Any], at: Mapping[str, Any]) -> float | None:
    """The best run's CPU per lead less the best plan's (same file), per lead sent; None
    for results that have no plan CPU."""
    plan = zero.get("plan_cpu_s")
    if not plan or not at.get("created"):
        return None
    return round(at["cpu_ms_per_lead"]["best"] - 1000 * plan["best"] / at["created"], 4)


def _auto_targets(auto: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``--workers auto`` against the rate-limited sandbox: few 429s, most of the limit.

    Both are None (not measured) when the CLI has no ``--workers auto``.
    """
    limited = auto["rate_limited"]
    found = limited["by_workers"].get("auto", {})
    available = found.get("available", False)
    steady = found.get("steady_leads_per_s") if available else None
    limit = limited["rate_limit"]
    return [
        _target(f"auto workers, 429s at --rate-limit {limit:g}", "share_429.median", "<=",
                AUTO_MAX_SHARE_429, found["share_429"]["median"] if available else None),
        _target(f"auto workers, throughput at --rate-limit {limit:g}", "steady_leads_per_s.best", ">=",
                round(AUTO_MIN_FRACTION_OF_LIMIT * limit, 2), steady["best"] if steady else None),
    ]  # fmt: skip


def merge_previous(path: Path, fresh: Mapping[str, Any], mode: str) -> dict[str, Any]:
    """``fresh`` measurements over those of an earlier results file of the same mode.

    Lets ``--only NAME`` refresh one measurement without dropping the others;
    each measurement carries its own ``load_average`` and ``measured_at``. An
    unreadable or other-mode file is ignored.
    """
    merged: dict[str, Any] = {}
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous.get("mode") == mode:
            merged.update(previous.get("measurements", {}))
    except (OSError, ValueError, AttributeError):
        pass
    merged.update(fresh)
    return merged


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    """Write ``results`` as indented JSON, atomically (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _verdict(targets: list[dict[str, Any]], name: str) -> str:
    found = next((t for t in targets if t["name"] == name), None)
    if found is None or found["pass"] is None:
        return ""
    return "PASS" if found["pass"] else "FAIL"


def _per_s(rate: float | None) -> str:
    return "rate n/a" if rate is None else f"{rate:,.0f} req/s"


def render_table(results: Mapping[str, Any]) -> str:
    """The human-readable table of a results document (as written to results.json)."""
    m, judged, machine = results["measurements"], results["judged"], results["machine"]
    load = " ".join(f"{x:g}" for x in machine.get("load_average") or [])
    lines = [
        f"rg-import benchmark ({results['mode']}): {machine['cpu_count']} CPUs, "
        f"Python {machine['python']}, load {load or 'n/a'}, commit {machine.get('git_commit') or 'n/a'}",
        "",
        f"{'measurement':<36}{'result':<40}{'target':<24}verdict",
    ]
    table = _Table(lines, judged["targets"])
    for name, render in _RENDERERS.items():
        if name in m:
            render(table, m[name], judged)
    if judged["all_targets_pass"] is not None:
        lines += ["", "all targets pass" if judged["all_targets_pass"] else "some targets FAIL"]
    return "\n".join(lines)


class _Table:
    """Rows of the printed table, and the verdicts they show."""

    def __init__(self, lines: list[str], targets: list[dict[str, Any]]) -> None:
        self.lines, self.targets = lines, targets

    def row(
        self, what: str, result: str, target: str = "", verdict: str = "", note: str = ""
    ) -> None:
        self.lines.append(f"{what:<36}{result:<40}{target:<24}{verdict}".rstrip())
        if note:
            self.lines.append(f"{'':<4}{note}")

    def verdict(self, *names: str) -> str:
        """FAIL if any of the named targets failed, PASS if all passed, else ""."""
        found = {_verdict(self.targets, name) for name in names}
        return "FAIL" if "FAIL" in found else "PASS" if found == {"PASS"} else ""


def _startup(t: _Table, s: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    t.row("start-up", f"--version {s['version_wall_s']['best']:.2f} s, plan of {s['tiny_plan_rows']} "
          f"rows {s['tiny_plan_wall_s']['best']:.2f} s",
          note=f"start-up and exit of the plan {s['tiny_plan_startup_s']['best']:.2f} s "
               f"(best of {s['tiny_plan_wall_s']['n']})")  # fmt: skip


def _plan(t: _Table, plan: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    rps = plan["rows_per_s"]
    t.row(f"plan throughput, {plan['rows']:,} rows", f"{rps['best']:,.0f} rows/s (best of {rps['n']})",
          f">= {PLAN_MIN_ROWS_PER_S:,} rows/s", t.verdict("plan throughput"),
          f"median {rps['median']:,.0f} rows/s; in-process {plan['in_process_s']['median']:.2f} s, "
          f"start-up and exit {plan['startup_and_exit_s']['median']:.2f} s (medians)")  # fmt: skip


def _memory(t: _Table, mem: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    small, large = mem["small_peak_rss_mb"]["median"], mem["large_peak_rss_mb"]["median"]
    t.row(f"plan memory, {mem['small_rows']:,} / {mem['large_rows']:,}",
          f"{small:,.0f} / {large:,.0f} MB, ratio {mem['ratio']:.2f}", f"ratio <= {MEMORY_MAX_RATIO}",
          t.verdict("plan memory"), f"parent process only; large file planned at "
          f"{mem['large_rows_per_s']['best']:,.0f} rows/s")  # fmt: skip
    if tree := mem.get("tree"):
        small, large = tree["small_peak_pss_mb"]["median"], tree["large_peak_pss_mb"]["median"]
        t.row("  whole process tree (PSS)", f"{small:,.0f} / {large:,.0f} MB, ratio {tree['ratio']:.2f}",
              f"ratio <= {MEMORY_MAX_RATIO}", t.verdict("plan memory, process tree"),
              f"up to {tree['large_most_at_once']} processes at once; sum of RSS {tree['small_peak_rss_mb']['median']:,.0f}"
              f" / {tree['large_peak_rss_mb']['median']:,.0f} MB")  # fmt: skip


def _excel(t: _Table, x: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    t.row(f"plan of an .xlsx, {x['rows']:,} rows", f"{x['rows_per_s']['best']:,.0f} rows/s (best of {x['rows_per_s']['n']})",
          note=f"{x['xlsx_over_csv']:.0%} of the CSV's {x['csv_rows_per_s']['best']:,.0f} rows/s; "
               f"python-calamine alone reads {x['calamine_rows_per_s']['best']:,.0f} rows/s")  # fmt: skip


def _send(t: _Table, send: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    for r in send["by_workers"]:
        fraction = SEND_MIN_FRACTIONS.get(r["workers"])
        workers = f"{r['workers']} worker" + ("s" if r["workers"] != 1 else "")
        cpu = r.get("cpu_ms_per_lead")
        t.row(f"send, {workers}, {r['rows']:,} rows",
              f"{r['leads_per_s']['best']:,.1f} leads/s = {r['fraction_of_ideal']:.0%} of {r['ideal_leads_per_s']:g}",
              f">= {fraction:.0%} of ideal" if fraction else "",
              t.verdict(f"send throughput, {r['workers']} workers") if fraction else "",
              f"best of {r['leads_per_s']['n']}, median {r['leads_per_s']['median']:,.1f}; "
              f"cross-check (duration - plan) {r['cross_check_leads_per_s']['best']:,.1f}"
              + (f"; CPU {cpu['best']:.2f} ms/lead" if cpu else "")
              + (f"; {r['send_processes']} sending processes" if r.get("send_processes", 1) != 1 else ""))  # fmt: skip


def _zero(t: _Table, zero: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    for r in zero["by_workers"]:
        is_cpu = r["workers"] == CPU_WORKERS
        sending = r.get("send_cpu_ms_per_lead")
        t.row(f"send at 0 ms, {r['workers']} workers, {zero['rows']:,}",
              f"{r['leads_per_s']['best']:,.0f} leads/s, CPU {r['cpu_ms_per_lead']['best']:.2f} ms/lead"
              + (f" ({sending['best']:.2f} while sending)" if sending else ""),
              f">= {ZERO_LATENCY_MIN_LEADS_PER_S:,}/s" + (f", <= {CPU_MAX_MS_PER_LEAD} ms" if is_cpu else ""),
              t.verdict("send throughput at 0 ms", *([f"CPU per lead while sending, {CPU_WORKERS} workers at 0 ms",
                        f"CPU per lead beyond the plan, {CPU_WORKERS} workers at 0 ms"] if is_cpu else [])),
              f"best of {r['leads_per_s']['n']}, median {r['leads_per_s']['median']:,.0f} leads/s, "
              f"{r['cpu_ms_per_lead']['median']:.2f} ms/lead"
              + (f"; {r['send_processes']} sending processes" if r.get("send_processes", 1) != 1 else ""))  # fmt: skip
    if zero.get("plan_cpu_ms_per_lead") is not None:
        at_cpu = next((r for r in zero["by_workers"] if r["workers"] == CPU_WORKERS), None)
        beyond = beyond_plan_ms_per_lead(zero, at_cpu) if at_cpu else None
        t.lines.append(f"{'':<4}an rg-import plan of the same file: {zero['plan_cpu_s']['median']:.2f} s CPU "
                       f"= {zero['plan_cpu_ms_per_lead']:.2f} ms/lead"
                       + (f"; a run at {CPU_WORKERS} workers beyond it: {beyond:.2f} ms/lead" if beyond is not None else ""))  # fmt: skip


def _naive(t: _Table, naive: Mapping[str, Any], judged: Mapping[str, Any]) -> None:
    ratio = judged["ratios"].get(f"rg_import_{SEND_TARGET_WORKERS}_workers_over_naive")
    t.row(f"naive loop, {naive['leads']:,} leads", f"{naive['leads_per_s']['best']:,.1f} leads/s (best of {naive['leads_per_s']['n']})",
          note=f"rg-import with {SEND_TARGET_WORKERS} workers is {ratio:g}x the naive loop" if ratio else "")  # fmt: skip


def _rerun(t: _Table, rerun: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    first = rerun["first_run"]
    t.row(f"unchanged re-run, {rerun['rows']:,} rows",
          f"{rerun['rows_per_s']['best']:,.0f} rows/s, {max(rerun['requests_total'])} requests",
          f">= {RERUN_MIN_ROWS_PER_S:,} rows/s, 0 req",
          t.verdict("unchanged re-run throughput", "unchanged re-run requests"),
          f"best of {rerun['rows_per_s']['n']}; first run {first['requests_total']:,} requests in "
          f"{first['wall_s']:.0f} s ({_per_s(first['requests_per_s'])} without latency)")  # fmt: skip
    if first.get("cpu_ms_per_lead") is not None:
        t.lines.append(f"{'':<4}first run at 0 ms: {first['leads_per_s']:,.0f} leads/s over the whole command, "
                       f"CPU {first['cpu_ms_per_lead']:.2f} ms/lead")  # fmt: skip


def _throttle(t: _Table, throttle: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    clean, faulty = throttle["clean_leads_per_s"], throttle["faulty_leads_per_s"]
    t.row(f"send with {throttle['fault_rate']:.0%} 429s, {throttle['workers']} workers",
          f"{faulty['best']:,.1f} / {clean['best']:,.1f} leads/s = {throttle['ratio']:.0%}",
          f">= {THROTTLE_MIN_RATIO:.0%} of clean", t.verdict("throughput under 5% 429s"),
          f"{throttle['rows']:,} rows, {throttle['latency_ms']:g} ms latency, best of "
          f"{clean['n']} each; median ratio {throttle['ratio_median']:.0%}")  # fmt: skip


def _auto(t: _Table, auto: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    limited, slow = auto["rate_limited"], auto["high_latency"]
    limit = limited["rate_limit"]
    names = (
        f"auto workers, 429s at --rate-limit {limit:g}",
        f"auto workers, throughput at --rate-limit {limit:g}",
    )
    for config, found in limited["by_workers"].items():
        what = f"--workers {config}, --rate-limit {limit:g}"
        if not found["available"]:
            t.row(what, "not available", "", "", found.get("why") or "")
            continue
        steady = found.get("steady_leads_per_s")
        t.row(what, f"{steady['best'] if steady else found['leads_per_s']['best']:,.1f} leads/s, "
              f"{found['share_429']['median']:.1%} 429s",
              f">= {AUTO_MIN_FRACTION_OF_LIMIT * limit:g}/s, < {AUTO_MAX_SHARE_429:.0%}" if config == "auto" else "",
              t.verdict(*names) if config == "auto" else "")  # fmt: skip
    for config, found in slow["by_workers"].items():
        if found["available"]:
            t.row(
                f"--workers {config}, {slow['latency_ms']:g} ms",
                f"{found['leads_per_s']['best']:,.1f} leads/s",
            )
    if slow.get("auto_over_best_fixed") is not None:
        t.lines.append(f"{'':<4}auto reaches {slow['auto_over_best_fixed']:.0%} of the best fixed count at "
                       f"{slow['latency_ms']:g} ms")  # fmt: skip


# the Dask runs of scale_out: their ratios' prefix, and how the table names them
_SCALE_OUT_RUNS = {
    "dask_local": ("", "dask-local"),
    "dask_cluster": ("cluster_", "running cluster"),
}


def _scale(t: _Table, scale: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    what = f"scale-out, {scale['processes']} x {scale['workers_per_process']} workers, {scale['rows']:,}"
    target = f">= {SCALE_OUT_MIN_RATIO:.0%} of single"
    if not scale["available"]:
        t.row(what, "not available", target, "", scale.get("why") or "")
        return
    single = scale["single"]
    for label, (prefix, how) in _SCALE_OUT_RUNS.items():
        if label not in scale:  # results from before the running cluster was measured
            continue
        spread = scale[label]
        judged = scale.get("judged", "dask_local") == label
        t.row(f"{what}, {how}" if judged else f"  {how} (not judged)",
              f"{spread['whole_leads_per_s']['best']:,.1f} / {single['whole_leads_per_s']['best']:,.1f} "
              f"leads/s = {scale[f'{prefix}ratio_whole']:.0%}",
              target if judged else "", t.verdict(SCALE_OUT) if judged else "",
              f"whole command, best of {single['whole_leads_per_s']['n']}; median ratio "
              f"{scale[f'{prefix}ratio_whole_median']:.0%}; send window "
              f"{spread['window_leads_per_s']['best']:,.1f} / {single['window_leads_per_s']['best']:,.1f}"
              f" = {scale[f'{prefix}ratio_window']:.0%}")  # fmt: skip


def _processes(t: _Table, found: Mapping[str, Any], _judged: Mapping[str, Any]) -> None:
    for where in ("at_0ms", "at_latency"):
        part = found[where]
        for row in part["by_workers"]:
            each = row["by_processes"]
            rates = " / ".join(f"{s['leads_per_s']['best']:,.0f}" for s in each.values())
            t.row(f"send processes {'/'.join(each)}, {part['latency_ms']:g} ms, {row['workers']} w",
                  f"{rates} leads/s",
                  note="CPU ms/lead " + " / ".join(f"{s['cpu_ms_per_lead']['best']:.2f}" for s in each.values())
                  + " (run's own process " + " / ".join(f"{s['own_cpu_ms_per_lead']['best']:.2f}" for s in each.values()) + ")"
                  + "; rate over 1 process (best) " + " / ".join(
                      f"{s['leads_per_s_over_first'].get('best', 0):.2f}" for s in each.values())
                  + ("; of ideal " + " / ".join(f"{s['fraction_of_ideal']:.0%}" for s in each.values())
                     if "ideal_leads_per_s" in row else ""))  # fmt: skip


_RENDERERS = {
    "startup": _startup, "plan_throughput": _plan, "plan_memory": _memory, "excel_read": _excel,
    "send_throughput": _send, "send_at_0ms": _zero, "send_processes": _processes, "naive_baseline": _naive, "unchanged_rerun": _rerun,
    "throttle_recovery": _throttle, "auto_workers": _auto, "scale_out": _scale,
}  # fmt: skip
