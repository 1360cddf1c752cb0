"""The one module that imports Dask: a cluster for a run, its tasks handed out and gathered.

Imported only when ``--executor dask`` or ``dask-local`` is given. Without Dask
installed, ``cluster`` raises ConfigError (exit 2) naming the extra to install.
Dask retries a task whose worker died (up to its ``allowed-failures``, 3 by
default) on another worker; a task that fails for good comes back as its error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from importer.errors import ConfigError
from importer.scale.executors import DASK_EXTRA, DASK_LOCAL, Executor

CONNECT_TIMEOUT_S = 15  # to reach a cluster's scheduler


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
def cluster(executor: Executor, *, worker_env: dict[str, str]) -> Iterator[Cluster]:
    """A client of the cluster at ``executor.scheduler``, or of a cluster of
    ``executor.processes`` worker processes started here (stopped on leaving).

    ``worker_env`` is set in the environment of the workers started here (the
    credentials: so they never travel in a task's arguments, which Dask may log).
    """
    distributed = require(executor)
    local = None
    if executor.kind == DASK_LOCAL:
        local = distributed.LocalCluster(
            n_workers=executor.processes, threads_per_worker=1, processes=True,
            dashboard_address=":0", silence_logs=logging.ERROR, env=worker_env,
        )  # fmt: skip
        client = distributed.Client(local)
    else:
        try:
            client = distributed.Client(executor.scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {executor.scheduler} ({exc}); "
                "is the cluster up (see docs/scale.md)?"
            ) from None
    try:
        yield Cluster(client)
    finally:
        client.close()
        if local is not None:
            local.close()
