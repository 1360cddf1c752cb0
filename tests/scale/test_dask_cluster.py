"""How a batch of tasks is run on a Dask cluster (``importer.scale.dask_cluster.Cluster``).

On a real LocalCluster of worker processes.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

from importer.scale.dask_cluster import Cluster  # noqa: E402


def note_a_try(task: tuple[str, str]) -> int:
    """A task that appends a line to its file per try, and says which process ran it.

    The "slow" task waits until the test says a worker was killed, then a while
    longer: long enough for the cluster to run a lost task again, if it would.
    """
    kind, folder = task
    with open(Path(folder) / f"{kind}.tries", "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()}\n")
    if kind == "slow":
        deadline = time.monotonic() + 60
        while not (Path(folder) / "killed").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(3)
    return os.getpid()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_task_heard_of_is_not_run_again_when_its_worker_dies_later(tmp_path: Path) -> None:
    # A piece that came back is counted from its first result; if the cluster still held
    # that result for us, a worker dying later would make Dask run the piece again, and
    # the second try would rewrite the piece's files under the counts already taken.
    heard: list[tuple[int, Any]] = []
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as local, distributed.Client(local) as client:  # fmt: skip

        def on_done(index: int, result: Any, error: BaseException | None) -> None:
            heard.append((index, result if error is None else error))
            if index == 0:  # the quick task is done: kill the process that ran it
                os.kill(result, signal.SIGKILL)
                (tmp_path / "killed").touch()

        tasks = [("quick", str(tmp_path)), ("slow", str(tmp_path))]
        Cluster(client).run(note_a_try, tasks, ["quick-1", "slow-1"], on_done)

    assert [index for index, _ in heard] == [0, 1]
    assert all(isinstance(result, int) for _, result in heard)
    tries = (tmp_path / "quick.tries").read_text(encoding="utf-8").split()
    assert len(tries) == 1, f"the quick task ran {len(tries)} times"


def test_a_dask_local_cluster_listens_on_loopback_only() -> None:
    # A Dask scheduler runs whatever a client sends it: the cluster a run starts for
    # itself must not be reachable from the network. (Its dashboard, started only where
    # bokeh is installed, is asked for on loopback too; bokeh is not installed here.)
    from importer.scale.dask_cluster import cluster
    from importer.scale.executors import Executor

    with cluster(Executor("dask-local", processes=1), worker_env={}) as starting:
        client = starting.ready().client
        addresses = [client.scheduler.address, *client.scheduler_info()["workers"]]
    assert addresses and all(a.startswith("tcp://127.0.0.1:") for a in addresses), addresses
