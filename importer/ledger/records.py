"""What the ledger hands out: a lead's record, a rejected row it remembers, a run,
an activity recorded for a lead."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from importer.models import Problem

# the columns ``decode_leads`` expects, in this order
LEAD_COLUMNS = (
    "site, source, key, lead_id, state, payload, payload_hash, attempts, "
    "last_status, last_error, run_id, created_at, updated_at"
)


@dataclass(frozen=True)
class CachedReject:
    """A row that failed validation, as the ledger remembers it by its digest."""

    digest: str
    key: str
    problems: tuple[Problem, ...]
    warnings: tuple[tuple[str, str], ...] = ()  # (code, message)

    def to_json(self) -> str:
        return json.dumps(
            {
                "problems": [[p.code, p.message, p.column] for p in self.problems],
                "warnings": [list(w) for w in self.warnings],
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, digest: str, key: str, text: str) -> CachedReject:
        data = json.loads(text)
        return cls(
            digest,
            key,
            tuple(Problem(code, message, column) for code, message, column in data["problems"]),
            tuple((code, message) for code, message in data.get("warnings", [])),
        )


@dataclass(frozen=True)
class LeadRecord:
    """What the ledger knows about one source row.

    ``payload`` is the last payload (lead fields, no activities) the server
    confirmed, None if none ever was; ``attempts`` counts ``begin_lead`` calls
    over all runs; ``run_id`` is the run that last began sending the row.
    """

    site: str
    source: str
    key: str
    lead_id: str
    state: str
    payload: dict[str, Any] | None
    payload_hash: str | None
    attempts: int
    last_status: int | None
    last_error: str | None
    run_id: str
    created_at: str
    updated_at: str


def decode_leads(rows: list[tuple[Any, ...]]) -> list[LeadRecord]:
    # One json.loads over all payloads is ~3x faster than one call per row;
    # the texts are canonical JSON written by the ledger itself.
    texts = [row[5] for row in rows if row[5] is not None]
    decoded = iter(json.loads("[" + ",".join(texts) + "]"))
    return [
        LeadRecord(
            row[0], row[1], row[2], row[3], row[4],
            None if row[5] is None else next(decoded),
            row[6], row[7], row[8], row[9], row[10], row[11], row[12],
        )  # positional: measurably faster than keywords for 100,000 records
        for row in rows
    ]  # fmt: skip


@dataclass(frozen=True)
class RunRecord:
    """A run that opened the ledger to send.

    ``creations_known``: the ledger recorded which leads the run created (False
    for a run found in a ledger written by an rg-import before schema version 2).
    """

    run_id: str
    recorded_at: str
    creations_known: bool


@dataclass(frozen=True)
class RecordedActivity:
    """An activity the ledger recorded for a lead, whatever its state.

    ``activity_hash`` is the hash it is kept under, ``payload`` what was (or is
    to be) posted, ``created_at`` when it was first recorded.
    """

    activity_hash: str
    payload: dict[str, Any]
    created_at: str
