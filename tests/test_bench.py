"""The benchmark script's helpers on tiny inputs; never a timing assertion.

The end-to-end ``--quick`` run of every measurement is marked slow; a subset of
it (two plan measurements, then the naive baseline merged into the same file)
runs by default.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `bench` is not installed; it sits next to `importer`

from bench import proctree  # noqa: E402
from bench import scale_out as scale_out_module  # noqa: E402
from bench.catalog import MEASUREMENTS  # noqa: E402
from bench.harness import (  # noqa: E402
    Poller,
    SandboxProcess,
    Window,
    _with_exit,
    child_env,
    cli_command,
    compile_package,
    run_timed,
    send_window,
)
from bench.inputs import people_file, workbook_file  # noqa: E402
from bench.measures import QUICK, Bench, summarise  # noqa: E402
from bench.naive import send_naively  # noqa: E402
from bench.results import judge, merge_previous, render_table  # noqa: E402
from importer.send.process_count import resolve_send_processes  # noqa: E402
from importer.settings import AUTO_SEND_PROCESSES  # noqa: E402

RUN_SCRIPT = ROOT / "bench" / "run.py"
LEAD = {
    "id": "3f1c2b4e-8d7a-4e47-9c52-1a2b3c4d5e6f",
    "source": "Spreadsheet import",
    "first_name": "Ana",
    "email": "ana@example.com",
}


# ---- counting and summarising ---------------------------------------------------------------


@given(
    start=st.floats(0, 1000),
    rate=st.floats(1, 10_000),
    per_sample=st.integers(1, 50),
    samples=st.integers(2, 200),
    idle_before=st.integers(0, 5),
)
def test_send_window_recovers_a_steady_rate(
    start: float, rate: float, per_sample: int, samples: int, idle_before: int
) -> None:
    # idle samples at 0 (start-up) must not stretch the window
    idle = [(start - i - 1.0, 0) for i in reversed(range(idle_before))]
    sending = [(start + k * per_sample / rate, k * per_sample) for k in range(1, samples + 1)]
    window = send_window(idle + sending)
    assert window is not None
    assert window.requests == (samples - 1) * per_sample
    assert window.rate == pytest.approx(rate, rel=1e-6)


def test_send_window_ignores_samples_after_the_last_count() -> None:
    samples = [(0.0, 0), (1.0, 10), (2.0, 30), (9.0, 30)]
    assert send_window(samples) == Window(1.0, 2.0, 20)


@pytest.mark.parametrize("samples", [[], [(0.0, 0)], [(0.0, 0), (1.0, 5)], [(1.0, 5), (1.0, 7)]])
def test_send_window_is_none_without_two_distinct_counts(samples: list[tuple[float, int]]) -> None:
    assert send_window(samples) is None


def test_summarise_picks_the_best_by_direction() -> None:
    assert summarise([3.0, 1.0, 2.0]) == {
        "values": [3.0, 1.0, 2.0],
        "n": 3,
        "best": 3.0,
        "median": 2.0,
    }
    assert summarise([3.0, 1.0], higher_is_better=False)["best"] == 1.0
    with pytest.raises(ValueError):
        summarise([])


def test_poller_keeps_only_changes() -> None:
    readings = iter([0, 0, 1, 1, 4])
    ticks = iter(range(100))

    def read() -> int:
        try:
            return next(readings)
        except StopIteration:
            raise OSError("the sandbox went away") from None

    seen: list[int] = []
    with Poller(read, interval_s=0.001, clock=lambda: float(next(ticks)),
                on_sample=lambda _t, v: seen.append(v)) as poller:  # fmt: skip
        while poller.error is None:
            pass
    assert poller.samples == [(0.0, 0), (2.0, 1), (4.0, 4)]
    assert seen == [0, 0, 1, 1, 4]
    assert isinstance(poller.error, OSError)


# ---- processes --------------------------------------------------------------------------------


# Measures two children from a fresh interpreter: a child's peak starts at its
# parent's own high-water mark (Popen forks by vfork, which shares the parent's
# memory up to exec), and a test worker's grows with every test it ran before, so
# measured from the worker the small child could look as big as the big one.
PEAKS = """
import json, sys
from bench.harness import run_timed
allocate = "import sys; block = bytearray(int(sys.argv[1]) * 2**20); block[::4096] = b'x' * len(block[::4096])"
done = [run_timed([sys.executable, "-c", allocate, size]) for size in ("200", "1")]
print(json.dumps([[d.peak_rss_mb, d.returncode, d.wall_s] for d in done]))
"""


def test_run_timed_reports_each_childs_own_peak_memory() -> None:
    measured = subprocess.run(
        [sys.executable, "-c", PEAKS], cwd=ROOT, capture_output=True, text=True, check=True
    )
    (big_peak, big_code, big_wall), (small_peak, small_code, _) = json.loads(measured.stdout)
    assert big_peak >= 200
    # RUSAGE_CHILDREN would still say 200+ for the small child, measured after the
    # big one: the reading must be per child. (A child's peak also counts the memory
    # it shared with its parent before exec, so compare with the big child rather
    # than with a fixed number.)
    assert small_peak < big_peak - 50
    assert big_code == small_code == 0
    assert big_wall > 0


# A parent and a forked child each hold their own 100 MB block at the same time,
# and the child burns CPU before it ends; the parent waits for it.
TREE = """
import os, time
def block():
    data = bytearray(100 * 2**20)
    data[::4096] = b"x" * len(data[::4096])
    return data
