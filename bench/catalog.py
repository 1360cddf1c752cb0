"""Every measurement of ``make bench``, by name, in the order they run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.measures import (
    Bench,
    naive_baseline,
    plan_memory,
    plan_throughput,
    send_throughput,
    throttle_recovery,
)
from bench.rerun import unchanged_rerun
from bench.scale_out import scale_out
from bench.scaling import auto_workers, send_at_0ms
from bench.send_processes import send_processes
from bench.startup import excel_read, startup

MEASUREMENTS: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "startup": startup,
    "plan_throughput": plan_throughput,
    "plan_memory": plan_memory,
    "excel_read": excel_read,
    "send_throughput": send_throughput,
    "send_at_0ms": send_at_0ms,
    "send_processes": send_processes,
    "naive_baseline": naive_baseline,
    "unchanged_rerun": unchanged_rerun,
    "throttle_recovery": throttle_recovery,
    "auto_workers": auto_workers,
    "scale_out": scale_out,
}
