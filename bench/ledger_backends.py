"""The ledger's write-ahead transitions on SQLite and on PostgreSQL, side by side.

    .venv/bin/python bench/ledger_backends.py [--rows N] [--threads T]

Starts a PostgreSQL server from the ``pgserver`` wheel (the dev extra) in a
temporary folder, then times ``begin_lead`` + ``lead_sent`` (two committed
transitions, one activity each) for N rows from T threads on a SQLite file and
on a PostgreSQL database, alternately, best of three; prints milliseconds per
row and the ratio. Not part of ``make bench``: it times the library, not a run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.postgres import Unavailable, new_database, postgres_server  # noqa: E402
from importer.ledger.ledger import Ledger  # noqa: E402
from importer.ledger.store import payload_hash  # noqa: E402


def timed(spec: Path | str, rows: int, threads: int) -> float:
    """Seconds for ``rows`` rows (split over ``threads``) through a new ledger at ``spec``."""
    with Ledger(spec, run_id=f"bench-{uuid.uuid4().hex[:8]}") as ledger:

        def work(part: int) -> None:
            for n in range(part, rows, threads):
                key, payload = f"k{n}", {"n": n}
                lead_id = str(uuid.uuid5(uuid.NAMESPACE_URL, key))
                ledger.begin_lead("site", "src", key, lead_id, payload=payload,
                                  payload_hash=payload_hash(payload), activity_hashes=[f"h{n}"])  # fmt: skip
                ledger.lead_sent("site", "src", key, status=201, activity_hashes=[f"h{n}"])

        started = time.perf_counter()
        pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    best: dict[str, float] = {"sqlite": float("inf"), "postgres": float("inf")}
    try:
        with postgres_server() as folder:
            for _ in range(3):
                sqlite = Path(tempfile.mkdtemp()) / "ledger.sqlite"
                best["sqlite"] = min(best["sqlite"], timed(sqlite, args.rows, args.threads))
                url = new_database(folder)
                best["postgres"] = min(best["postgres"], timed(url, args.rows, args.threads))
    except Unavailable as exc:
        sys.exit(f"ledger_backends: {exc}")
    for backend, seconds in best.items():
        print(f"{backend:<9} {seconds / args.rows * 1000:.3f} ms per row (best of 3)")
    print(f"postgres / sqlite: {best['postgres'] / best['sqlite']:.2f}x")


if __name__ == "__main__":
    main()