child = os.fork()
held = block()
if child == 0:
    started = time.process_time()
    while time.process_time() - started < 0.3:
        pass
    time.sleep(0.5)
    os._exit(0)
os.waitpid(child, 0)
"""


@pytest.mark.skipif(not proctree.available(), reason="needs /proc with smaps_rollup (Linux)")
def test_run_timed_samples_the_memory_of_the_whole_tree_and_counts_the_childs_cpu() -> None:
    done = run_timed([sys.executable, "-c", TREE], tree_interval_s=0.02)
    tree = done.tree
    assert tree is not None and tree["samples"] > 1
    assert tree["processes_seen"] == tree["most_at_once"] == 2
    assert tree["peak_pss_mb"] >= 190  # both blocks at once: more than either process alone
    assert tree["sum_of_own_peaks_mb"] >= tree["peak_rss_mb"] >= tree["peak_pss_mb"]
    assert done.cpu_s >= 0.3  # the child's CPU, added by os.wait4 once the parent waited for it
    assert run_timed([sys.executable, "-c", "pass"]).tree is None  # only when asked


def test_descendants_follow_parent_pids(tmp_path: Path) -> None:
    def process(pid: int, parent: int) -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_bytes(f"{pid} (a (b) c) S {parent} 1 1".encode())

    for pid, parent in ((10, 1), (11, 10), (12, 11), (13, 1), (14, 10)):
        process(pid, parent)
    (tmp_path / "self").mkdir()
    assert proctree.descendants(10, tmp_path) == {10, 11, 12, 14}
    assert proctree.descendants(13, tmp_path) == {13}
    assert proctree.memory_kb(10, tmp_path) is None  # no smaps_rollup: gone or not readable


def test_tree_cpu_counts_every_process_and_what_each_reaped_once(tmp_path: Path) -> None:
    ticks = proctree._CLOCK_TICKS

    def process(pid: int, parent: int, utime: int, stime: int, cutime: int, cstime: int) -> None:
        (tmp_path / str(pid)).mkdir()
        # after the name: state, ppid, then fields 5..13 unused here, then utime stime cutime cstime
        fields = ["S", str(parent), *["0"] * 9, str(utime), str(stime), str(cutime), str(cstime)]
        (tmp_path / str(pid) / "stat").write_text(f"{pid} (rg import) " + " ".join(fields))

    process(10, 1, 3 * ticks, ticks, 2 * ticks, 0)  # the run, which reaped a plan child of 2 s
    process(11, 10, ticks, ticks, 0, 0)  # a sending process still alive
    process(20, 1, 50 * ticks, 0, 0, 0)  # not in the tree
    assert proctree.own_cpu_s(10, tmp_path) == 4.0
    assert proctree.tree_cpu_s(10, tmp_path) == 8.0
    assert proctree.tree_cpu_s(99, tmp_path) is None


def test_the_cpu_trace_ends_with_the_exact_cpu_at_exit() -> None:
    exit_usage = SimpleNamespace(ru_utime=1.8, ru_stime=0.2)  # os.wait4's: the whole tree's
    trace = [(0.0, 0.0, 0.0), (1.0, 1.0, 1.5)]
    # the 0.5 s of CPU since the last reading is counted as the run's own
    assert _with_exit(trace, 1.5, exit_usage)[-1] == (1.5, 1.5, 2.0)
    # a window ending after the last reading can now be read off
    assert proctree.cpu_between(list(_with_exit(trace, 1.5, exit_usage)), 0.5, 1.25) is not None
    assert _with_exit([], 1.5, exit_usage) == ()  # nothing sampled (no /proc): nothing made up


def test_cpu_between_interpolates_each_end_of_a_window() -> None:
    trace = [(0.0, 0.0, 0.0), (1.0, 1.0, 2.0), (2.0, 1.5, 4.0)]
    assert proctree.cpu_between(trace, 0.5, 1.5) == (0.75, 2.0)
    assert proctree.cpu_between(trace, 0.0, 2.0) == (1.5, 4.0)
    assert proctree.cpu_between(trace, -1.0, 1.0) is None  # before the first reading
    assert proctree.cpu_between(trace, 1.0, 2.5) is None  # after the last


def test_run_timed_keeps_output_and_refuses_unexpected_exit_codes() -> None:
    done = run_timed(
        [sys.executable, "-c", "print('[1, 2]'); raise SystemExit(3)"], ok_codes=(0, 3)
    )
    assert done.returncode == 3
    assert done.json() == [1, 2]
    with pytest.raises(RuntimeError, match="exited with 5"):
        run_timed([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(5)"])


def test_compile_package_writes_bytecode_the_interpreter_then_uses(tmp_path: Path) -> None:
    for name in ("importer", "importer/validate"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("VALUE = 41 + 1\n", encoding="utf-8")
    assert compile_package(tmp_path)
    compiled = sorted(p.name for p in (tmp_path / "importer" / "__pycache__").iterdir())
    assert compiled == [f"__init__.{sys.implementation.cache_tag}.pyc"]
    broken = tmp_path / "importer" / "validate" / "__init__.py"
    broken.write_text("VALUE = (\n", encoding="utf-8")
    os.utime(
        broken, (broken.stat().st_atime, broken.stat().st_mtime + 5)
    )  # compileall compares seconds
    assert not compile_package(tmp_path)  # a syntax error is reported, not raised


def test_child_env_drops_the_callers_rg_settings() -> None:
    env = child_env(
        {
            "PATH": "/bin",
            "RG_SITE": "real-site",
            "RG_LEDGER": "real.sqlite",
            "RG_PASSWORD": "s3cret",
        }
    )
    assert env == {"PATH": "/bin", "RG_USERNAME": "sandbox", "RG_PASSWORD": "sandbox"}


def test_sandbox_process_serves_counts_and_resets() -> None:
    site = str(uuid.uuid4())
    with SandboxProcess(cli_command(), env=child_env()) as sandbox:
        assert sandbox.url.startswith("http://127.0.0.1:") and sandbox.url.endswith("/rest")
        assert sandbox.inspector.total() == 0
        result = send_naively(
            sandbox.url, site, [LEAD, {**LEAD, "id": str(uuid.uuid4()), "email": "b@example.com"}]
        )
        assert result["sent"] == 2 and result["statuses"] == {"201": 2}
        assert sandbox.inspector.total() == 2
        stored = sandbox.inspector.call("GET", f"sites/{site}/leads")
        assert {lead["email"] for lead in stored} == {"ana@example.com", "b@example.com"}
        sandbox.reset()
        assert sandbox.inspector.total() == 0
    with pytest.raises(RuntimeError, match="not running"):
        _ = sandbox.inspector


def test_naive_send_counts_refusals_and_goes_on(sandbox: Any) -> None:
    site = str(uuid.uuid4())
    bad = {"source": "Spreadsheet import"}  # no contact field: 422
    result = send_naively(sandbox.url, site, [bad, LEAD])
    assert result["statuses"] == {"422": 1, "201": 1}
    assert [lead["first_name"] for lead in sandbox.leads(site)] == ["Ana"]


# ---- data files -------------------------------------------------------------------------------


def test_people_file_is_reused_only_with_the_same_parameters(tmp_path: Path) -> None:
    calls: list[tuple[int, int, float]] = []

    def write(path: Path, rows: int, seed: int, dirty: float) -> None:
        calls.append((rows, seed, dirty))
        path.write_text("header\n" + "row\n" * rows)

    first = people_file(tmp_path, 5, write=write)
    again = people_file(tmp_path, 5, write=write)
    other_seed = people_file(tmp_path, 5, seed=8, write=write)
    assert first == again != other_seed
    assert calls == [(5, 7, 0.03), (5, 8, 0.03)]
    first.with_suffix(".json").write_text("{}")  # a stale sidecar forces a rewrite
    people_file(tmp_path, 5, write=write)
    assert len(calls) == 3
    assert not list(tmp_path.glob("*.partial"))


def test_people_file_writes_a_follow_up_boss_export(tmp_path: Path) -> None:
    path = people_file(tmp_path, 12)
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12
    assert {"ID", "First Name", "Email 1"} <= set(rows[0])
    assert len({r["ID"] for r in rows}) == 12


def test_workbook_file_holds_the_csvs_text_and_is_reused(tmp_path: Path) -> None:
    import openpyxl

    source = people_file(tmp_path, 12)
    book = workbook_file(source)
    with source.open(encoding="utf-8-sig", newline="") as f:
        expected = [[cell or None for cell in row] for row in csv.reader(f)]
    sheet = openpyxl.load_workbook(book, read_only=True).worksheets[0]
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == expected
    written = book.stat().st_mtime_ns
    assert workbook_file(source) == book and book.stat().st_mtime_ns == written
    source.with_suffix(".json").write_text("{}")  # another CSV now: the workbook is written again
    assert workbook_file(source) == book and json.loads(
        book.with_name(book.name + ".json").read_text()
    ) == {"source": source.name, "source_sidecar": {}}


# ---- judging and printing ---------------------------------------------------------------------


def _measurements(
    plan_rps: float, ratio: float, fraction: float, rerun_rps: float, requests: int,
    throttle_ratio: float = 0.6667, *, cpu_ms: float = 0.6, zero_rps: float = 1500.0,
    share_429: float = 0.02, steady: float = 85.0, scale: float = 0.9,
) -> dict[str, Any]:  # fmt: skip
    """A results document's measurements, each at ``fraction`` etc.; 64 workers reach fraction - 0.1."""

    def summary(x: float) -> dict[str, Any]:
        return summarise([x])

    def send_row(w: int) -> dict[str, Any]:
        reached = round(fraction - 0.1 if w == 64 else fraction, 4)
        return {"workers": w, "rows": 10 * w, "leads_per_s": summary(reached * 20 * w), "ideal_leads_per_s": 20.0 * w,
                "fraction_of_ideal": reached, "cross_check_leads_per_s": summary(1.0),
                "cpu_ms_per_lead": summary(2.0), "send_processes": 2 if w >= 32 else 1}  # fmt: skip

    def auto_row(rate: float, share: float) -> dict[str, Any]:
        return {"available": True, "created": 10, "leads_per_s": summary(rate), "share_429": summary(share),
                "steady_leads_per_s": summary(rate)}  # fmt: skip

    tree = {f"{size}_{key}": summary(100.0 * (ratio if size == "large" else 1))
            for size in ("small", "large") for key in ("peak_pss_mb", "peak_rss_mb", "sum_of_own_peaks_mb")}  # fmt: skip
    return {
        "startup": {"version_wall_s": summary(0.1), "tiny_plan_rows": 10, "tiny_plan_wall_s": summary(0.5),
                    "tiny_plan_startup_s": summary(0.4)},
        "plan_throughput": {"rows": 100, "rows_per_s": summary(plan_rps), "in_process_s": summary(1.0),
                            "startup_and_exit_s": summary(0.5)},
        "plan_memory": {"small_rows": 1, "large_rows": 10, "small_peak_rss_mb": summary(100.0),
                        "large_peak_rss_mb": summary(100.0 * ratio), "ratio": ratio,
                        "large_rows_per_s": summary(5.0),
                        "tree": {**tree, "small_most_at_once": 1, "large_most_at_once": 3, "ratio": ratio}},
        "excel_read": {"rows": 100, "rows_per_s": summary(40_000.0), "csv_rows_per_s": summary(50_000.0),
                       "xlsx_over_csv": 0.8, "calamine_rows_per_s": summary(90_000.0)},
        "send_throughput": {"by_workers": [send_row(w) for w in (1, 16, 32, 64)]},
        "send_at_0ms": {"rows": 1000, "plan_cpu_s": summary(1.0), "plan_cpu_ms_per_lead": 1.0,
                        # 1,000 leads: the plan's 1.0 s of CPU is 1 ms of each lead's
                        "by_workers": [{"workers": w, "leads_per_s": summary(zero_rps - 64 + w), "created": 1000,
                                        "cpu_ms_per_lead": summary(cpu_ms + 1.0 if w == 16 else 9.0),
                                        "send_cpu_ms_per_lead": summary(cpu_ms if w == 16 else 9.0)}
                                       for w in (16, 32, 64)]},
        "naive_baseline": {"leads": 10, "leads_per_s": summary(16.0)},
        "unchanged_rerun": {"rows": 100, "rows_per_s": summary(rerun_rps), "requests_total": [0, requests],
                            "first_run": {"requests_total": 97, "wall_s": 3.0, "requests_per_s": None,
                                          "leads_per_s": 30.0, "cpu_ms_per_lead": 2.5}},
        "throttle_recovery": {"rows": 100, "workers": 8, "latency_ms": 20.0, "fault_rate": 0.05,
                              "clean_leads_per_s": summary(300.0),
                              "faulty_leads_per_s": summary(300.0 * throttle_ratio),
                              "ratio": throttle_ratio, "ratio_median": throttle_ratio},
        "auto_workers": {"available": True, "rate_limited": {"rate_limit": 100.0, "by_workers": {
                             "auto": auto_row(steady, share_429), "16": auto_row(60.0, 0.3)}},
                         "high_latency": {"latency_ms": 50.0, "by_workers": {
                             "auto": auto_row(500.0, 0.0), "16": auto_row(300.0, 0.0)},
                             "auto_over_best_fixed": 1.6667}},
        "scale_out": {"available": True, "rows": 6000, "processes": 4, "workers_per_process": 8,
                      "single": {"whole_leads_per_s": summary(100.0), "window_leads_per_s": summary(500.0)},
                      "dask_local": {"whole_leads_per_s": summary(100.0 * scale),
                                     "window_leads_per_s": summary(400.0)},
                      "ratio_whole": scale, "ratio_whole_median": scale, "ratio_window": 0.8,
                      "dask_cluster": {"whole_leads_per_s": summary(120.0),
                                       "window_leads_per_s": summary(450.0)},
                      "cluster_ratio_whole": 1.2, "cluster_ratio_whole_median": 1.1,
                      "cluster_ratio_window": 0.9, "judged": "dask_local"},
    }  # fmt: skip


