"""The one module that imports Dask: a cluster for a run, its tasks handed out and gathered.

Imported only when ``--executor dask`` or ``dask-local`` is given. Without Dask
installed, ``cluster`` raises ConfigError (exit 2) naming the extra to install.
Dask retries a task whose worker died (up to its ``allowed-failures``, 3 by
default) on another worker; a task that fails for good comes back as its error.

The cluster starts (or is reached) in a background thread, while the command
recovers the ledger and cuts the file; its workers load what a piece needs
(``importer.scale.warm``) before the first piece, not inside it: ``dask-local``
forks its workers from one process that loaded it (paid once, not once per
worker), a running cluster's workers load it in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from importer.errors import ConfigError
from importer.scale.executors import DASK_EXTRA, DASK_LOCAL, Executor

CONNECT_TIMEOUT_S = 15  # to reach a cluster's scheduler
LOOPBACK = "127.0.0.1"  # where a dask-local cluster listens
WARM = "importer.scale.warm"  # imported ahead of the pieces (see the module)


class Cluster:
    """A connected Dask client: how many tasks run at once, and running a batch of them."""

    def __init__(self, client: Any):
        self.client = client

    def slots(self) -> int:
        """Tasks the cluster runs at once: its workers' threads."""
        return max(1, sum(self.client.nthreads().values()))

    def run(
        self, function: Callable[[Any], Any], tasks: Sequence[Any], names: Sequence[str],
        on_done: Callable[[int, Any, BaseException | None], None],
    ) -> None:  # fmt: skip
        """Run ``function`` over ``tasks``; ``on_done(index, result, error)`` hears of each as
        it ends. Ctrl-C (or SIGTERM) cancels the tasks not yet done and is raised."""
        from distributed import as_completed

        futures = self.client.map(function, list(tasks), key=list(names), pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        out = {future.key: future for future in futures}  # the tasks not heard of yet
        del futures
        try:
            for future in as_completed(list(out.values())):
                error = future.exception()
                on_done(index[future.key], None if error else future.result(), error)
                # Let go of it: a result the cluster still holds for us is run again when
                # its worker dies, and that second run would rewrite the piece's files
                # under counts already taken from the first.
                del out[future.key]
                future.release()
        except KeyboardInterrupt:
            self.client.cancel(list(out.values()), force=True)
            raise


def require(executor: Executor) -> Any:
    """The ``distributed`` module; ConfigError (exit 2) naming the extra when it is missing."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            f"--executor {executor.kind} needs Dask, which is not installed: {DASK_EXTRA}"
        ) from None
    return distributed


@contextmanager
def cluster(executor: Executor, *, worker_env: dict[str, str]) -> Iterator[Starting]:
    """The cluster at ``executor.scheduler``, or one of ``executor.processes`` worker
    processes started here (stopped on leaving), starting in the background.

    ``worker_env`` is set in the environment of the workers started here (the
    credentials: so they never travel in a task's arguments, which Dask may log).
    """
    require(executor)
    starting = Starting(executor, worker_env)
    try:
        yield starting
    finally:
        starting.close()


class Starting:
    """A cluster being started (``dask-local``) or reached (``dask``) in a background thread:
    the command does its own work meanwhile, and waits for it only to run the tasks."""

    def __init__(self, executor: Executor, worker_env: dict[str, str]):
        self.executor = executor
        self._closing = contextlib.ExitStack()  # what the start opened, closed in reverse
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="rg-import-dask-start")
        self._started: Future[Cluster] = self._thread.submit(self._start, worker_env)

    def slots(self) -> int:
        """Tasks the cluster runs at once; known without waiting for a cluster started here
        (a worker thread per process), else once the scheduler answers."""
        if self.executor.kind == DASK_LOCAL and self.executor.processes:
            return self.executor.processes
        return self.ready().slots()

    def ready(self) -> Cluster:
        """The connected cluster, once started; raises what stopped it from starting."""
        return self._started.result()

    def run(
        self, function: Callable[[Any], Any], tasks: Sequence[Any], names: Sequence[str],
        on_done: Callable[[int, Any, BaseException | None], None],
    ) -> None:  # fmt: skip
        """``Cluster.run``, once the cluster is up."""
        self.ready().run(function, tasks, names, on_done)

    def close(self) -> None:
        """Wait for the start to end (it cannot be cut short), then stop what it started."""
        try:
            self._started.exception()
        finally:
            self._thread.shutdown()
            self._closing.close()

    def _start(self, worker_env: dict[str, str]) -> Cluster:
        import distributed

        closing = self._closing
        if self.executor.kind == DASK_LOCAL:
            forked = closing.enter_context(_forked_from_warm_process())
            # on loopback only: a Dask scheduler runs whatever a client sends it, and the
            # dashboard shows the tasks; neither may be reachable from the network
            local = distributed.LocalCluster(
                n_workers=self.executor.processes, threads_per_worker=1, processes=True,
                host=LOOPBACK, dashboard_address=f"{LOOPBACK}:0", silence_logs=logging.ERROR,
                env=worker_env,
            )  # fmt: skip
            closing.callback(local.close)
            # closed, not left as a context: a Client's exit must be in the thread it entered
            client = distributed.Client(local)
            closing.callback(client.close)
            if not forked:
                _warm_in_background(client)
            return Cluster(client)
        try:
            client = distributed.Client(self.executor.scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {self.executor.scheduler} ({exc}); "
                "is the cluster up (see docs/scale.md)?"
            ) from None
        closing.callback(client.close)
        _warm_in_background(client)
        return Cluster(client)


@contextmanager
def _forked_from_warm_process() -> Iterator[bool]:
    """While the cluster lives, its worker processes (and any started again after one
    died) are forked from multiprocessing's forkserver, which imported ``WARM`` first;
    yields False where there is no forkserver (Windows): the workers are spawned as usual.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        yield False
        return
    import dask
    from distributed.utils import get_mp_context

    with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
        # Dask names the forkserver's imports on its first use of it: after that, ours
        # (no effect once the forkserver runs: then it is ours from an earlier run)
        get_mp_context()
        multiprocessing.get_context("forkserver").set_forkserver_preload(["distributed", WARM])
        yield True


def _warm_in_background(client: Any) -> None:
    """Have each worker the cluster has now import ``WARM``, without waiting for it."""
    with contextlib.suppress(Exception):  # only an optimisation: a piece imports what it needs
        client.run(_warm, wait=False)


async def _warm() -> None:
    """On a worker: import ``WARM`` in a thread, so the worker's event loop keeps answering."""
    await asyncio.to_thread(importlib.import_module, WARM)
