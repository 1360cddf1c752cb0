"""Defaults shared by several stages, each written once.

The command line shows them in ``--help`` and the library uses them when a
caller leaves a value out, so the two can never disagree.
"""

from __future__ import annotations

UPDATE_APIS = ("v1", "v2")
DEFAULT_UPDATE_API = "v1"  # PATCH v1 keeps absent fields; v2 can clear fields that became empty
AUTO = "auto"  # the value of a setting rg-import decides itself (--workers, --send-processes)
AUTO_WORKERS = AUTO  # --workers auto: the requests in flight adapt to the server's answers
DEFAULT_WORKERS: int | str = 4  # requests in flight at once during a run (a number, or auto)
DEFAULT_MAX_WORKERS = 64  # the most requests in flight --workers auto may reach
MOST_WORKERS = 64  # the highest --workers and --max-workers the command line takes
MOST_SEND_PROCESSES = 32  # the highest --send-processes (importer.send.process_client)
AUTO_SEND_PROCESSES = AUTO  # --send-processes auto: chosen from --workers and the CPUs
# rg-import run's --send-processes (importer.send.process_count); a library RunRequest
# left without one sends from one process, as rg-import sites does
DEFAULT_SEND_PROCESSES: int | str = AUTO_SEND_PROCESSES
DEFAULT_MAX_ATTEMPTS = 6  # tries per request, the first included
DEFAULT_TIMEOUT_S = 30.0  # most seconds one try may take in all
DEFAULT_LEDGER = "rg-import.ledger.sqlite"
# --fail-on: which rejects make a plan or run exit 3 (new-rejects: only those no earlier run
# of the ledger reported; never: none, though rows in doubt or not sent still do)
FAIL_ON = ("new-rejects", "rejects", "never")
DEFAULT_FAIL_ON = "rejects"
# rejects.xlsx is written beside rejects.csv up to this many rejected rows: past
# it the workbook would take minutes and be too long to review by hand
REJECT_WORKBOOK_MAX_ROWS = 100_000