TARGETS = [
    "plan throughput", "plan memory", "plan memory, process tree", "send throughput, 16 workers",
    "send throughput, 32 workers", "send throughput, 64 workers",
    "CPU per lead while sending, 16 workers at 0 ms", "CPU per lead beyond the plan, 16 workers at 0 ms",
    "send throughput at 0 ms", "unchanged re-run throughput", "unchanged re-run requests",
    "throughput under 5% 429s", "auto workers, 429s at --rate-limit 100",
    "auto workers, throughput at --rate-limit 100", "scale-out, dask-local over one process",
]  # fmt: skip


def test_judge_passes_at_the_targets_and_fails_beyond_them() -> None:
    at_targets = judge(_measurements(50_000, 1.5, 0.9, 50_000, 0, 0.6667))
    assert [t["name"] for t in at_targets["targets"]] == TARGETS
    assert [t["pass"] for t in at_targets["targets"]] == [True] * len(TARGETS)
    assert at_targets["all_targets_pass"] is True
    assert at_targets["ratios"] == {"rg_import_16_workers_over_naive": round(0.9 * 320 / 16, 2)}
    beyond = judge(_measurements(49_999, 1.51, 0.89, 49_999, 1, 0.6666, cpu_ms=0.61, zero_rps=1499.0,
                                 share_429=0.0201, steady=84.9, scale=0.89))  # fmt: skip
    assert [t["pass"] for t in beyond["targets"]] == [False] * len(TARGETS)
    assert beyond["all_targets_pass"] is False


