"""The sandbox's building blocks without HTTP: payload rules, store, faults, rate limiter."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importer.api_contract import LEAD_FIELDS, PROPERTY_INT_FIELDS
from importer.sandbox import rules
from importer.sandbox.operation import FaultPicker, RateLimiter, Recorder, retry_after_header
from importer.sandbox.store import LeadStore, StoreClosed

SITE = "089df7bf-db46-4453-b29a-6b02700c4426"

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
aware = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.one_of(st.just(UTC), offsets),
)
naive = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1))


@given(aware)
def test_isoformat_of_any_aware_datetime_is_accepted(moment: datetime) -> None:
    assert rules.is_datetime_with_offset(moment.isoformat())
    assert rules.is_datetime_with_offset(moment.astimezone(UTC).isoformat().replace("+00:00", "Z"))


@given(naive)
def test_naive_datetimes_and_bare_dates_are_refused(moment: datetime) -> None:
    assert not rules.is_datetime_with_offset(moment.isoformat())
    assert not rules.is_datetime_with_offset(moment.date().isoformat())


@given(st.uuids())
def test_every_accepted_spelling_of_an_id_normalises_alike(value: uuid.UUID) -> None:
    spellings = [str(value), value.hex, str(value).upper(), value.hex.upper()]
    assert all(rules.is_uuid(s) for s in spellings)
    assert {rules.normalize_id(s) for s in spellings} == {value.hex}
    assert rules.dashed(value.hex) == str(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "123",
        "{" + str(uuid.UUID(int=1)) + "}",
        "urn:uuid:" + str(uuid.UUID(int=1)),
        "0" * 31,
        "g" * 32,
    ],
)
def test_other_id_spellings_are_not_uuids(text: str) -> None:
    assert not rules.is_uuid(text)
    with pytest.raises(ValueError):
        rules.normalize_id(text)


@given(st.sampled_from(PROPERTY_INT_FIELDS), st.integers(min_value=-(10**12), max_value=10**12))
def test_property_integers_are_accepted(name: str, value: int) -> None:
    assert list(rules.property_problems({name: value})) == []


@given(
    st.sampled_from(PROPERTY_INT_FIELDS),
    st.one_of(
        st.floats(allow_nan=False), st.booleans(), st.text(), st.none(), st.lists(st.integers())
    ),
)
def test_property_non_integers_get_the_documented_message(name: str, value: Any) -> None:
    assert list(rules.property_problems({name: value})) == [
        f"Property field '{name}' is not a valid integer."
    ]


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=5), max_size=6))
def test_every_problem_of_a_lead_names_a_field_or_rule(extra: dict[str, str]) -> None:
    lead = {"source": "Tests", "email": "jane@example.com", **extra}
    for problem in rules.lead_problems(lead):
        assert "'" in problem or "contact field" in problem
    unknown = [k for k in extra if k not in LEAD_FIELDS]
    first = rules.first(rules.lead_problems(lead))
    if unknown:
        assert first is not None and f"'{unknown[0]}'" in first


def test_drop_unknown_fields_keeps_documented_ones_at_every_level() -> None:
    lead = {
        "source": "x",
        "tags": ["a"],
        "activities": [
            {
                "type": "note",
                "mood": "ok",
                "property": {"beds": 2, "pool": True},
                "user": {"id": "1", "name": "A"},
            },
            "not an object",
        ],
    }
    assert rules.drop_unknown_lead_fields(lead) == {
        "source": "x",
        "activities": [
            {"type": "note", "property": {"beds": 2}, "user": {"id": "1"}},
            "not an object",
        ],
    }


# --- store -------------------------------------------------------------------------


def test_store_merges_by_id_then_email_and_keeps_aliases() -> None:
    store = LeadStore()
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    store.create(SITE, lead_id=a, fields={"email": "X@example.com", "city": "Hilo"})
    store.create(
        SITE, lead_id=b, fields={"email": "x@EXAMPLE.com", "zip": "1"}, activities=[{"n": 1}]
    )
    store.create(SITE, lead_id=b, fields={"city": "Kona"}, activities=[{"n": 1}])
    store.create(SITE, lead_id=c, fields={"email": "other@example.com"})
    saved = store.leads(SITE)
    assert [s["ids"] for s in saved] == [[a, b], [c]]
    assert saved[0]["city"] == "Kona" and saved[0]["activities"] == [{"n": 1}, {"n": 1}]
    assert (
        store.resolve(SITE, uuid.UUID(b).hex) == a
        and store.resolve(SITE, str(uuid.uuid4())) is None
    )
    assert store.count() == 2


def test_store_leads_are_copies() -> None:
    store = LeadStore()
    store.create(
        SITE, lead_id=None, fields={"email": "a@example.com"}, activities=[{"type": "note"}]
    )
    store.leads(SITE)[0]["activities"].append("changed")
    assert store.leads(SITE)[0]["activities"] == [{"type": "note"}]


def test_closed_store_refuses_work() -> None:
    store = LeadStore()
    store.close()
    store.close()
    with pytest.raises(StoreClosed):
        store.create(SITE, lead_id=None, fields={})


# --- faults, rate limiter, recorder ---------------------------------------------------


@given(st.integers(), st.floats(min_value=0.01, max_value=1.0))
def test_fault_picker_is_reproducible_for_a_seed(seed: int, rate: float) -> None:
    kinds = ("500", "429", "reset")
    one, two = FaultPicker(rate, kinds, seed), FaultPicker(rate, kinds, seed)
    draws = [one.draw() for _ in range(50)]
    assert draws == [two.draw() for _ in range(50)]
    assert set(draws) <= {None, *kinds}


def test_fault_picker_extremes() -> None:
    never, always = FaultPicker(0.0, ("500",), 1), FaultPicker(1.0, ("500", "reset"), 1)
    assert {never.draw() for _ in range(100)} == {None}
    assert {always.draw() for _ in range(100)} == {"500", "reset"}


def test_rate_limiter_refills_with_time() -> None:
    now = [100.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.admit() is None and limiter.admit() is None
    wait = limiter.admit()
    assert wait == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.admit() is None
    assert limiter.admit() == pytest.approx(0.5)
    now[0] += 10
    assert [limiter.admit() for _ in range(2)] == [None, None]  # burst capped at the rate


def test_fractional_rate_limit_waits_whole_seconds() -> None:
    now = [0.0]
    limiter = RateLimiter(0.5, clock=lambda: now[0])
    assert limiter.admit() is None
    wait = limiter.admit()
    assert wait == pytest.approx(2.0) and retry_after_header(wait or 0) == "2"
    assert retry_after_header(0.01) == "1"


def test_recorder_counts_and_logs() -> None:
    recorder = Recorder(log_limit=2)
    for status, fault in (("201", None), ("500", "500"), ("reset", "reset")):
        recorder.finish(recorder.begin("POST", "/rest/x", "create_lead", {"a": 1}), status, fault)
    assert recorder.stats() == {
        "requests": {"create_lead": {"201": 1, "500": 1, "reset": 1}},
        "faults": {"500": 1, "reset": 1},
        "total": 3,
    }
    assert [e["status"] for e in recorder.requests()] == ["500", "reset"]  # the newest two
