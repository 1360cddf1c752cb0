"""``--send-processes auto``: how many sending processes it means (importer.send.process_count).

The rules alone, with the CPU count given; tests/send/test_send_processes.py runs them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from importer.send.process_count import (
    AUTO_FROM_WORKERS,
    cgroup_cpu_quota,
    resolve_send_processes,
    usable_cpus,
)
from importer.settings import AUTO_SEND_PROCESSES, AUTO_WORKERS, DEFAULT_SEND_PROCESSES

AUTO = AUTO_SEND_PROCESSES


def test_auto_is_the_run_commands_default_and_starts_at_32_workers() -> None:
    assert DEFAULT_SEND_PROCESSES == AUTO
    assert AUTO_FROM_WORKERS == 32  # docs/client.md gives the measurements behind it


@pytest.mark.parametrize("workers", [AUTO_FROM_WORKERS, 33, 64])
def test_auto_sends_from_two_with_enough_workers_and_cpus_here(workers: int) -> None:
    assert resolve_send_processes(AUTO, workers, cpus=2) == 2
    assert resolve_send_processes(AUTO, workers, cpus=16) == 2  # never more than 2


@pytest.mark.parametrize("workers", [1, 4, 16, AUTO_FROM_WORKERS - 1])
def test_auto_sends_from_one_below_32_workers(workers: int) -> None:
    assert resolve_send_processes(AUTO, workers, cpus=8) == 1


def test_auto_sends_from_one_with_workers_auto() -> None:
    # each process would learn the server's rate on its own, doubling the 429s
    assert resolve_send_processes(AUTO, AUTO_WORKERS, cpus=8) == 1


def test_auto_sends_from_one_on_one_cpu() -> None:
    assert resolve_send_processes(AUTO, 64, cpus=1) == 1


def test_auto_sends_from_one_when_the_run_is_spread_over_tasks() -> None:
    # --executor dask / dask-local: each task sends from its own process
    assert resolve_send_processes(AUTO, 64, local=False, cpus=8) == 1


@pytest.mark.parametrize("processes", [1, 2, 3])
def test_a_number_is_kept_whatever_else_holds(processes: int) -> None:
    for workers in (4, 64, AUTO_WORKERS):
        for cpus in (1, 2):
            assert resolve_send_processes(processes, workers, cpus=cpus) == processes


def test_the_usable_cpus_are_this_processs_affinity_where_the_os_has_one(tmp_path: Path) -> None:
    no_quota = tmp_path  # a cgroup folder without quota files
    if hasattr(os, "sched_getaffinity"):
        assert usable_cpus(no_quota) == len(os.sched_getaffinity(0))
    else:
        assert usable_cpus(no_quota) == (os.cpu_count() or 1)
    assert usable_cpus() >= 1


def test_without_the_cpus_given_the_usable_ones_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    from importer.send import process_count

    monkeypatch.setattr(process_count, "usable_cpus", lambda: 1)
    assert resolve_send_processes(AUTO, 64) == 1
    monkeypatch.setattr(process_count, "usable_cpus", lambda: 2)
    assert resolve_send_processes(AUTO, 64) == 2


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2, docker run --cpus 1.5
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1.0),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "50000", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 0.5),
        ({}, None),  # no cgroup file system: unknown, so not limited
        ({"cpu.max": "garbled"}, None),
    ],
)
def test_a_containers_cpu_quota_is_read_from_its_cgroup(
    tmp_path: Path, files: dict[str, str], quota: float | None
) -> None:
    for name, text in files.items():
        write(tmp_path / name, text)
    assert cgroup_cpu_quota(tmp_path) == quota


def test_a_quota_of_one_cpu_sends_from_one_process_on_a_bigger_machine(tmp_path: Path) -> None:
    write(tmp_path / "cpu.max", "100000 100000")
    assert usable_cpus(tmp_path) == 1
    write(tmp_path / "cpu.max", "max 100000")
    assert usable_cpus(tmp_path) == len(os.sched_getaffinity(0))