def test_judge_with_missing_measurements_does_not_claim_a_verdict() -> None:
    partial = judge({"naive_baseline": {"leads": 10, "leads_per_s": summarise([16.0])}})
    assert partial == {
        "targets": [],
        "ratios": {"rg_import_16_workers_over_naive": None},
        "all_targets_pass": None,
    }
    no_sixteen = _measurements(1, 1, 1, 1, 0)
    no_sixteen["send_throughput"]["by_workers"].pop(1)
    target = next(
        t for t in judge(no_sixteen)["targets"] if t["name"] == "send throughput, 16 workers"
    )
    assert target["pass"] is None and judge(no_sixteen)["all_targets_pass"] is None


def test_judge_leaves_auto_unjudged_when_the_cli_has_no_auto_workers() -> None:
    measurements = _measurements(60_000, 1.2, 0.95, 60_000, 0, cpu_ms=0.5, zero_rps=2000.0)
    limited = measurements["auto_workers"]["rate_limited"]["by_workers"]
    limited["auto"] = {"available": False, "why": "the CLI refused --workers auto (exit status 2)"}
    judged = judge(measurements)
    auto = [t for t in judged["targets"] if t["name"].startswith("auto workers")]
    assert [(t["measured"], t["pass"]) for t in auto] == [(None, None), (None, None)]
    assert all(t["pass"] for t in judged["targets"] if not t["name"].startswith("auto workers"))
    assert judged["all_targets_pass"] is None
    table = render_table({"mode": "full", "measurements": measurements, "judged": judged,
                          "machine": {"cpu_count": 2, "python": "3.11.7"}})  # fmt: skip
    assert "--workers auto, --rate-limit 100    not available" in table


