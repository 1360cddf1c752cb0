"""The naive baseline: one lead at a time, a new connection for each, like the official client.

Run as a script by the benchmark, in its own process::

    python bench/naive.py --url http://127.0.0.1:PORT/rest --site UUID --leads leads.json

``leads.json`` is a JSON list of lead payloads. Prints one JSON object:
``{"sent": n, "seconds": s, "statuses": {"201": n}}`` where ``seconds`` runs from
just before the first request to just after the last answer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests

HEADERS = {"Content-Type": "application/json; charset=utf-8"}


def send_naively(
    url: str,
    site: str,
    leads: Sequence[dict[str, Any]],
    *,
    auth: tuple[str, str] = ("sandbox", "sandbox"),
    post: Callable[..., Any] = requests.post,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """POST every lead to ``{url}/sites/{site}/leads``, one after another, no session.

    Returns ``{"sent", "seconds", "statuses"}``; a failed request counts under its
    status code (or the exception's class name) and the loop goes on, as the
    official client's callers would.
    """
    statuses: Counter[str] = Counter()
    target = f"{url.rstrip('/')}/sites/{site}/leads"
    started = clock()
    for lead in leads:
        try:
            answer = post(target, data=json.dumps(lead), auth=auth, headers=HEADERS, timeout=2)
            statuses[str(answer.status_code)] += 1
        except requests.RequestException as exc:
            statuses[type(exc).__name__] += 1
    return {"sent": len(leads), "seconds": clock() - started, "statuses": dict(statuses)}


def main(argv: Sequence[str] | None = None) -> int:
    """Send the leads of ``--leads`` and print the result as JSON; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="API base URL, ending in /rest")
    parser.add_argument("--site", required=True, help="site UUID to create the leads in")
    parser.add_argument("--leads", required=True, type=Path, help="JSON list of lead payloads")
    args = parser.parse_args(argv)
    leads = json.loads(args.leads.read_text(encoding="utf-8"))
    print(json.dumps(send_naively(args.url, args.site, leads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
