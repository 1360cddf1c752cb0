"""Imported for its effect: what every piece of a spread run needs, loaded ahead of the pieces.

A Dask worker that sends its first piece would otherwise import pandas, pandera,
the readers, planner and sender, and build pandera's schemas (the first check
of a frame builds them), all inside that piece: seconds of CPU that a run in
one process pays once. ``dask_cluster`` has this module imported

* for ``dask-local``, by the process that forks the workers (multiprocessing's
  forkserver, where it is available), so the run pays it once and each worker
  starts with all of it loaded;
* on each worker of a running cluster (``--executor dask``), in the background
  while the command cuts the file, so the first pieces find it loaded.

Nothing here opens a connection or a file: forking after it is safe.
"""

from __future__ import annotations

import contextlib

import dotenv  # noqa: F401  (a worker reads its login: importer.config)

import importer.ledger.ledger
import importer.mapping.empty_values
import importer.read.table
import importer.scale.pieces  # the task, and with it the request's modules
import importer.send.client
import importer.send.concurrency
import importer.send.run  # the run of a piece: planner, sender, outputs
import importer.send.throttle
from importer.normalize.phones import nanp_fast
from importer.validate.chunk import prepare

with contextlib.suppress(ImportError):  # the postgres extra: a spread run's ledger needs it
    import importer.ledger.postgres  # noqa: F401

prepare()  # pandera's schemas and backends
nanp_fast(["(212) 555-0123"])  # the +1 regions' patterns, built from phonenumbers' metadata