def test_render_table_shows_each_measurement_and_verdict() -> None:
    measurements = _measurements(60_000, 1.6, 0.9, 70_000, 0)
    results = {"mode": "quick", "measurements": measurements, "judged": judge(measurements),
               "machine": {"cpu_count": 2, "python": "3.11.7", "load_average": [1.5, 1.0, 0.5]}}  # fmt: skip
    table = render_table(results)
    lines = table.splitlines()

    def line(start: str) -> str:
        return next(x for x in lines if x.startswith(start))

    assert "load 1.5 1 0.5" in lines[0]
    assert "--version 0.10 s, plan of 10 rows 0.50 s" in line("start-up")
    assert line("plan throughput").endswith("PASS")
    assert line("plan memory").endswith("FAIL")
    assert line("  whole process tree (PSS)").endswith("FAIL")
    assert "40,000 rows/s" in line("plan of an .xlsx, 100 rows")
    assert "80% of the CSV's 50,000 rows/s; python-calamine alone reads 90,000 rows/s" in table
    assert line("send, 16 workers").endswith("PASS") and line("send, 64 workers").endswith("PASS")
    assert lines[lines.index(line("send, 1 worker,")) + 1].endswith("; CPU 2.00 ms/lead")
    # the processes --send-processes auto chose, where more than one
    assert "; 2 sending processes" in lines[lines.index(line("send, 64 workers")) + 1]
    assert line("send at 0 ms, 16 workers").endswith("PASS")
    assert "CPU 1.60 ms/lead (0.60 while sending)" in line("send at 0 ms, 16 workers")
    assert "= 1.00 ms/lead; a run at 16 workers beyond it: 0.60 ms/lead" in table
    assert any(x.startswith("send with 5% 429s, 8 workers") and x.endswith("PASS") for x in lines)
    assert line("--workers auto, --rate-limit 100").endswith("PASS")
    assert "first run at 0 ms: 30 leads/s over the whole command, CPU 2.50 ms/lead" in table
    assert "auto reaches 167% of the best fixed count at 50 ms" in table
    assert "is 18x the naive loop" in table
    assert "90.0 / 100.0 leads/s = 90%" in line("scale-out, 4 x 8 workers, 6,000")
    assert line("scale-out, 4 x 8 workers").endswith("PASS")
    assert "send window 400.0 / 500.0 = 80%" in table
    # the run on a running cluster is shown beside the judged one, without a verdict
    on_cluster = line("  running cluster (not judged)")
    assert "120.0 / 100.0 leads/s = 120%" in on_cluster and not on_cluster.endswith("PASS")
    assert "median ratio 110%; send window 450.0 / 500.0 = 90%" in table
    assert lines[-1] == "some targets FAIL"


