"""Memory of a whole process tree, sampled from ``/proc`` while it runs (Linux only).

``os.wait4`` gives one process's own peak (``ru_maxrss``), or the largest of
its waited-for children's, never their sum. ``rg-import plan`` forks checking
processes (``importer/plan/parallel.py``), so the memory a user needs is that
of the parent and its children together. A thread samples the tree every
``interval_s``: it finds the descendants of the root by their parent pid in
``/proc/<pid>/stat`` and adds up each one's ``Rss`` and ``Pss`` from
``/proc/<pid>/smaps_rollup``. A forked child shares its parent's pages until
either writes them, so the sum of RSS counts a shared page once per process;
the sum of PSS (each shared page divided among its sharers) counts it once,
and is the tree's real footprint. A sample can miss a peak shorter than the
interval; ``sum_of_own_peaks_mb`` (each process's ``VmHWM``, added up) is an
upper bound that cannot.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from pathlib import Path
from typing import Any, Self

PROC = Path("/proc")
_KB_PER_MB = 1024
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available(proc: Path = PROC) -> bool:
    """True where ``/proc`` shows memory rollups (Linux 4.14 and later)."""
    return (proc / "self" / "smaps_rollup").is_file()


def descendants(root: int, proc: Path = PROC) -> set[int]:
    """``root`` and every living process below it, by the parent pids in ``/proc/*/stat``."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir(proc):
        if not entry.name.isdigit():
            continue
        try:
            stat = (proc / entry.name / "stat").read_bytes()
        except OSError:
            continue  # gone since the listing
        # the name in parentheses may hold spaces: the fields after the last ")" are fixed
        parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _fields_kb(text: str, names: tuple[str, ...]) -> dict[str, int]:
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            values[key] = int(rest.split()[0])
    return values


def memory_kb(pid: int, proc: Path = PROC) -> dict[str, int] | None:
    """``{"Rss", "Pss", "VmHWM"}`` of one process in kB; None when it is gone (or a zombie)."""
    try:
        rollup = (proc / str(pid) / "smaps_rollup").read_text()
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    values = {**_fields_kb(rollup, ("Rss", "Pss")), **_fields_kb(status, ("VmHWM",))}
    return values if len(values) == 3 else None


class _Sampling:
    """Calls ``sample()`` in a thread every ``interval_s`` while a ``with`` block runs.

    A reading that fails because a process vanished mid-read is dropped: the next
    one sees the tree as it is then.
    """

    def __init__(self, root: int, interval_s: float, proc: Path, name: str) -> None:
        self._root, self._interval_s, self._proc = root, interval_s, proc
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while True:
            with contextlib.suppress(OSError, ValueError, IndexError):
                self.sample()
            if self._stop.wait(self._interval_s):
                return


class TreeSampler(_Sampling):
    """Samples the memory of ``root``'s process tree in a thread, for a ``with`` block.

    ``result()`` is ``{"peak_pss_mb", "peak_rss_mb", "sum_of_own_peaks_mb",
    "processes_seen", "most_at_once", "samples"}``: the largest sums over the
    samples, every process's last seen ``VmHWM`` added up, how many processes
    were seen in all and the most seen alive in one sample.
    """

    def __init__(self, root: int, *, interval_s: float = 0.1, proc: Path = PROC) -> None:
        super().__init__(root, interval_s, proc, "bench-tree")
        self._peak_pss = self._peak_rss = self._samples = self._most_at_once = 0
        self._own_peaks: dict[int, int] = {}

    def sample(self) -> None:
        """Take one sample now (the thread calls this every ``interval_s``)."""
        pss = rss = alive = 0
        for pid in descendants(self._root, self._proc):
            memory = memory_kb(pid, self._proc)
            if memory is None:
                continue
            pss, rss, alive = pss + memory["Pss"], rss + memory["Rss"], alive + 1
            self._own_peaks[pid] = max(self._own_peaks.get(pid, 0), memory["VmHWM"])
        self._peak_pss, self._peak_rss = max(self._peak_pss, pss), max(self._peak_rss, rss)
        self._most_at_once = max(self._most_at_once, alive)
        self._samples += 1

    def result(self) -> dict[str, Any]:
        """The peaks seen so far (MB, one decimal) and the counts."""
        return {
            "peak_pss_mb": round(self._peak_pss / _KB_PER_MB, 1),
            "peak_rss_mb": round(self._peak_rss / _KB_PER_MB, 1),
            "sum_of_own_peaks_mb": round(sum(self._own_peaks.values()) / _KB_PER_MB, 1),
            "processes_seen": len(self._own_peaks),
            "most_at_once": self._most_at_once,
            "samples": self._samples,
        }


def own_cpu_s(pid: int, proc: Path = PROC) -> float | None:
    """User + system CPU seconds of ``pid`` itself (not of its children); None when gone."""
    try:
        fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def tree_cpu_s(root: int, proc: Path = PROC) -> float | None:
    """User + system CPU seconds of ``root``'s whole tree so far; None when ``root`` is gone.

    Each living process counts its own CPU and that of the children it reaped
    (``cutime``/``cstime``), so every second is counted once, whichever process
    spent it and whether or not it has ended.
    """
    if own_cpu_s(root, proc) is None:
        return None
    total = 0
    for pid in descendants(root, proc):
        try:
            fields = (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone since the listing: its reaper's cutime has it, or will
        total += sum(int(field) for field in fields[11:15])
    return total / _CLOCK_TICKS


def cpu_between(
    trace: list[tuple[float, float, float]], start: float, end: float
) -> tuple[float, float] | None:
    """CPU spent between two instants of a ``CpuSampler`` trace: ``(own, tree)`` seconds.

    Each end is interpolated linearly between the samples around it. None when the
    trace does not cover both instants.
    """
    at_start, at_end = _at(trace, start), _at(trace, end)
    if at_start is None or at_end is None:
        return None
    return at_end[0] - at_start[0], at_end[1] - at_start[1]


def _at(trace: list[tuple[float, float, float]], when: float) -> tuple[float, float] | None:
    for (t0, own0, tree0), (t1, own1, tree1) in itertools.pairwise(trace):
        if t0 <= when <= t1:
            share = (when - t0) / (t1 - t0) if t1 > t0 else 0.0
            return own0 + share * (own1 - own0), tree0 + share * (tree1 - tree0)
    return None


class OwnCpuSampler(_Sampling):
    """The CPU of ``root``, read every ``interval_s`` while a ``with`` block runs.

    ``os.wait4`` gives a command's CPU with that of every child it reaped;
    ``seconds`` is the part its own process spent (the last reading before it
    ended: up to ``interval_s`` of it is missed). ``trace`` keeps every reading as
    ``(time.perf_counter(), own CPU, whole tree's CPU)``, so the CPU of a stretch
    of the run (its send window) can be read off with ``cpu_between``.
    """

    def __init__(self, root: int, *, interval_s: float = 0.05, proc: Path = PROC) -> None:
        super().__init__(root, interval_s, proc, "bench-own-cpu")
        self.seconds: float | None = None
        self.trace: list[tuple[float, float, float]] = []

    def sample(self) -> None:
        """Take one reading now (the thread calls this every ``interval_s``)."""
        seen = own_cpu_s(self._root, self._proc)
        if seen is None:
            return
        self.seconds = seen
        tree = tree_cpu_s(self._root, self._proc)
        if tree is not None:
            self.trace.append((time.perf_counter(), seen, tree))
