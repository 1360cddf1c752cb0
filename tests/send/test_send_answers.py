"""What a run makes of answers that are not what they seem, over real loopback HTTP.

* A 2xx whose body is not the API's JSON object (a captive portal's login page,
  an empty 204, garbage) is no success: the row is in doubt, never ``sent``, and
  a run of them stops the run with a message pointing at a proxy or portal.
* A request that never reached the server (connection refused) applied
  nothing: the row is ``not_sent``, stays pending, and is in neither
  rejects.csv nor in_doubt.csv; the breaker names the URL it could not reach.
* With ``--activities-at-most-once``, activities held because their earlier
  send is unknown are listed in held_activities.csv and the run exits 3.
"""

from __future__ import annotations

import json
import socket
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from importer.cli.summaries import run_summary
from importer.config import Credentials
from importer.errors import Stopping, UnexpectedAnswerError
from importer.ledger.ledger import Ledger
from importer.outputs.report import shown_json
from importer.sandbox.runner import start_sandbox
from importer.send.client import Client
from importer.send.client_settings import ClientSettings
from importer.send.http_errors import unexpected_body
from tests.conftest import SITE
from tests.send.test_client import json_answer, scripted
from tests.send.test_run import (
    NOTES,
    PEOPLE,
    assert_invariant,
    cli_exit,
    ledger_counts,
    new_out,
    read_csv,
    run,
    run_result,
    use_cli_env,
    write_csv,
    write_people,
)

VALID_PEOPLE = (
    47  # rows of the sample people file that pass validation (3 keep a bad phone in the note)
)
QUICK: dict[str, Any] = {"max_attempts": 2, "backoff_base": 0.01, "backoff_max": 0.02}
FOREIGN = {  # sandbox fault kind -> words the row's message must use
    "2xx-html": "an HTML page",
    "2xx-empty": "an empty body",
    "2xx-garbage": "not JSON",
}


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then closed, so connecting is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def client_of(url: str, **options: Any) -> Client:
    """A client with the sandbox's login; ``options`` go to Client (e.g. ``sleep``)."""
    return Client(Credentials("sandbox", "sandbox"), ClientSettings(base_url=url), **options)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def activity_states(ledger: Path) -> dict[str, int]:
    return ledger_counts(ledger)["activities"]


# --------------------------------------------------------------------------- 2xx bodies


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/json", b"{}", None),
        ("text/plain", b'{"id": "x"}', None),  # the body decides, not the content type
        ("application/json", b"", "an empty body"),
        ("application/json", b"  \r\n", "an empty body"),
        ("text/html", b"<html><title>Login</title><body>Sign in</body></html>", 'an HTML page ("Sign in")'),
        ("application/json", b"[]", "JSON that is not an object ([])"),
        ("application/json", b"null", "JSON that is not an object (null)"),
        ("text/plain", b"OK\x00\x07", 'a body that is not JSON ("OK")'),
    ],
)  # fmt: skip
def test_unexpected_body_names_what_came_back(
    content_type: str, body: bytes, expected: str | None
) -> None:
    assert unexpected_body(content_type, body) == expected


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_a_2xx_without_the_api_json_is_not_success(kind: str) -> None:
    lead = {"id": str(uuid.uuid4()), "source": "rg-import tests", "email": "ann@example.com"}
    with start_sandbox(port=0, fault_rate=1.0, faults=(kind,)) as portal:
        with (
            client_of(portal.url, sleep=lambda s: None) as client,
            pytest.raises(UnexpectedAnswerError) as caught,
        ):
            client.create_lead(SITE, lead)
        seen = portal.stats()
    error = caught.value
    assert error.maybe_applied is True and error.attempts == 1  # never resent
    assert error.status in (201, 204)
    assert FOREIGN[kind] in error.error
    assert seen["total"] == 1