def test_merge_previous_keeps_other_measurements_of_the_same_mode(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"mode": "full", "measurements": {"a": 1, "b": 2}}))
    assert merge_previous(path, {"b": 3}, "full") == {"a": 1, "b": 3}
    assert merge_previous(path, {"b": 3}, "quick") == {"b": 3}
    assert merge_previous(tmp_path / "missing.json", {"b": 3}, "full") == {"b": 3}


@pytest.mark.slow
def test_auto_workers_runs_the_fixed_counts_and_records_whether_auto_exists(tmp_path: Path) -> None:
    sizes = replace(QUICK, auto_fixed=(4,), auto_limited_rows=110, auto_latency_rows=20)
    bench = Bench(sizes, data_dir=tmp_path / "data", work_dir=tmp_path, log=lambda _line: None)
    found = MEASUREMENTS["auto_workers"](bench)
    limited, slow = found["rate_limited"]["by_workers"], found["high_latency"]["by_workers"]
    assert list(limited) == list(slow) == ["auto", "4"]
    fixed = limited["4"]["runs"][0]
    assert fixed["created"] == limited["4"]["created"] > 100  # past the token bucket's burst of 100
    assert fixed["requests"] == fixed["created"] + fixed["status_429"]
    assert fixed["status_429"] == fixed["sandbox_429"]  # the run's report and the sandbox agree
    assert limited["4"]["steady_leads_per_s"]["n"] == slow["4"]["leads_per_s"]["n"] == 1
    auto = limited["auto"]
    assert found["available"] is auto["available"] is slow["auto"]["available"]
    if auto["available"]:
        assert auto["created"] == limited["4"]["created"] and "share_429" in auto
    else:  # the CLI refused --workers auto (usage error, exit status 2)
        assert (
            auto
            == slow["auto"]
            == {"available": False, "why": "the CLI refused --workers auto (exit status 2)"}
        )
        assert found["high_latency"]["auto_over_best_fixed"] is None


# ---- the script itself ------------------------------------------------------------------------


def _run_script(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUN_SCRIPT), "--quick", *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=True)  # fmt: skip


def _check_common(results: dict[str, Any]) -> None:
    machine = results["machine"]
    assert machine["cpu_count"] >= 1 and machine["python"].startswith("3.")
    assert machine["timestamp"] and "load_average" in machine and "load_average_end" in machine
    assert results["mode"] == "quick"
    assert set(results["sizes"]) >= {"plan_rows", "send_rows", "latency_ms"}


