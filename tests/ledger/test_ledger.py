"""The ledger: write-ahead transitions, recovery, locking, privacy, speed.

Tests taking ``ledger`` or ``ledger_spec`` run on SQLite and on PostgreSQL
(tests/ledger/conftest.py); those about the SQLite file take ``path``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import importer.ledger.queries as queries_module
from importer.errors import ExitCode, LedgerError, LedgerGone, LedgerLocked, LedgerWriteError
from importer.ledger.ledger import Ledger
from importer.ledger.records import LeadRecord
from importer.ledger.schema import LEAD_STATES, SCHEMA_VERSION
from importer.ledger.store import canonical_json, payload_hash
from importer.ledger.transitions import LeadIdConflict
from tests.conftest import ROOT, SITE

SOURCE = "followupboss"
NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


def lead_id_for(key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{SITE}/{SOURCE}/{key}"))


def begin(ledger: Ledger, key: str, payload: dict[str, Any], **kwargs: Any) -> None:
    ledger.begin_lead(
        SITE,
        SOURCE,
        key,
        kwargs.pop("lead_id", lead_id_for(key)),
        payload=payload,
        payload_hash=payload_hash(payload),
        **kwargs,
    )


def record(ledger: Ledger, key: str) -> LeadRecord:
    return ledger.lookup(SITE, SOURCE, [key])[key]


class FakeClock:
    """A clock that shows whatever time the test sets."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.sqlite"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ledger(ledger_spec: Path | str, clock: FakeClock) -> Iterator[Ledger]:
    with Ledger(ledger_spec, run_id="run-1", clock=clock) as opened:
        yield opened


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    """Start a Python child running ``code``; it prints ``ready`` when set up."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def kill(child: subprocess.Popen[str]) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()


# -- payload_hash ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(), json_values, max_size=8))
def test_payload_hash_ignores_key_order(payload: dict[str, Any]) -> None:
    reordered = dict(reversed(list(payload.items())))
    assert payload_hash(reordered) == payload_hash(payload)
    assert json.loads(canonical_json(payload)) == payload


def test_payload_hash_format_is_pinned() -> None:
    # Stored in every ledger: a change of format would make every row look changed.
    expected = hashlib.sha256('{"a":1,"b":"José ☃","c":[1,"x"]}'.encode()).hexdigest()
    assert payload_hash({"c": [1, "x"], "b": "José ☃", "a": 1}) == expected
    assert payload_hash({"b": "Jose ☃", "a": 1, "c": [1, "x"]}) != expected


def test_payload_hash_refuses_nan() -> None:
    with pytest.raises(ValueError):
        payload_hash({"price": math.nan})


# -- transitions -----------------------------------------------------------------


def test_begin_then_sent_round_trip(ledger: Ledger, clock: FakeClock) -> None:
    payload = {"first_name": "José", "email": "jose@example.com"}
    begin(ledger, "p1", payload)
    pending = record(ledger, "p1")
    assert (pending.state, pending.payload, pending.payload_hash, pending.attempts) == (
        "sending", None, None, 1,
    )  # fmt: skip
    assert pending.created_at == "2024-05-01T12:00:00.000Z"

    clock.now = datetime(2024, 5, 1, 14, 0, 5, 250000, tzinfo=timezone(timedelta(hours=2)))
    ledger.lead_sent(SITE, SOURCE, "p1", status=201)
    sent = record(ledger, "p1")
    assert sent.state == "sent"
    assert sent.payload == payload
    assert sent.payload_hash == payload_hash(payload)
    assert (sent.last_status, sent.last_error, sent.run_id) == (201, None, "run-1")
    assert sent.lead_id == lead_id_for("p1")
    assert sent.created_at == "2024-05-01T12:00:00.000Z"
    assert sent.updated_at == "2024-05-01T12:00:05.250Z"  # stored in UTC


def test_confirmed_payload_changes_only_on_sent(ledger_spec: Path | str) -> None:
    old, new = {"email": "old@example.com"}, {"email": "new@example.com"}
    with Ledger(ledger_spec, run_id="run-1") as first:
        begin(first, "p1", old)
        first.lead_sent(SITE, SOURCE, "p1", status=201)
        begin(first, "p1", new)  # then the process "crashes": no outcome recorded
    with Ledger(ledger_spec, run_id="run-2") as second:
        assert record(second, "p1").payload == old
        assert second.recover() == {"leads": 1, "activities": 0}
        doubted = record(second, "p1")
        assert (doubted.state, doubted.payload, doubted.attempts) == ("in_doubt", old, 2)
        assert "stopped" in (doubted.last_error or "")
        # the pending payload survives in doubt, so confirming it later works
        second.lead_sent(SITE, SOURCE, "p1", status=200)
        assert record(second, "p1").payload == new


def test_failed_keeps_confirmed_payload_and_drops_pending(ledger: Ledger) -> None:
    begin(ledger, "p1", {"email": "a@example.com"})
    ledger.lead_sent(SITE, SOURCE, "p1", status=201)
    begin(ledger, "p1", {"email": "not-an-email"})
    ledger.lead_failed(SITE, SOURCE, "p1", status=422, error="invalid email")
    failed = record(ledger, "p1")
    assert (failed.state, failed.payload, failed.last_status, failed.last_error) == (
        "failed", {"email": "a@example.com"}, 422, "invalid email",
    )  # fmt: skip
    with pytest.raises(ValueError, match="call begin_lead first"):
        ledger.lead_sent(SITE, SOURCE, "p1", status=200)  # nothing is being sent any more


def test_in_doubt_then_failed(ledger: Ledger) -> None:
    begin(ledger, "p1", {"email": "a@example.com"})
    ledger.lead_in_doubt(SITE, SOURCE, "p1", status=None, error="read timeout")
    assert (record(ledger, "p1").state, record(ledger, "p1").last_error) == (
        "in_doubt", "read timeout",
    )  # fmt: skip
    ledger.lead_failed(SITE, SOURCE, "p1", status=422, error="refused on retry")
    assert record(ledger, "p1").state == "failed"
    assert record(ledger, "p1").payload is None


def test_outcome_for_unknown_row_is_a_key_error(ledger: Ledger) -> None:
    with pytest.raises(KeyError):
        ledger.lead_sent(SITE, SOURCE, "never-begun", status=201)


def test_begin_refuses_a_hash_that_is_not_the_payloads(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="payload_hash"):
        ledger.begin_lead(
            SITE, SOURCE, "p1", lead_id_for("p1"), payload={"a": 1}, payload_hash="0" * 64
        )
    assert ledger.lookup(SITE, SOURCE, ["p1"]) == {}


def test_begin_without_a_hash_stores_the_payloads_own(ledger: Ledger) -> None:
    payload = {"b": "é", "a": [1, 2]}
    ledger.begin_lead(SITE, SOURCE, "p1", lead_id_for("p1"), payload=payload)
    ledger.lead_sent(SITE, SOURCE, "p1", status=201)
    sent = record(ledger, "p1")
    assert sent.payload_hash == payload_hash(payload)
    assert sent.payload == payload


def test_a_begin_whose_activity_is_not_json_writes_nothing(ledger: Ledger) -> None:
    with pytest.raises(ValueError):
        begin(ledger, "p1", {"a": 1}, activity_hashes={"h1": {"value": math.nan}})
    assert ledger.lookup(SITE, SOURCE, ["p1"]) == {}
    assert ledger.activity_states([lead_id_for("p1")]) == {lead_id_for("p1"): {}}


def test_one_row_with_the_id_and_another_owning_it_says_the_rows_own_conflict(
    ledger: Ledger,
) -> None:
    begin(ledger, "p1", {"a": 1})
    ledger.lead_sent(SITE, SOURCE, "p1", status=201)
    begin(ledger, "p2", {"a": 2})
    # p1's id may be on the server: that it belongs to p2 too is said second
    with pytest.raises(LeadIdConflict, match="cannot become"):
        begin(ledger, "p1", {"a": 1}, lead_id=lead_id_for("p2"))
    assert record(ledger, "p1").lead_id == lead_id_for("p1")


def test_lead_ids_are_normalised(ledger: Ledger) -> None:
    upper = lead_id_for("p1").upper().replace("-", "")
    begin(ledger, "p1", {"a": 1}, lead_id=upper, activity_hashes=["h1"])
    assert record(ledger, "p1").lead_id == lead_id_for("p1")
    assert ledger.activity_states([upper]) == {upper: {"h1": "sending"}}
    with pytest.raises(ValueError, match="not a UUID"):
        begin(ledger, "p2", {"a": 1}, lead_id="not-a-uuid")


def test_a_lead_id_belongs_to_one_row(ledger: Ledger) -> None:
    begin(ledger, "p1", {"a": 1})
    with pytest.raises(LeadIdConflict, match="already belongs to followupboss/p1"):
        begin(ledger, "p2", {"a": 2}, lead_id=lead_id_for("p1"))
    assert ledger.lookup(SITE, SOURCE, ["p2"]) == {}


def test_a_lead_id_changes_only_while_the_server_cannot_have_it(ledger: Ledger) -> None:
    other = str(uuid.uuid4())
    begin(ledger, "p1", {"a": 1})  # sending: the create may reach the server
    with pytest.raises(LeadIdConflict, match="cannot become"):
        begin(ledger, "p1", {"a": 1}, lead_id=other)
    ledger.lead_failed(SITE, SOURCE, "p1", status=422, error="bad")  # refused: never created
    begin(ledger, "p1", {"a": 1}, lead_id=other)
    assert record(ledger, "p1").lead_id == other
    ledger.lead_sent(SITE, SOURCE, "p1", status=201)
    begin(ledger, "p1", {"a": 2}, lead_id=other)
    ledger.lead_failed(SITE, SOURCE, "p1", status=422, error="bad update")  # exists on the server
    with pytest.raises(LeadIdConflict):
        begin(ledger, "p1", {"a": 2}, lead_id=lead_id_for("p1"))


# -- activities ------------------------------------------------------------------


def test_activities_embedded_in_a_create(ledger: Ledger) -> None:
    note = {"type": "note", "source": "crm", "description": "called"}
    begin(ledger, "p1", {"a": 1}, activity_hashes={"h-note": note, "h-visit": {"type": "visited"}})
    lead = lead_id_for("p1")
    assert ledger.activity_states([lead]) == {lead: {"h-note": "sending", "h-visit": "sending"}}
    ledger.lead_sent(SITE, SOURCE, "p1", status=201, activity_hashes=["h-note", "h-visit"])
    assert ledger.sent_activity_hashes([lead]) == {lead: {"h-note", "h-visit"}}
    stored = {a["activity_hash"]: a for a in ledger.iter_activities()}
    assert stored["h-note"]["payload"] == note
    assert stored["h-note"]["last_status"] == 201


def test_lead_outcomes_carry_their_activities(ledger: Ledger) -> None:
    begin(ledger, "p1", {"a": 1}, activity_hashes=["h1"])
    ledger.lead_in_doubt(SITE, SOURCE, "p1", status=503, error="gateway", activity_hashes=["h1"])
    assert ledger.activity_states([lead_id_for("p1")])[lead_id_for("p1")] == {"h1": "in_doubt"}
    begin(ledger, "p2", {"a": 2}, activity_hashes=["h2"])
    ledger.lead_failed(SITE, SOURCE, "p2", status=422, error="bad", activity_hashes=["h2"])
    assert ledger.activity_states([lead_id_for("p2")])[lead_id_for("p2")] == {"h2": "failed"}


def test_a_lead_outcome_with_an_unknown_activity_records_nothing(ledger: Ledger) -> None:
    begin(ledger, "p1", {"a": 1}, activity_hashes=["h1"])
    with pytest.raises(ValueError, match="not being sent"):
        ledger.lead_sent(SITE, SOURCE, "p1", status=201, activity_hashes=["h1", "h-unknown"])
    assert record(ledger, "p1").state == "sending"
    assert ledger.activity_states([lead_id_for("p1")])[lead_id_for("p1")] == {"h1": "sending"}


def test_separate_activity_posts(ledger: Ledger) -> None:
    lead = str(uuid.uuid4())  # a lead this ledger never created is fine
    ledger.begin_activities(lead, {"a1": {"type": "note"}, "a2": {"type": "note", "n": 2}})
    ledger.activities_done(lead, ["a1"], "sent", status=201)
    ledger.activities_done(lead, ["a2"], "failed", status=422, error="bad type")
    unknown = str(uuid.uuid4())
    assert ledger.activity_states([lead, unknown]) == {
        lead: {"a1": "sent", "a2": "failed"},
        unknown: {},
    }
    assert ledger.sent_activity_hashes([lead]) == {lead: {"a1"}}
    # a retry re-begins a failed activity; the payload is kept when only hashes are given
    ledger.begin_lead(SITE, SOURCE, "p9", lead, payload={"x": 1},
                      payload_hash=payload_hash({"x": 1}), activity_hashes=["a2"])  # fmt: skip
    retried = {a["activity_hash"]: a for a in ledger.iter_activities()}["a2"]
    assert (retried["state"], retried["attempts"], retried["payload"]) == (
        "sending", 2, {"type": "note", "n": 2},
    )  # fmt: skip
    with pytest.raises(ValueError, match="outcome must be one of"):
        ledger.activities_done(lead, ["a2"], "sending")
    with pytest.raises(ValueError, match="not being sent"):
        ledger.activities_done(lead, ["a1"], "sent")  # already sent: no attempt in flight


def test_recorded_activities_of_a_type_in_any_state(ledger: Ledger, clock: FakeClock) -> None:
    lead, other = str(uuid.uuid4()), str(uuid.uuid4())
    to_jane = {"type": "was_assigned", "user": {"id": "u-jane"}, "description": "Jane"}
    to_kim = {"type": "was_assigned", "user": {"id": "u-kim"}, "description": "Kim"}
    lookalike = {"type": "note", "description": '"type":"was_assigned"'}
    ledger.begin_activities(lead, {"h-jane": to_jane, "h-note": lookalike})
    ledger.activities_done(lead, ["h-jane"], "sent", status=201)
    clock.now += timedelta(minutes=1)
    ledger.begin_activities(lead, {"h-kim": to_kim})  # still sending: recorded all the same
    ledger.begin_lead(SITE, SOURCE, "p1", other, payload={"x": 1},
                      payload_hash=payload_hash({"x": 1}), activity_hashes=["h-bare"])  # fmt: skip
    found = ledger.recorded_activities([lead.upper(), other], "was_assigned")
    assert sorted(found) == sorted([lead.upper(), other])
    assert sorted((a.activity_hash, a.payload, a.created_at) for a in found[lead.upper()]) == [
        ("h-jane", to_jane, "2024-05-01T12:00:00.000Z"),
        ("h-kim", to_kim, "2024-05-01T12:01:00.000Z"),
    ]
    assert found[other] == []  # recorded without a payload: nothing to tell


def test_unknown_lead_ids_get_empty_answers(ledger: Ledger) -> None:
    lead = str(uuid.uuid4())
    assert ledger.activity_states([lead]) == {lead: {}}
    assert ledger.sent_activity_hashes([lead]) == {lead: set()}


def test_recover_turns_sending_into_in_doubt(ledger: Ledger) -> None:
    begin(ledger, "p1", {"a": 1}, activity_hashes=["h1", "h2"])
    begin(ledger, "p2", {"a": 2})
    ledger.lead_sent(SITE, SOURCE, "p2", status=201)
    ledger.begin_activities(lead_id_for("p2"), {"h3": {"type": "note"}})
    assert ledger.recover() == {"leads": 1, "activities": 3}
    assert ledger.counts() == {
        "leads": {"sending": 0, "sent": 1, "failed": 0, "in_doubt": 1},
        "activities": {"sending": 0, "sent": 0, "failed": 0, "in_doubt": 3},
    }
    assert ledger.recover() == {"leads": 0, "activities": 0}


# -- reading ---------------------------------------------------------------------


def test_find_lead_ids_returns_leads_the_server_has(ledger: Ledger) -> None:
    begin(ledger, "created", {"a": 1})
    ledger.lead_sent(SITE, SOURCE, "created", status=201)
    begin(ledger, "created-then-update-failed", {"a": 1})
    ledger.lead_sent(SITE, SOURCE, "created-then-update-failed", status=201)
    begin(ledger, "created-then-update-failed", {"a": 2})
    ledger.lead_failed(SITE, SOURCE, "created-then-update-failed", status=422, error="x")
    begin(ledger, "in-flight", {"a": 1})
    begin(ledger, "refused", {"a": 1})
    ledger.lead_failed(SITE, SOURCE, "refused", status=422, error="x")
    begin(ledger, "doubtful", {"a": 1})
    ledger.lead_in_doubt(SITE, SOURCE, "doubtful", status=None, error="timeout")
    ledger.begin_lead("other-site", SOURCE, "created", str(uuid.uuid4()), payload={"a": 1},
                      payload_hash=payload_hash({"a": 1}))  # fmt: skip
    ledger.lead_sent("other-site", SOURCE, "created", status=201)

    keys = ["created", "created-then-update-failed", "in-flight", "refused", "doubtful", "none"]
    found = ledger.find_lead_ids(SITE, [(SOURCE, k) for k in keys] + [("other-crm", "created")])
    assert found == {
        (SOURCE, "created"): lead_id_for("created"),
        (SOURCE, "created-then-update-failed"): lead_id_for("created-then-update-failed"),
    }


def test_iteration_pages_filters_and_keeps_recording_order(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries_module, "_PAGE", 3)  # force several pages
    for n in range(10):
        begin(ledger, f"k{n:02}", {"n": n}, activity_hashes=[f"h{n}"])
        if n % 2:
            ledger.lead_sent(SITE, SOURCE, f"k{n:02}", status=201, activity_hashes=[f"h{n}"])
    ledger.begin_lead("another-site", SOURCE, "k00", str(uuid.uuid4()), payload={"n": 0},
                      payload_hash=payload_hash({"n": 0}))  # fmt: skip

    everything = list(ledger.iter_leads())
    assert len(everything) == 11
    # in the order first recorded, across pages
    assert [(r.site, r.key) for r in everything] == [(SITE, f"k{n:02}") for n in range(10)] + [
        ("another-site", "k00")
    ]
    sent = list(ledger.iter_leads(state="sent", site=SITE))
    assert [r.key for r in sent] == [f"k{n:02}" for n in range(1, 10, 2)]
    assert [r.payload for r in sent] == [{"n": n} for n in range(1, 10, 2)]
    assert [r.key for r in ledger.iter_leads(site="another-site")] == ["k00"]
    assert len(list(ledger.iter_activities())) == 10
    assert {a["activity_hash"] for a in ledger.iter_activities(state="sending")} == {
        f"h{n}" for n in range(0, 10, 2)
    }
    with pytest.raises(ValueError):
        list(ledger.iter_leads(state="done"))


def test_batched_lookup_beyond_the_variable_limit_finds_every_key(
    ledger: Ledger, path: Path
) -> None:
    total, present = 120_000, 100_000
    ledger.close()
    fill_sent_leads(path, present)
    with Ledger(path, run_id="run-2") as reopened:
        # Some SQLite builds allow 999 or 32,766 variables; this one may allow more.
        reopened.store.connection().setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
        keys = [f"person-{n}" for n in range(total)]
        found = reopened.lookup(SITE, SOURCE, keys)
        assert len(found) == present
        assert found["person-99999"].payload == {"email": "person-99999@example.com"}
        assert "person-100000" not in found

        # Speed is measured by `make bench`, never here: CI machines are shared and busy.
        found = reopened.lookup(SITE, SOURCE, keys[:present])
    assert len(found) == present


def fill_sent_leads(path: Path, count: int) -> None:
    """Insert ``count`` sent leads directly: the API would need 2 commits per row."""
    rows = []
    for n in range(count):
        payload = {"email": f"person-{n}@example.com"}
        rows.append((SITE, SOURCE, f"person-{n}", lead_id_for(f"person-{n}"), "sent",
                     canonical_json(payload), payload_hash(payload), 1, 201, "run-1",
                     "2024-05-01T12:00:00.000Z", "2024-05-01T12:00:00.000Z"))  # fmt: skip
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO leads (site, source, key, lead_id, state, payload, payload_hash, "
            "attempts, last_status, run_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    conn.close()


def test_sixteen_threads_record_every_pair(ledger: Ledger) -> None:
    # fewer rows on PostgreSQL, where each commit is a round trip to the server
    threads, per_thread = 16, 50 if ledger.shared else 200
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(per_thread):
                key = f"w{worker}-{n}"
                begin(ledger, key, {"worker": worker, "n": n}, activity_hashes=[f"h{n}"])
                ledger.lead_sent(SITE, SOURCE, key, status=201, activity_hashes=[f"h{n}"])
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()

    assert errors == []
    counts = ledger.counts()
    assert counts["leads"]["sent"] == threads * per_thread
    assert counts["activities"]["sent"] == threads * per_thread
    assert sum(counts["leads"].values()) == threads * per_thread
    assert {r.attempts for r in ledger.iter_leads()} == {1}


# -- opening, locking and file safety --------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_private(ledger: Ledger, path: Path) -> None:
    begin(ledger, "p1", {"email": "a@example.com"})
    ledger.lead_sent(SITE, SOURCE, "p1", status=201)
    for suffix in ("", "-wal", "-shm", ".lock"):
        assert mode(Path(f"{path}{suffix}")) == 0o600, suffix


def test_opening_tightens_a_lax_ledger(path: Path) -> None:
    Ledger(path, run_id="run-1").close()
    path.chmod(0o644)
    with Ledger(path, run_id="run-2"):
        assert mode(path) == 0o600


def test_a_second_ledger_in_the_same_process_is_refused(ledger: Ledger, path: Path) -> None:
    with pytest.raises(LedgerLocked) as refused:
        Ledger(path, run_id="run-2")
    assert str(refused.value) == (
        f"ledger {path} is in use by another run (pid {os.getpid()}, run run-1); "
        "try again when it has finished, or pass --wait SECONDS, "
        "or use --ledger to pick another file"
    )
    # its own exit code: a scheduler tells "busy" from a configuration error (2)
    assert refused.value.exit_code == ExitCode.LOCKED == 5
    with Ledger(path, run_id="report", readonly=True) as reader:
        assert reader.counts()["leads"]["sending"] == 0


def test_a_run_waiting_for_the_ledger_takes_it_once_the_other_lets_go(
    ledger: Ledger, path: Path
) -> None:
    waiting = threading.Event()
    notices: list[str] = []

    def on_wait(notice: str) -> None:
        notices.append(notice)
        waiting.set()

    opened: list[Ledger] = []
    second = threading.Thread(
        target=lambda: opened.append(Ledger(path, run_id="run-2", wait=600, on_wait=on_wait))
    )
    second.start()
    assert waiting.wait(60)  # it waits, and says for whom
    assert not opened
    ledger.close()  # the first run ends
    second.join(60)
    assert len(opened) == 1
    opened[0].close()
    assert notices == [
        f"Waiting up to 600 s for ledger {path}, in use by another run (pid {os.getpid()}, run run-1)"
    ]


def test_a_wait_that_runs_out_still_gets_the_lock_code(ledger: Ledger, path: Path) -> None:
    with pytest.raises(LedgerLocked, match=r"in use by another run .* after waiting 0.01 s"):
        Ledger(path, run_id="run-2", wait=0.01)


def test_every_public_method_is_documented_once_where_it_is_defined(ledger: Ledger) -> None:
    # Ledger offers the methods of the objects it is built of; help() must still show them
    public = [name for name in vars(ledger) if not name.startswith("_") and name != "store"]
    assert {"begin_lead", "lead_sent", "recover", "lookup", "iter_leads"} <= set(public)
    for name in public:
        method = getattr(ledger, name)
        assert method.__doc__, name
        assert method.__self__.__class__ is not Ledger  # defined once, not copied here


def test_close_releases_the_lock(path: Path) -> None:
    Ledger(path, run_id="run-1").close()
    with Ledger(path, run_id="run-2") as second:
        begin(second, "p1", {"a": 1})
    assert Path(f"{path}.lock").read_text() == ""  # no stale holder named


HOLD = """
import sys
from importer.ledger.ledger import Ledger
ledger = Ledger(sys.argv[1], run_id="holder-run")
print("ready", flush=True)
sys.stdin.read()
"""


def test_the_lock_holds_across_processes_until_the_holder_is_killed(path: Path) -> None:
    Ledger(path, run_id="setup").close()
    child = run_python(HOLD, str(path))
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        with pytest.raises(LedgerError, match=f"pid {child.pid}, run holder-run"):
            Ledger(path, run_id="run-2")
        with Ledger(path, run_id="report", readonly=True) as reader:
            assert reader.counts()["leads"] == dict.fromkeys(LEAD_STATES, 0)
    finally:
        kill(child)
    with Ledger(path, run_id="run-3") as after:
        begin(after, "p1", {"a": 1})


TRY = """
import sys
from importer.errors import LedgerError
from importer.ledger.ledger import Ledger
try:
    Ledger(sys.argv[1], run_id="intruder")
