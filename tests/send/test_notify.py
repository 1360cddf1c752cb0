"""``rg-import run --notify-url``: a JSON summary POSTed when a run ends, to a real local receiver.

The receiver is ``http.server`` in a thread on 127.0.0.1; the runs go to a
sandbox over loopback through the command line.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from importer.config import check_url
from importer.errors import ConfigError
from importer.sandbox.runner import start_sandbox
from importer.send import notify
from tests.conftest import SITE
from tests.send.test_run import PEOPLE, cli_exit, people_rows, use_cli_env

TOKEN = "T0K3N-in-the-path"  # a webhook's secret: never shown, never logged


class Receiver:
    """A local webhook: records every POST; answers ``status``."""

    def __init__(self, status: int = 200):
        self.bodies: list[dict[str, Any]] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/{TOKEN}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def quick_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "RETRY_PAUSE_S", 0.0)


def closed_port_url() -> str:
    """A loopback URL where nothing listens (a receiver that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/{TOKEN}"


def run_notifying(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    url: str,
    *extra: str,
    password: str = "sandbox",
) -> tuple[int, Path]:
    """``rg-import run`` of the people sample with ``--notify-url url`` and a log file."""
    use_cli_env(monkeypatch, tmp_path)
    out = tmp_path / "out"
    with start_sandbox(port=0, password=password) as server:
        code = cli_exit([
            "run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--base-url", server.url,
            "--ledger", str(tmp_path / "ledger.sqlite"), "--out", str(out), "--yes", "-q",
            "--log-file", str(tmp_path / "run.jsonl"), "--notify-url", url, *extra,
        ])  # fmt: skip
    return code, out


def test_the_end_of_a_run_is_posted_without_personal_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        code, out = run_notifying(monkeypatch, tmp_path, receiver.url)
    report = json.loads((out / "report.json").read_text())
    assert code == 3
    [body] = receiver.bodies
    assert body["run_id"] == report["run_id"] and body["exit_code"] == 3
    assert body["job"] is None and body["input"] == PEOPLE.name
    assert body["rows"] == 56 and body["leads"] == report["leads"] and body["stopped"] is False
    assert body["report_file"] == str((out / "report.json").resolve())
    assert body["rejects_file"] == str((out / "rejects.csv").resolve())
    assert body["missing_since_last_run"] == 0 and body["missing_file"] is None
    assert (
        body["text"] == "rg-import followupboss_people.csv: 56 rows, 47 created, 9 rejected, exit 3"
    )
    sent = json.dumps(body)
    emails = {v for r in people_rows().values() for k, v in r.items() if k == "Email 1" and v}
    assert emails and not [e for e in emails if e in sent]
    # the webhook's token stays out of report.json and the log
    assert TOKEN not in (out / "report.json").read_text()
    assert TOKEN not in (tmp_path / "run.jsonl").read_text()


@pytest.mark.parametrize("hook", ["down", "answers 500"])
def test_a_failing_hook_is_a_warning_and_never_changes_the_exit_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    quick_retry: None, hook: str,
) -> None:  # fmt: skip
    if hook == "down":
        code, _ = run_notifying(monkeypatch, tmp_path, closed_port_url())
    else:
        with Receiver(status=500) as receiver:
            code, _ = run_notifying(monkeypatch, tmp_path, receiver.url)
        assert len(receiver.bodies) == 2  # tried once more, no further
    assert code == 3
    err = capsys.readouterr().err.splitlines()
    [warning] = [line for line in err if "notify" in line]
    assert warning.startswith("Warning: could not notify http://127.0.0.1:")
    assert ("500" in warning) == (hook == "answers 500")
    assert TOKEN not in "\n".join(err)
    logged = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    assert [line["message"] for line in logged if line["event"] == "warning"] == [warning[9:]]


def test_a_hook_that_refuses_the_request_is_not_asked_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with Receiver(status=404) as receiver:
        code, _ = run_notifying(monkeypatch, tmp_path, receiver.url)
    assert code == 3 and len(receiver.bodies) == 1


def test_a_stopped_run_and_a_run_refused_before_sending_are_notified_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with Receiver() as receiver:
        stopped, out = run_notifying(monkeypatch, tmp_path, receiver.url, password="wrong")
        # a mapping that does not fit the file: exit 2 before anything is sent
        (tmp_path / "again").mkdir()
        refused, _ = run_notifying(
            monkeypatch, tmp_path / "again", receiver.url, "-m", "home_valuations"
        )
    assert stopped == 4 and refused == 2
    first, second = receiver.bodies
    assert first["exit_code"] == 4 and first["stopped"] is True
    assert first["report_file"] == str((out / "report.json").resolve())
    assert second["exit_code"] == 2 and second["error"] == "ConfigError"
    assert "leads" not in second and second["text"].endswith("exit 2")


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/T0K3N-in-the-path", "ftp://127.0.0.1/x", "hooks.example.com"]
)
def test_a_notify_url_must_be_https_unless_it_is_this_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, out = run_notifying(monkeypatch, tmp_path, url)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert len(err) == 1 and err[0].startswith("Error: --notify-url ")
    assert TOKEN not in err[0]


def test_the_url_check_is_the_base_urls() -> None:
    assert check_url("https://hooks.example.com/x", "--notify-url") == "https://hooks.example.com/x"
    assert check_url("http://localhost:8080/x", "--notify-url") == "http://localhost:8080/x"
    assert check_url("http://[::1]:8080/x", "--notify-url") == "http://[::1]:8080/x"
    with pytest.raises(ConfigError, match="plain http"):
        check_url("http://10.0.0.8/x", "--notify-url")


def test_a_job_is_named_and_piped_input_is_named_as_typed() -> None:
    body = notify.summary(
        run_id="r", input_name="-", exit_code=130, job="nightly", error=KeyboardInterrupt()
    )
    assert body["input"] == "-" and body["job"] == "nightly" and body["exit_code"] == 130
    assert (
        body["text"] == "rg-import job nightly: ended before sending (KeyboardInterrupt), exit 130"
    )


def test_a_hook_that_does_not_answer_in_time_is_given_up(quick_retry: None) -> None:
    answer = threading.Event()
    with Receiver() as receiver:
        handler = receiver.server.RequestHandlerClass
        original = handler.do_POST  # type: ignore[attr-defined]

        def slow(self: Any) -> None:
            answer.wait(5)  # released at the end of the test
            original(self)

        handler.do_POST = slow  # type: ignore[attr-defined]
        try:
            failed = notify.post_summary(receiver.url, {"run_id": "r"}, timeout=0.2)
        finally:
            answer.set()
    assert failed is not None and "timed out" in failed and TOKEN not in failed


def test_a_run_stopped_before_its_loop_is_notified_with_the_code_it_exits_with() -> None:
    """The log and the webhook get the code ``rg-import`` exits with: 143 for SIGTERM (also
    when it came at a question, wrapped in click's Abort), 130 for Ctrl-C."""
    import click

    from importer.errors import ExitCode, Terminated
    from importer.send.run_watch import exit_code_of

    assert exit_code_of(Terminated()) == ExitCode.TERMINATED
    assert exit_code_of(KeyboardInterrupt()) == ExitCode.INTERRUPTED
    for cause, code in ((Terminated(), ExitCode.TERMINATED), (KeyboardInterrupt(), 130)):
        try:
            raise click.exceptions.Abort() from cause
        except click.exceptions.Abort as abort:
            assert exit_code_of(abort) == code
