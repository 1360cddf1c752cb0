"""CPU per lead of ``rg-import run`` at 0 ms: an older commit against this checkout, alternately.

    .venv/bin/python bench/run_cpu_ab.py [--old main] [--rounds 3] [--rows 3000] [--out FILE]

The ``importer`` package (with ``mappings``) of ``--old`` is exported to a
temporary folder and put first on ``PYTHONPATH``, so both sides run with this
checkout's virtual environment and differ only in the package. Each round runs,
for OLD then NEW (NEW then OLD in the next round): ``rg-import run`` of the
generated Follow Up Boss file with ``--workers 16`` and ``--workers 64`` (and
``--send-processes 1``: the CPU of one sending process; ``--old`` must know the flag) into
one sandbox without latency (its own process, reset before each run), and
``rg-import plan`` of the same file. The CPU is the command's own, user +
system, from ``os.wait4`` (its reaped children included), over the leads
created (or the rows planned), and that of the send window alone
(``send_cpu_ms_per_lead_N``, as measurement 6 of bench/README.md takes it).
Prints the medians and NEW / OLD; not part of
``make bench``. On a shared machine run at least 3 rounds and read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import SandboxProcess, child_env, cli_command, compile_package  # noqa: E402
from bench.measures import Bench, Sizes, timed_send  # noqa: E402

WORKERS = (16, 64)
MEASURES = (*(f"cpu_ms_per_lead_{w}" for w in WORKERS), *(f"send_cpu_ms_per_lead_{w}" for w in WORKERS),
            *(f"leads_per_s_{w}" for w in WORKERS), "plan_cpu_ms_per_row")  # fmt: skip


def export(ref: str, into: Path) -> Path:
    """The ``importer`` package and ``mappings`` of git ``ref``, under ``into``, compiled."""
    archive = into / "old.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", ref, "importer", "mappings"], cwd=ROOT, stdout=out, check=True)  # fmt: skip
    with tarfile.open(archive) as tar:
        tar.extractall(into / "old", filter="data")
    compile_package(into / "old")
    return into / "old"


def one_round(bench: Bench, sandbox: SandboxProcess, path: Path, rows: int) -> dict[str, float]:
    found: dict[str, float] = {}
    for workers in WORKERS:
        run = timed_send(bench, sandbox, path, workers, 0.0, processes=1)  # one sending process
        found[f"cpu_ms_per_lead_{workers}"] = run["cpu_ms_per_lead"]
        # while sending (bench/README.md, measurement 6); None where /proc was not sampled
        found[f"send_cpu_ms_per_lead_{workers}"] = run["send_cpu_ms_per_lead"]
        found[f"leads_per_s_{workers}"] = run["leads_per_s"]
    plan = bench.timed_plan(path, rows)
    found["plan_cpu_ms_per_row"] = round(1000 * plan["cpu_s"] / rows, 4)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="main", help="git ref of OLD (default: main)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--out", type=Path, help="also write every reading here, as JSON")
    args = parser.parse_args()
    compile_package()
    with tempfile.TemporaryDirectory(prefix="rg-ab-") as scratch:
        work = Path(scratch)
        old_root = export(args.old, work)
        envs = {"old": {**child_env(), "PYTHONPATH": str(old_root)}, "new": child_env()}
        benches = {
            side: Bench(Sizes(), ROOT / "bench" / "data", work, command=cli_command(), env=env,
                        log=lambda line: None)
            for side, env in envs.items()
        }  # fmt: skip
        path = benches["new"].people(args.rows)
        readings: dict[str, dict[str, list[float]]] = {s: {m: [] for m in MEASURES} for s in envs}
        loads: list[float] = []
        with SandboxProcess(benches["new"].command, env=envs["new"]) as sandbox:
            for round_no in range(args.rounds):
                for side in ("old", "new") if round_no % 2 == 0 else ("new", "old"):
                    for key, value in one_round(benches[side], sandbox, path, args.rows).items():
                        readings[side][key].append(value)
                    loads.append(round(os.getloadavg()[0], 2))
                    print(f"round {round_no + 1} {side}: "
                          + ", ".join(f"{k} {v[-1]:g}" for k, v in readings[side].items()), flush=True)  # fmt: skip
    summary: dict[str, Any] = {}
    for key in MEASURES:
        old, new = (statistics.median(readings[s][key]) for s in ("old", "new"))
        summary[key] = {"old": old, "new": new, "new_over_old": round(new / old, 3)}
        print(f"{key:22} old {old:10.4f}  new {new:10.4f}  new/old {new / old:.3f}")
    print(f"load average after each side of each round: {loads}")
    if args.out:
        args.out.write_text(json.dumps({"old": args.old, "rounds": args.rounds, "rows": args.rows,
                                        "medians": summary, "readings": readings, "load_average": loads},
                                       indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