except LedgerError as exc:
    print(exc)
    sys.exit(2)
"""


def test_another_process_is_refused_while_this_one_holds_the_ledger(
    ledger: Ledger, path: Path
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", TRY, str(path)], cwd=ROOT, capture_output=True, text=True
    )
    assert child.returncode == 2
    assert f"in use by another run (pid {os.getpid()}, run run-1)" in child.stdout


def test_every_name_of_one_ledger_meets_one_lock(
    ledger: Ledger, path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "alias.sqlite").symlink_to(path)
    os.link(path, tmp_path / "sub" / "hard.sqlite")
    monkeypatch.chdir(tmp_path / "sub")
    names = ["../alias.sqlite", "../ledger.sqlite", f"./../sub/../{path.name}", "hard.sqlite"]
    for name in names:
        with pytest.raises(LedgerError, match="is in use by another run") as refused:
            Ledger(name, run_id="run-2")
        assert str(refused.value).startswith(f"ledger {name} is in use"), name
    assert "hard link" in str(refused.value)  # the file itself is locked, not only its name


def test_a_symlinked_ledger_path_meets_the_lock_of_another_process(
    path: Path, tmp_path: Path
) -> None:
    Ledger(path, run_id="setup").close()
    alias = tmp_path / "alias.sqlite"
    alias.symlink_to(path)
    child = run_python(HOLD, str(alias))
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        with pytest.raises(LedgerError, match=f"pid {child.pid}, run holder-run"):
            Ledger(path, run_id="run-2")
    finally:
        kill(child)
    assert not Path(f"{alias}.lock").exists()  # the lock lives beside the real file


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "fifo")
    return tmp_path / "fifo"


def _dev_null(tmp_path: Path) -> Path:
    (tmp_path / "null.sqlite").symlink_to(os.devnull)
    return tmp_path / "null.sqlite"


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (lambda tmp: tmp, "a directory"),
        (_fifo, "a FIFO (named pipe)"),
        (_dev_null, "a character device"),
    ],
)
@pytest.mark.parametrize("readonly", [False, True])
def test_a_ledger_that_is_not_a_regular_file_is_refused(
    tmp_path: Path, make: Any, what: str, readonly: bool
) -> None:
    target = make(tmp_path)
    null_mode = os.stat(os.devnull).st_mode
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(LedgerError) as refused:
        Ledger(target, run_id="run-1", readonly=readonly)
    message = str(refused.value)
    assert f"is {what}, not a regular file; give --ledger the path of a file" in message
    assert "\n" not in message
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no lock file, nothing
    assert os.stat(os.devnull).st_mode == null_mode
    assert not os.path.exists(os.devnull + ".lock")


def test_a_planted_lock_symlink_is_not_followed(path: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    Path(f"{path}.lock").symlink_to(victim)
    with pytest.raises(LedgerError, match="cannot create the ledger lock file"):
        Ledger(path, run_id="run-1")
    assert victim.read_text() == "keep me"


def test_a_deleted_ledger_stops_before_the_next_write(ledger: Ledger, path: Path) -> None:
    begin(ledger, "p1", {"a": 1})
    path.unlink()
    with pytest.raises(LedgerGone) as gone:
        begin(ledger, "p2", {"a": 2})
    assert str(gone.value) == f"the ledger {path} was deleted during the run"
    assert gone.value.exit_code == ExitCode.ABORTED
    assert ledger.lookup(SITE, SOURCE, ["p2"]) == {}


def test_a_replaced_ledger_stops_before_the_next_write(
    ledger: Ledger, path: Path, tmp_path: Path
) -> None:
    begin(ledger, "p1", {"a": 1})
    Ledger(tmp_path / "other.sqlite", run_id="other").close()
    os.replace(tmp_path / "other.sqlite", path)
    with pytest.raises(LedgerGone, match="was replaced by another file during the run"):
        ledger.lead_sent(SITE, SOURCE, "p1", status=201)
    with Ledger(path, run_id="check", readonly=True) as replacement:
        assert replacement.counts()["leads"]["sent"] == 0  # nothing written into it


CRASH = """
import sys, uuid
from importer.ledger.ledger import Ledger
from importer.ledger.store import payload_hash
path, site = sys.argv[1], sys.argv[2]
ledger = Ledger(path, run_id="crashing")
n = 0
while True:
    payload = {"n": n}
    ledger.begin_lead(site, "fub", f"k{n}", str(uuid.uuid5(uuid.NAMESPACE_URL, str(n))),
                      payload=payload, payload_hash=payload_hash(payload))
    if n == 100:
        print("ready", flush=True)
    ledger.lead_sent(site, "fub", f"k{n}", status=201)
    n += 1