def test_a_json_list_for_an_answer_is_not_success() -> None:
    with (
        scripted(json_answer(201, [])) as server,
        client_of(server.url) as client,
        pytest.raises(UnexpectedAnswerError) as caught,
    ):
        client.create_lead(SITE, {"id": str(uuid.uuid4()), "source": "t"})
    assert "JSON that is not an object" in caught.value.error


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_foreign_2xx_answers_leave_every_row_in_doubt_and_the_next_run_sends_them(
    tmp_path: Path, kind: str
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0, fault_rate=1.0, faults=(kind,)) as portal:
        report = run(portal, PEOPLE, ledger, new_out(tmp_path), max_consecutive_failures=1000)
        assert portal.leads(SITE) == []
    assert_invariant(report)
    leads = report["leads"]
    assert leads["created"] == leads["updated"] == leads["not_sent"] == 0
    assert leads["in_doubt"] == VALID_PEOPLE
    assert report["exit_code"] == 3 and report["stopped"] is None
    _, doubts = read_csv(Path(report["in_doubt_file"]))
    assert len(doubts) == VALID_PEOPLE
    assert {d["_code"] for d in doubts} == {"unexpected_answer"}
    assert all(FOREIGN[kind] in d["_message"] for d in doubts)
    _, rejects = read_csv(Path(report["rejects_file"]))
    assert all(r["_stage"] != "send" for r in rejects)
    counts = ledger_counts(ledger)["leads"]
    assert counts["sent"] == 0 and counts["in_doubt"] == VALID_PEOPLE

    with start_sandbox(port=0) as api:
        again = run(api, PEOPLE, ledger, new_out(tmp_path))
        assert len(api.leads(SITE)) == VALID_PEOPLE
    assert again["leads"]["created"] + again["leads"]["updated"] == VALID_PEOPLE
    assert ledger_counts(ledger)["leads"]["sent"] == VALID_PEOPLE


def test_a_run_of_foreign_2xx_answers_stops_the_run_and_suspects_a_portal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_cli_env(monkeypatch, tmp_path)
    out = tmp_path / "out"
    with start_sandbox(port=0, fault_rate=1.0, faults=("2xx-html",)) as portal:
        code = cli_exit(["run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--yes",
                         "--assign", "off", "--base-url", portal.url, "--ledger", str(tmp_path / "l.sqlite"),
                         "--out", str(out)])  # fmt: skip
        assert portal.leads(SITE) == []
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert code == 4 == report["exit_code"]
    assert "captive portal" in report["stopped"] and "proxy" in report["stopped"]
    assert "captive portal" in printed
    assert_invariant(report)
    assert report["leads"]["created"] == 0 and report["leads"]["not_sent"] > 0
    assert ledger_counts(tmp_path / "l.sqlite")["leads"]["sent"] == 0


# --------------------------------------------------------------------------- not sent


def test_an_unreachable_api_sends_nothing_rejects_nothing_and_names_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_cli_env(monkeypatch, tmp_path)
    ledger = tmp_path / "l.sqlite"
    out = tmp_path / "out"
    unreachable = f"http://127.0.0.1:{closed_port()}/rest"
    args = ["run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--yes", "--assign", "off",
            "--ledger", str(ledger), "--max-attempts", "2"]  # fmt: skip
    code = cli_exit([*args, "--base-url", unreachable, "--out", str(out)])
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())

    assert code == 4 == report["exit_code"]
    assert f"could not reach {unreachable}" in report["stopped"]
    assert unreachable in printed and "not sent" in printed
    assert_invariant(report)
    leads = report["leads"]
    assert leads["in_doubt"] == leads["created"] == 0
    assert leads["not_sent"] == VALID_PEOPLE  # read, attempted or left: none of them applied
    assert leads["rejected"] == report["input"]["rows"] - VALID_PEOPLE  # only the bad data
    _, rejects = read_csv(out / "rejects.csv")
    assert all(r["_stage"] in ("read", "validate") for r in rejects)
    assert not (out / "in_doubt.csv").exists() and report["in_doubt_file"] is None
    counts = ledger_counts(ledger)
    assert counts["leads"]["sent"] == counts["leads"]["in_doubt"] == 0
    assert counts["leads"]["sending"] == counts["activities"]["in_doubt"] == 0

    with start_sandbox(port=0) as api:
        again = cli_exit([*args, "--base-url", api.url, "--out", str(tmp_path / "again")])
        assert len(api.leads(SITE)) == VALID_PEOPLE
    assert again == 3  # the sample's bad rows
    assert ledger_counts(ledger)["leads"]["sent"] == VALID_PEOPLE


