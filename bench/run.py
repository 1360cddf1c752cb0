"""``make bench``: measure rg-import's plan and send throughput; write bench/results.json.

    .venv/bin/python bench/run.py                     # everything (about 20 minutes)
    .venv/bin/python bench/run.py --only send_throughput --only naive_baseline
    .venv/bin/python bench/run.py --quick --out /tmp/results.json   # tiny sizes, a smoke test

See bench/README.md for what each number means and how it is measured.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.catalog import MEASUREMENTS
from bench.harness import compile_package, load_average, machine_info, now_iso, scratch_dir
from bench.measures import FULL, QUICK, Bench, Sizes
from bench.results import judge, merge_previous, render_table, write_results

HERE = Path(__file__).resolve().parent


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command-line options; argparse exits with status 2 on bad ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repetition each")
    parser.add_argument("--only", action="append", choices=sorted(MEASUREMENTS), metavar="NAME",
                        help=f"run only this measurement (repeatable): {', '.join(MEASUREMENTS)}")  # fmt: skip
    parser.add_argument("--repeat", type=int, metavar="N", help="repetitions of each timed command")
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="results file")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data",
                        help="where generated input files are kept and reused")  # fmt: skip
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def sizes_for(quick: bool, repeat: int | None) -> Sizes:
    """The size preset, with every repetition count set to ``repeat`` when given."""
    sizes = QUICK if quick else FULL
    if repeat is None:
        return sizes
    return replace(
        sizes, plan_reps=repeat, send_reps=repeat, naive_reps=repeat, rerun_reps=repeat,
        startup_reps=repeat,
    )  # fmt: skip


def run_benchmark(
    names: Sequence[str],
    sizes: Sizes,
    *,
    data_dir: Path,
    mode: str,
    previous: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the named measurements side by side; returns the results document.

    With ``previous``, measurements not run now are kept from that file (same
    mode only). Raises ``RuntimeError`` when a CLI run fails.
    """
    machine = machine_info()
    started = time.perf_counter()
    fresh: dict[str, Any] = {}
    with scratch_dir() as work:
        bench = Bench(sizes, data_dir=data_dir, work_dir=work, log=log)
        for name in names:
            log(f"{name}:")
            began = time.perf_counter()
            fresh[name] = {**MEASUREMENTS[name](bench), "measured_at": now_iso()}
            log(f"  done in {time.perf_counter() - began:.0f} s")
    measurements = merge_previous(previous, fresh, mode) if previous else fresh
    return {
        "benchmark": "rg-import make bench",
        "mode": mode,
        "measured_now": list(names),
        "machine": {**machine, "load_average_end": load_average()},
        "command": list(bench.command),
        "sizes": asdict(sizes),
        "duration_s": round(time.perf_counter() - started, 1),
        "measurements": {k: measurements[k] for k in MEASUREMENTS if k in measurements},
        "judged": judge(measurements),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table, write the results; returns the exit status."""
    args = parse_args(argv)
    names = args.only or list(MEASUREMENTS)
    if not compile_package():
        print("warning: some modules did not compile; timings include compiling them", flush=True)
    mode = "quick" if args.quick else "full"
    results = run_benchmark(
        names, sizes_for(args.quick, args.repeat), data_dir=args.data_dir, mode=mode,
        previous=args.out if args.only else None,
        log=lambda line: print(line, flush=True),
    )  # fmt: skip
    write_results(args.out, results)
    print()
    print(render_table(results))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
