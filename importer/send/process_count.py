"""How many sending processes ``--send-processes auto`` means (``importer.send.process_client``).

Decided once, before the run sends, from what is known then: the requests in
flight it was given, the CPUs this process may use, and whether it sends from
here at all (a run spread over Dask tasks sends from each task's one process).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from importer.settings import AUTO_SEND_PROCESSES, AUTO_WORKERS

# auto sends from 2 processes from this many --workers on. Below it one process keeps
# up with the API at real latencies (docs/client.md, "Sending from several processes":
# at 50 ms one process reaches 90% of workers / latency at 16 workers, but 81% at 32 and
# 60% at 64, where 2 processes reach 90%); below it a second process only costs CPU.
AUTO_FROM_WORKERS = 32
AUTO_PROCESSES = 2  # what auto chooses from AUTO_FROM_WORKERS on (a third added nothing on 2 cores)


CGROUP_ROOT = Path("/sys/fs/cgroup")  # where a container sees its own CPU quota


def usable_cpus(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The CPUs this process may run on: its affinity where the OS says it (Linux), else
    the machine's count; fewer when a CPU quota (a container's ``--cpus``) allows fewer."""
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    return cpus if quota is None else max(1, min(cpus, int(quota)))


def cgroup_cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs' worth of time the cgroup may use (quota / period), or None when unlimited or
    unknown: cgroup v2's ``cpu.max`` ("150000 100000", or "max 100000"), else v1's
    ``cpu.cfs_quota_us`` (-1: none) over ``cpu.cfs_period_us``."""
    with contextlib.suppress(OSError, ValueError):
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    for folder in (root / "cpu", root / "cpu,cpuacct"):
        with contextlib.suppress(OSError, ValueError):
            quota_us = int((folder / "cpu.cfs_quota_us").read_text())
            period_us = int((folder / "cpu.cfs_period_us").read_text())
            return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    return None


def resolve_send_processes(
    value: int | str, workers: int | str, *, local: bool = True, cpus: int | None = None
) -> int:
    """The number of sending processes of ``--send-processes value`` (a number, or auto).

    A number is itself (checked elsewhere). ``auto`` is ``AUTO_PROCESSES`` when all of
    these hold, else 1:
    - ``workers`` is a fixed number of at least ``AUTO_FROM_WORKERS`` (with ``--workers
      auto`` each process would learn the server's rate on its own, doubling the 429s);
    - at least 2 CPUs are usable (``cpus``, by default ``usable_cpus()``): on one, a second
      process only takes turns with the first;
    - the run sends from here (``local``), not from the tasks of a Dask cluster.
    """
    if value != AUTO_SEND_PROCESSES:
        return int(value)
    if not local or workers == AUTO_WORKERS or int(workers) < AUTO_FROM_WORKERS:
        return 1
    if (usable_cpus() if cpus is None else cpus) < AUTO_PROCESSES:
        return 1
    return AUTO_PROCESSES