def stop_now(seconds: float) -> None:
    """A retry wait during which the run stops."""
    raise Stopping()


@pytest.mark.parametrize(("where", "may_have_arrived"), [("closed", False), ("cut", True)])
def test_a_stop_during_a_retry_wait_says_whether_an_earlier_try_may_have_arrived(
    where: str, may_have_arrived: bool
) -> None:
    lead = {"id": str(uuid.uuid4()), "source": "rg-import tests", "email": "ann@example.com"}
    with start_sandbox(port=0, fault_rate=1.0, faults=("reset-after-commit",)) as cut:
        url = cut.url if where == "cut" else f"http://127.0.0.1:{closed_port()}/rest"
        with client_of(url, sleep=stop_now) as client, pytest.raises(Stopping) as caught:
            client.create_lead(SITE, lead)
    assert caught.value.maybe_applied is may_have_arrived


def test_rows_that_could_not_be_sent_do_not_exit_0(tmp_path: Path) -> None:
    """Without a breaker trip, a clean file whose rows never reached the API still exits 3."""
    clean = write_people(tmp_path / "clean.csv", 6, seed=3)
    with start_sandbox(port=0) as api:  # only for its credentials: the URL points elsewhere
        report = run(api, clean, tmp_path / "l.sqlite", new_out(tmp_path),
                     base_url=f"http://127.0.0.1:{closed_port()}/rest",
                     max_consecutive_failures=1000, **QUICK)  # fmt: skip
    assert report["leads"]["not_sent"] == 6 and report["leads"]["rejected"] == 0
    assert report["stopped"] is None and report["exit_code"] == 3
    assert report["rejects_file"] is None and report["in_doubt_file"] is None
    assert_invariant(report)


def test_an_activity_in_doubt_stays_in_doubt_when_its_resend_cannot_connect(
    tmp_path: Path,
) -> None:
    """Not reaching the server now says nothing about an earlier try that may have arrived."""
    clean = write_people(tmp_path / "clean.csv", 6, seed=5)
    ledger = tmp_path / "l.sqlite"
    with start_sandbox(port=0, fault_rate=1.0, faults=("reset-after-commit",)) as cut:
        first = run(cut, clean, ledger, new_out(tmp_path), max_consecutive_failures=1000,
                    max_attempts=1)  # fmt: skip
    doubtful = first["activities"]["in_doubt"]
    assert first["leads"]["in_doubt"] == 6 and doubtful > 0
    assert activity_states(ledger)["in_doubt"] == doubtful

    with start_sandbox(port=0) as api:
        unreachable = f"http://127.0.0.1:{closed_port()}/rest"
        second = run(api, clean, ledger, new_out(tmp_path), base_url=unreachable,
                     max_consecutive_failures=1000, **QUICK)  # fmt: skip
        assert second["leads"]["not_sent"] == 6
        assert activity_states(ledger)["in_doubt"] == doubtful
        assert activity_states(ledger)["failed"] == 0
        # so an at-most-once run still holds them instead of sending them a second time
        third = run(api, clean, ledger, new_out(tmp_path), activities_at_most_once=True)
        assert all(lead["activities"] == [] for lead in api.leads(SITE))
    assert third["activities"]["held"] == doubtful and third["exit_code"] == 3


# --------------------------------------------------------------------------- held activities


