"""Telling someone a run ended: one small JSON POST to ``--notify-url``.

The body holds counts, the exit code and the paths of the run's files, never a
row's data or a credential. ``text`` is the same in one line, so a chat
webhook that shows ``text`` (Slack, Mattermost) can take it as it is. A hook
that is down or answers an error is tried once more, then given up: the run's
exit code never depends on it, the caller shows the warning returned.

The URL itself can hold a secret (a webhook token in its path), so it is
never logged or shown beyond its scheme and host.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from importer import __version__
from importer.config import check_url, is_loopback
from importer.models import Outcome
from importer.send.transport import short_reason

if TYPE_CHECKING:
    from importer.outputs.report import RunResult

NOTIFY_TIMEOUT_S = 5.0  # connecting, and then the answer: a hook must not hold up the job
NOTIFY_TRIES = 2  # the first and one retry
RETRY_PAUSE_S = 1.0


def check_notify_url(url: str) -> str:
    """``url`` if it is https (or http to a loopback host); else ConfigError."""
    return check_url(url, "--notify-url", shown=shown_url(url))


def shown_url(url: str) -> str:
    """The URL as it may be shown: scheme and host only (its path may hold a token)."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}/…"


def summary(
    *, run_id: str, input_name: str, exit_code: int, job: str | None = None,
    result: RunResult | None = None, error: BaseException | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The body POSTed: what ended, how, and where its files are (no row data)."""
    body: dict[str, Any] = {
        "tool": f"rg-import {__version__}", "job": job, "run_id": run_id,
        "input": Path(input_name).name or input_name, "exit_code": exit_code,
    }  # fmt: skip
    if result is not None:
        body |= {
            "rows": result.input.rows,
            "leads": {o.done: result.leads[o] for o in Outcome},
            "stopped": result.stopped is not None,
            "missing_since_last_run": result.missing_since_last_run,
            "report_file": _absolute(result.report_file),
            "rejects_file": _absolute(result.rejects_file),
            "missing_file": _absolute(result.missing_file),
        }
    if error is not None:
        # the kind only: an error's text can quote the file
        body["error"] = type(error).__name__
    body["text"] = _one_line(body)
    return body


def _absolute(path: Path | None) -> str | None:
    return None if path is None else os.path.abspath(path)


def _one_line(body: dict[str, Any]) -> str:
    name = f"job {body['job']}" if body["job"] else body["input"]
    if "leads" not in body:
        return f"rg-import {name}: ended before sending ({body.get('error')}), exit {body['exit_code']}"
    counts = ", ".join(f"{n} {word.replace('_', ' ')}" for word, n in body["leads"].items() if n)
    stopped = ", stopped early" if body["stopped"] else ""
    return f"rg-import {name}: {body['rows']} rows, {counts or 'nothing'}{stopped}, exit {body['exit_code']}"


def post_summary(
    url: str, body: dict[str, Any], *, timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:  # fmt: skip
    """POST ``body`` to ``url``; None once a 2xx came back, else why it failed (one line).

    ``timeout`` bounds connecting and then each read (default ``NOTIFY_TIMEOUT_S``).
    """
    timeout = NOTIFY_TIMEOUT_S if timeout is None else timeout
    why = ""
    with requests.Session() as session:
        # a hook on this machine must not be routed through a proxy from the environment
        session.trust_env = not is_loopback(urlsplit(url).hostname or "")
        for attempt in range(1, NOTIFY_TRIES + 1):
            if attempt > 1:
                sleep(RETRY_PAUSE_S)
            try:
                reply = session.post(
                    url, json=body, timeout=(timeout, timeout), allow_redirects=False,
                    headers={"User-Agent": f"rg-import/{__version__}"},
                )  # fmt: skip
            except requests.RequestException as exc:
                why = _without_path(short_reason(exc), url)
                continue
            if 200 <= reply.status_code < 300:
                return None
            why = f"it answered {reply.status_code} {reply.reason}".strip()
            if reply.status_code < 500:
                break  # the hook refuses this request: asking again changes nothing
    return f"could not notify {shown_url(url)} ({why}); the run's exit code is unchanged"


def _without_path(text: str, url: str) -> str:
    """An error's text without the URL's path (requests may quote it)."""
    path = urlsplit(url).path
    return text.replace(path, "/…") if len(path) > 1 else text