"""


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2])
def test_sigkill_mid_run_leaves_a_consistent_ledger(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "crash.sqlite"
    child = run_python(CRASH, str(path), SITE)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    time.sleep(delay)
    kill(child)

    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()
    with Ledger(path, run_id="next") as after:
        counts = after.counts()["leads"]
        assert counts["sending"] <= 1
        assert counts["sent"] >= 100
        for sent in after.iter_leads(state="sent"):
            assert sent.payload == {"n": int(sent.key[1:])}
        assert after.recover()["leads"] == counts["sending"]


def test_readonly_refuses_writes(ledger: Ledger, ledger_spec: Path | str) -> None:
    begin(ledger, "p1", {"a": 1})
    with Ledger(ledger_spec, run_id="report", readonly=True) as reader:
        assert record(reader, "p1").state == "sending"
        for write in (reader.recover, reader.begin_run, lambda: begin(reader, "p2", {"a": 2})):
            with pytest.raises(LedgerError, match="read-only"):
                write()
    assert ledger.lookup(SITE, SOURCE, ["p2"]) == {}


def test_readonly_refuses_missing_files(path: Path) -> None:
    with pytest.raises(LedgerError, match="no ledger at"):
        Ledger(path.with_name("missing.sqlite"), run_id="report", readonly=True)


def test_a_closed_ledger_says_so(ledger_spec: Path | str) -> None:
    closed = Ledger(ledger_spec, run_id="run-1")
    closed.close()
    closed.close()
    with pytest.raises(LedgerError, match="closed"):
        closed.counts()


@pytest.mark.parametrize("readonly", [False, True])
def test_a_file_that_is_not_sqlite_is_refused(path: Path, readonly: bool) -> None:
    path.write_bytes(b"first_name,last_name\nJose,Doe\n" * 100)
    with pytest.raises(LedgerError, match=r"is not an rg-import ledger .*--ledger"):
        Ledger(path, run_id="run-1", readonly=readonly)
    assert path.read_bytes().startswith(b"first_name")  # left untouched


def test_another_sqlite_database_is_refused(path: Path) -> None:
    with sqlite3.connect(path) as other:
        other.execute("CREATE TABLE contacts (name TEXT)")
    other.close()
    with pytest.raises(LedgerError, match="it has tables contacts"):
        Ledger(path, run_id="run-1")


def test_a_newer_schema_is_refused(path: Path) -> None:
    Ledger(path, run_id="run-1").close()
    newer = SCHEMA_VERSION + 1
    with sqlite3.connect(path) as raw:
        raw.execute(f"INSERT INTO schema_version VALUES ({newer}, '2030-01-01T00:00:00.000Z')")
    raw.close()
    with pytest.raises(LedgerError, match=f"schema version {newer}"):
        Ledger(path, run_id="run-2")


# -- a model of one row's life ---------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["begin", "sent", "failed", "in_doubt", "crash"]), max_size=10))
def test_transitions_follow_the_model(steps: list[str]) -> None:
    state: str | None = None
    confirmed: dict[str, int] | None = None
    pending: dict[str, int] | None = None
    attempts = 0
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ledger.sqlite"
        ledger = Ledger(path, run_id="model")
        try:
            for number, step in enumerate(steps):
                if step == "begin":
                    pending, state, attempts = {"v": number}, "sending", attempts + 1
                    begin(ledger, "p", pending)
                elif step == "crash":
                    ledger.close()
                    ledger = Ledger(path, run_id="model")
                    assert ledger.recover()["leads"] == (state == "sending")
                    state = "in_doubt" if state == "sending" else state
                elif state not in ("sending", "in_doubt"):
                    with pytest.raises(KeyError if state is None else ValueError):
                        getattr(ledger, f"lead_{step}")(SITE, SOURCE, "p", status=200, **(
                            {} if step == "sent" else {"error": "e"}))  # fmt: skip
                elif step == "sent":
                    ledger.lead_sent(SITE, SOURCE, "p", status=200)
                    confirmed, pending, state = pending, None, "sent"
                elif step == "failed":
                    ledger.lead_failed(SITE, SOURCE, "p", status=422, error="no")
                    pending, state = None, "failed"
                else:
                    ledger.lead_in_doubt(SITE, SOURCE, "p", status=None, error="timeout")
                    state = "in_doubt"
                found = ledger.lookup(SITE, SOURCE, ["p"]).get("p")
                if state is None:
                    assert found is None
                else:
                    assert found is not None
                    assert (found.state, found.payload, found.attempts) == (
                        state, confirmed, attempts,
                    )  # fmt: skip
        finally:
            ledger.close()


def test_a_missing_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="check that the directory exists"):
        Ledger(tmp_path / "no-such-dir" / "ledger.sqlite", run_id="run-1")


@pytest.mark.sqlite_only
def test_a_full_disk_stops_with_a_ledger_error_and_records_nothing(ledger: Ledger) -> None:
    begin(ledger, "p1", {"a": 1})
    conn = ledger.store.connection()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")  # the "disk" is now full
    with pytest.raises(LedgerWriteError, match="check free disk space") as full:
        begin(ledger, "p2", {"notes": "x" * 100_000})
    assert full.value.disk_full
    assert ledger.lookup(SITE, SOURCE, ["p2"]) == {}
    ledger.lead_sent(SITE, SOURCE, "p1", status=201)  # small writes still fit
    assert record(ledger, "p1").state == "sent"
