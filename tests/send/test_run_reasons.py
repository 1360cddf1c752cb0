"""A run's reasons at a glance (issue 12 item 1): rejects per code include the server's.

The server is a scripted one on loopback: it refuses the first lead it gets
with a 422 and creates the others, so one row that passed our checks is
rejected at the send stage.
"""

from __future__ import annotations

import json
from pathlib import Path

from importer.cli.summaries import run_summary
from importer.outputs.reasons import ordered
from tests.outputs.test_reasons import pivot
from tests.send.test_client import CREATED, json_answer, scripted
from tests.send.test_run import PEOPLE, read_csv, run_result

REFUSED = json_answer(422, {"error": "Field 'email' is not accepted here."})


def test_run_rejects_by_code_count_plan_and_send_stage_rejects(tmp_path: Path) -> None:
    with scripted(REFUSED, CREATED) as server:
        result = run_result(server, PEOPLE, tmp_path / "l.sqlite", tmp_path / "out", workers=1)  # type: ignore[arg-type]
    report = json.loads((tmp_path / "out" / "report.json").read_text("utf-8"))
    _, rows = read_csv(tmp_path / "out" / "rejects.csv")
    refused = [r for r in rows if r["_stage"] == "send"]
    assert len(refused) == 1 and refused[0]["_code"] == "http_422"
    counts, lowest = pivot(tmp_path / "out" / "rejects.csv")
    rejects = report["rejects"]
    assert rejects["rows"] == report["leads"]["rejected"] == len(rows) == 10  # 9 planned, 1 refused
    assert rejects["by_code"] == dict(counts) and counts["http_422"] == 1
    assert list(rejects["by_code"].items()) == ordered(counts)
    assert rejects["example_by_code"]["http_422"] == {
        "row": int(refused[0]["_row"]),
        "message": "the API refused the lead: Field 'email' is not accepted here.",
    }
    assert {c: e["row"] for c, e in rejects["example_by_code"].items()} == lowest
    text = run_summary(result)
    assert text.index("requests:") < text.index("Rejected rows by code")
    assert "  http_422 " in text and f"row {refused[0]['_row']}: the API refused the lead" in text