def test_quick_plan_measurements_then_only_naive_merges_into_the_same_file(tmp_path: Path) -> None:
    out, data = tmp_path / "results.json", tmp_path / "data"
    done = _run_script(
        "--only", "plan_throughput", "--only", "plan_memory", "--out", out, "--data-dir", data
    )
    assert "plan throughput, 2,000 rows" in done.stdout
    results = json.loads(out.read_text())
    _check_common(results)
    plan, memory = (
        results["measurements"]["plan_throughput"],
        results["measurements"]["plan_memory"],
    )
    assert plan["repetitions"] == plan["rows_per_s"]["n"] == 1
    assert plan["planned"]["create"] + plan["planned"]["rejected"] == plan["rows"]
    assert memory["large_peak_rss_mb"]["best"] > 0
    assert memory["ratio"] == pytest.approx(
        memory["large_peak_rss_mb"]["median"] / memory["small_peak_rss_mb"]["median"], abs=1e-3
    )
    tree = memory["tree"]
    assert tree is None or tree["small_peak_pss_mb"]["best"] > 0
    assert tree is None or tree["ratio"] == pytest.approx(
        tree["large_peak_pss_mb"]["median"] / tree["small_peak_pss_mb"]["median"], abs=1e-3
    )
    assert [t["name"] for t in results["judged"]["targets"]] == [
        "plan throughput", "plan memory", "plan memory, process tree",
    ]  # fmt: skip

    _run_script("--only", "naive_baseline", "--out", out, "--data-dir", data)
    merged = json.loads(out.read_text())
    assert merged["measured_now"] == ["naive_baseline"]
    assert set(merged["measurements"]) == {"plan_throughput", "plan_memory", "naive_baseline"}
    naive = merged["measurements"]["naive_baseline"]
    assert naive["runs"][0]["statuses"] == {"201": naive["leads"]}
    assert sorted(p.name for p in data.iterdir() if p.suffix == ".csv") == [
        "fub_people_10_seed7_dirty0.03.csv", "fub_people_20000_seed7_dirty0.03.csv",
        "fub_people_2000_seed7_dirty0.03.csv",
    ]  # fmt: skip


