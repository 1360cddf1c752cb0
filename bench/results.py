"""Targets, ratios and the printed table of a benchmark run (pure functions of its results)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PLAN_MIN_ROWS_PER_S = 50_000
MEMORY_MAX_RATIO = 1.5
SEND_TARGET_WORKERS = 16
SEND_MIN_FRACTION = 0.85
RERUN_MIN_ROWS_PER_S = 50_000
RERUN_MAX_REQUESTS = 0
THROTTLE_MIN_RATIO = 2 / 3  # 5% random 429s keep at least two thirds of the throughput


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
    if "send_throughput" in measurements:
        at_target = _send_at(measurements, SEND_TARGET_WORKERS)
        targets.append(_target(
            f"send throughput, {SEND_TARGET_WORKERS} workers", "fraction_of_ideal", ">=",
            SEND_MIN_FRACTION, at_target["fraction_of_ideal"] if at_target else None,
        ))  # fmt: skip
    if rerun := measurements.get("unchanged_rerun"):
        targets.append(_target("unchanged re-run throughput", "rows_per_s.best", ">=",
                               RERUN_MIN_ROWS_PER_S, rerun["rows_per_s"]["best"]))  # fmt: skip
        targets.append(_target("unchanged re-run requests", "max requests_total", "<=",
                               RERUN_MAX_REQUESTS, max(rerun["requests_total"])))  # fmt: skip
    if throttle := measurements.get("throttle_recovery"):
        targets.append(_target("throughput under 5% 429s", "ratio faulty/clean (best)", ">=",
                               round(THROTTLE_MIN_RATIO, 4), throttle["ratio"]))  # fmt: skip
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
    targets = judged["targets"]
    load = " ".join(f"{x:g}" for x in machine.get("load_average") or [])
    lines = [
        f"rg-import benchmark ({results['mode']}): {machine['cpu_count']} CPUs, "
        f"Python {machine['python']}, load {load or 'n/a'}, commit {machine.get('git_commit') or 'n/a'}",
        "",
        f"{'measurement':<36}{'result':<40}{'target':<24}verdict",
    ]

    def row(what: str, result: str, target: str = "", verdict: str = "", note: str = "") -> None:
        lines.append(f"{what:<36}{result:<40}{target:<24}{verdict}".rstrip())
        if note:
            lines.append(f"{'':<4}{note}")

    if plan := m.get("plan_throughput"):
        rps = plan["rows_per_s"]
        row(f"plan throughput, {plan['rows']:,} rows", f"{rps['best']:,.0f} rows/s (best of {rps['n']})",
            f">= {PLAN_MIN_ROWS_PER_S:,} rows/s", _verdict(targets, "plan throughput"),
            f"median {rps['median']:,.0f} rows/s; in-process {plan['in_process_s']['median']:.2f} s, "
            f"start-up and exit {plan['startup_and_exit_s']['median']:.2f} s (medians)")  # fmt: skip
    if mem := m.get("plan_memory"):
        small, large = mem["small_peak_rss_mb"]["median"], mem["large_peak_rss_mb"]["median"]
        row(f"plan memory, {mem['small_rows']:,} / {mem['large_rows']:,}",
            f"{small:,.0f} / {large:,.0f} MB, ratio {mem['ratio']:.2f}", f"ratio <= {MEMORY_MAX_RATIO}",
            _verdict(targets, "plan memory"),
            f"large file planned at {mem['large_rows_per_s']['best']:,.0f} rows/s")  # fmt: skip
    if send := m.get("send_throughput"):
        for r in send["by_workers"]:
            is_target = r["workers"] == SEND_TARGET_WORKERS
            workers = f"{r['workers']} worker" + ("s" if r["workers"] != 1 else "")
            row(f"send, {workers}, {r['rows']:,} rows",
                f"{r['leads_per_s']['best']:,.1f} leads/s = {r['fraction_of_ideal']:.0%} of {r['ideal_leads_per_s']:g}",
                f">= {SEND_MIN_FRACTION:.0%} of ideal" if is_target else "",
                _verdict(targets, f"send throughput, {SEND_TARGET_WORKERS} workers") if is_target else "",
                f"best of {r['leads_per_s']['n']}, median {r['leads_per_s']['median']:,.1f}; "
                f"cross-check (duration - 2 plans) {r['cross_check_leads_per_s']['best']:,.1f}")  # fmt: skip
    if naive := m.get("naive_baseline"):
        ratio = judged["ratios"].get(f"rg_import_{SEND_TARGET_WORKERS}_workers_over_naive")
        row(f"naive loop, {naive['leads']:,} leads", f"{naive['leads_per_s']['best']:,.1f} leads/s (best of {naive['leads_per_s']['n']})",
            note=f"rg-import with {SEND_TARGET_WORKERS} workers is {ratio:g}x the naive loop" if ratio else "")  # fmt: skip
    if rerun := m.get("unchanged_rerun"):
        verdicts = {
            _verdict(targets, "unchanged re-run throughput"),
            _verdict(targets, "unchanged re-run requests"),
        }
        first = rerun["first_run"]
        row(f"unchanged re-run, {rerun['rows']:,} rows",
            f"{rerun['rows_per_s']['best']:,.0f} rows/s, {max(rerun['requests_total'])} requests",
            f">= {RERUN_MIN_ROWS_PER_S:,} rows/s, 0 req", "FAIL" if "FAIL" in verdicts else max(verdicts),
            f"best of {rerun['rows_per_s']['n']}; first run {first['requests_total']:,} requests in "
            f"{first['wall_s']:.0f} s ({_per_s(first['requests_per_s'])} without latency)")  # fmt: skip
    if throttle := m.get("throttle_recovery"):
        clean, faulty = throttle["clean_leads_per_s"], throttle["faulty_leads_per_s"]
        row(f"send with {throttle['fault_rate']:.0%} 429s, {throttle['workers']} workers",
            f"{faulty['best']:,.1f} / {clean['best']:,.1f} leads/s = {throttle['ratio']:.0%}",
            f">= {THROTTLE_MIN_RATIO:.0%} of clean", _verdict(targets, "throughput under 5% 429s"),
            f"{throttle['rows']:,} rows, {throttle['latency_ms']:g} ms latency, best of "
            f"{clean['n']} each; median ratio {throttle['ratio_median']:.0%}")  # fmt: skip
    if judged["all_targets_pass"] is not None:
        lines += ["", "all targets pass" if judged["all_targets_pass"] else "some targets FAIL"]
    return "\n".join(lines)