def test_held_activities_are_listed_counted_and_do_not_exit_0(tmp_path: Path) -> None:
    clean = write_people(tmp_path / "clean.csv", 6, seed=5)
    ledger = tmp_path / "l.sqlite"
    with start_sandbox(port=0, fault_rate=1.0, faults=("reset-after-commit",)) as cut:
        run(cut, clean, ledger, new_out(tmp_path), activities_at_most_once=True,
            max_consecutive_failures=1000, **QUICK)  # fmt: skip
    with Ledger(ledger, run_id="t", readonly=True) as book:
        unknown = {
            (a["lead_id"], a["activity_hash"]) for a in book.iter_activities(state="in_doubt")
        }
    assert unknown

    out = new_out(tmp_path)
    with start_sandbox(port=0) as api:
        result = run_result(api, clean, ledger, out, activities_at_most_once=True)
        stored = api.leads(SITE)
    report = shown_json(result)
    # the leads went through, their activities were held: the run says so
    assert report["leads"]["created"] == 6 and report["leads"]["in_doubt"] == 0
    assert all(lead["activities"] == [] for lead in stored)
    assert report["activities"]["held"] == report["activities"]["in_doubt"] == len(unknown)
    assert report["exit_code"] == 3
    assert report["held_file"] == str(out / "held_activities.csv")
    held = out / "held_activities.csv"
    assert mode(held) == 0o600
    header, rows = read_csv(held)
    assert header == ["row", "key", "lead_id", "type", "created", "description", "activity_hash"]
    assert {(r["lead_id"], r["activity_hash"]) for r in rows} == unknown
    ids = {r["ID"]: n for n, r in enumerate(read_csv(clean)[1], start=2)}
    assert all(ids[r["key"]] == int(r["row"]) for r in rows)
    assert_invariant(report)
    summary = run_summary(result)
    assert f"({len(unknown)} held)" in summary and f"Held:     {held}" in summary


def test_held_notes_file_neutralises_formulas(tmp_path: Path) -> None:
    ledger = tmp_path / "l.sqlite"
    header, notes = read_csv(NOTES)
    notes[0]["Subject"] = '=HYPERLINK("http://example.com")'
    edited = write_csv(tmp_path / "notes.csv", header, notes)
    with start_sandbox(port=0) as api:
        run(api, PEOPLE, ledger, new_out(tmp_path))
    out = new_out(tmp_path)
    with start_sandbox(port=0, fault_rate=1.0, faults=("reset-after-commit",)) as cut:
        report = run(cut, edited, ledger, out, mapping="followupboss_notes",
                     activities_at_most_once=True, max_consecutive_failures=1000)  # fmt: skip
    assert report["exit_code"] == 3
    held = out / "held_activities.csv"
    assert mode(held) == 0o600
    raw = held.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in raw
    _, rows = read_csv(held)
    assert len(rows) == report["activities"]["held"] > 0
    assert all(not r["description"].startswith("=") for r in rows)


@pytest.mark.parametrize("kind", ["429", "500"])
def test_a_row_turned_away_after_every_retry_is_not_a_reject(tmp_path: Path, kind: str) -> None:
    """429 after every retry applied nothing; a 500 may have: neither is the row's data refused."""
    ledger = tmp_path / "ledger.sqlite"
    with start_sandbox(port=0, fault_rate=1.0, faults=(kind,), retry_after_s=0) as busy:
        report = run(
            busy, PEOPLE, ledger, new_out(tmp_path), max_consecutive_failures=1000, **QUICK
        )
        assert busy.leads(SITE) == []
    assert_invariant(report)
    leads = report["leads"]
    landed = "not_sent" if kind == "429" else "in_doubt"
    assert leads[landed] == VALID_PEOPLE and leads["created"] == leads["updated"] == 0
    _, rejects = read_csv(Path(report["rejects_file"]))
    assert rejects and all(r["_stage"] != "send" for r in rejects)  # only the file's bad rows
    assert ledger_counts(ledger)["leads"].get("sent", 0) == 0

    with start_sandbox(port=0) as api:
        again = run(api, PEOPLE, ledger, new_out(tmp_path))
        assert len(api.leads(SITE)) == VALID_PEOPLE
    assert again["leads"]["created"] == VALID_PEOPLE