@pytest.mark.slow
def test_quick_run_of_everything_writes_every_measurement(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = _run_script("--out", out, "--data-dir", tmp_path / "data")
    results = json.loads(out.read_text())
    _check_common(results)
    assert list(results["measurements"]) == list(MEASUREMENTS)
    send = results["measurements"]["send_throughput"]
    assert [r["workers"] for r in send["by_workers"]] == [1, 4, 16, 32, 64]
    for r in send["by_workers"]:
        assert r["requests"] == r["created"] > 0  # one POST per Follow Up Boss lead
        assert r["ideal_leads_per_s"] == r["workers"] * 1000 / send["latency_ms"]
        assert r["fraction_of_ideal"] > 0
    rerun = results["measurements"]["unchanged_rerun"]
    assert rerun["requests_total"] == [0] and rerun["sandbox_requests_during_reruns"] == 0
    created = rerun["first_run"]["leads"]["created"]
    assert (
        rerun["reruns"][0]["leads"]["unchanged"] == created == rerun["first_run"]["requests_total"]
    )
    first = rerun["first_run"]
    # the figures are consistent with one another (their size is make bench's to judge)
    assert first["leads_per_s"] == pytest.approx(created / first["wall_s"], rel=0.01)
    assert first["cpu_ms_per_lead"] == pytest.approx(1000 * first["cpu_s"] / created, rel=0.01)
    throttle = results["measurements"]["throttle_recovery"]
    assert throttle["workers"] == 8 and throttle["rows"] == 100
    assert throttle["ratio"] > 0 and len(throttle["runs"]["faulty"]) == 1
    for r in send["by_workers"]:  # the default, --send-processes auto, as it chose here
        assert r["send_processes"] == resolve_send_processes(AUTO_SEND_PROCESSES, r["workers"])
    _check_new_measurements(results["measurements"])
    judged = results["judged"]
    assert [t["name"] for t in judged["targets"]] == TARGETS
    auto_available = results["measurements"]["auto_workers"]["available"]
    scale_available = results["measurements"]["scale_out"]["available"]
    assert all(
        isinstance(t["pass"], bool)
        or (t["name"].startswith("auto") and not auto_available)
        or (t["name"].startswith("scale-out") and not scale_available)
        # a quick run's send window is about a tenth of a second, two or three readings of
        # the run's CPU (every 50 ms, and one at its exit): a reading lost to a busy
        # machine can leave that figure unmeasured there (never in a full run's seconds)
        or t["name"].startswith("CPU per lead while sending")
        for t in judged["targets"]
    )
    assert judged["ratios"]["rg_import_16_workers_over_naive"] > 0
    assert "unchanged re-run, 500 rows" in done.stdout


def _check_new_measurements(m: dict[str, Any]) -> None:
    start = m["startup"]
    assert start["version_wall_s"]["n"] == start["tiny_plan_wall_s"]["n"] == 1
    assert 0 < start["tiny_plan_startup_s"]["best"] < start["tiny_plan_wall_s"]["best"]
    excel = m["excel_read"]
    assert excel["rows"] == 2_000
    assert excel["rows_per_s"]["n"] == excel["calamine_rows_per_s"]["n"] == 1
    assert excel["xlsx_over_csv"] == pytest.approx(
        excel["rows_per_s"]["best"] / excel["csv_rows_per_s"]["best"], rel=0.01
    )
    tree = m["plan_memory"]["tree"]
    assert tree is None or tree["large_peak_pss_mb"]["best"] > 0
    zero = m["send_at_0ms"]
    assert [r["workers"] for r in zero["by_workers"]] == [16, 32, 64]
    for r in zero["by_workers"]:
        assert r["created"] == r["requests"] > 0 and r["cpu_ms_per_lead"]["best"] > 0
        # the default, as a user's run: auto's choice for the worker count on this machine
        expected = resolve_send_processes(AUTO_SEND_PROCESSES, r["workers"])
        assert r["send_processes"] == expected
        assert [run["send_processes"] for run in r["runs"]] == [expected]
    assert zero["plan_cpu_s"]["best"] > 0
    processes = m["send_processes"]
    assert processes["processes"] == [1, 2]
    for where, workers in (("at_0ms", [16]), ("at_latency", [64])):
        rows = processes[where]["by_workers"]
        assert [r["workers"] for r in rows] == workers
        for r in rows:
            assert list(r["by_processes"]) == ["1", "2"]
            one, two = r["by_processes"]["1"], r["by_processes"]["2"]
            assert one["created"] == two["created"] > 0
            assert one["leads_per_s_over_first"] == {"best": 1.0, "median": 1.0}
            assert two["cpu_ms_per_lead"]["best"] > 0
    auto = m["auto_workers"]
    assert list(auto["rate_limited"]["by_workers"]) == ["auto", "4", "16", "64"]
    scale = m["scale_out"]
    assert (scale["rows"], scale["processes"], scale["total_workers"]) == (40, 2, 4)
    assert not scale["available"] or scale["ratio_whole"] > 0
    assert auto["rate_limited"]["rate_limit"] == 100


def test_scale_out_is_not_available_where_postgresql_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @contextlib.contextmanager
    def no_server() -> Iterator[str]:
        raise scale_out_module.Unavailable(
            "PostgreSQL from the pgserver wheel cannot start here: no"
        )
        yield ""  # pragma: no cover

    monkeypatch.setattr(scale_out_module, "postgres_server", no_server)
    bench = Bench(QUICK, data_dir=tmp_path / "data", work_dir=tmp_path, log=lambda _line: None)
    found = MEASUREMENTS["scale_out"](bench)
    assert found["available"] is False and "cannot start here: no" in found["why"]
    judged = judge({"scale_out": found})
    assert [(t["measured"], t["pass"]) for t in judged["targets"]] == [(None, None)]
    assert judged["all_targets_pass"] is None
    table = render_table({"mode": "quick", "measurements": {"scale_out": found}, "judged": judged,
                          "machine": {"cpu_count": 2, "python": "3.11.7"}})  # fmt: skip
    assert "not available" in next(x for x in table.splitlines() if x.startswith("scale-out"))


@pytest.mark.slow
def test_scale_out_runs_one_process_and_both_dask_runs_on_fresh_postgresql_databases(
    tmp_path: Path,
) -> None:
    if importlib.util.find_spec("pgserver") is None:
        pytest.skip("the scale-out measurement needs the pgserver wheel: pip install -e '.[dev]'")
    sizes = replace(QUICK, scale_out=(30, 2, 2), send_reps=2)
    bench = Bench(sizes, data_dir=tmp_path / "data", work_dir=tmp_path, log=lambda _line: None)
    found = MEASUREMENTS["scale_out"](bench)
    assert found["available"] is True, found.get("why")
    assert found["total_workers"] == 4 and found["repetitions"] == 2
    for label in ("single", "dask_local", "dask_cluster"):
        runs = found[label]["runs"]
        assert len(runs) == 2
        # every lead of each run was created: a fresh site and database each time
        assert all(r["created"] == found["created"] == r["requests"] for r in runs)
        assert found[label]["whole_leads_per_s"]["n"] == 2
    whole = (
        found["dask_local"]["whole_leads_per_s"]["best"]
        / found["single"]["whole_leads_per_s"]["best"]
    )
    assert found["ratio_whole"] == round(whole, 4)
    on_running_cluster = (
        found["dask_cluster"]["whole_leads_per_s"]["best"]
        / found["single"]["whole_leads_per_s"]["best"]
    )
    assert found["cluster_ratio_whole"] == round(on_running_cluster, 4)
    assert found["judged"] == "dask_local"
