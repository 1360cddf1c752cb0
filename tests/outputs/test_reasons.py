"""Reasons at a glance (issue 12 item 1): rows per code, most frequent first, one example each.

Counted once per row and code, as a pivot of rejects.csv's ``_code`` column
counts them; the example of a code is its lowest row, whatever order rows are
tallied in.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from importer.cli.summaries import one_line, plan_summary
from importer.mapping.files import load_mapping
from importer.models import Problem, RowWarning
from importer.outputs.reasons import Reasons, ordered, tally_warnings
from importer.outputs.report import Warnings
from importer.plan.plan_file import PlanRequest, plan_file
from tests.conftest import SAMPLE_DATA, SITE

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"


def pivot(rejects_csv: Path) -> tuple[Counter[str], dict[str, int]]:
    """Rows per code of a rejects.csv (a row counts once per code), and each code's lowest row."""
    counts: Counter[str] = Counter()
    lowest: dict[str, int] = {}
    with rejects_csv.open(encoding="utf-8-sig", newline="") as f:
        for line in csv.DictReader(f):
            for code in set(filter(None, line["_code"].split(";"))):
                counts[code] += 1
                lowest[code] = min(lowest.get(code, int(line["_row"])), int(line["_row"]))
    return counts, lowest


def test_a_row_counts_once_per_code_and_the_lowest_row_is_the_example() -> None:
    reasons = Reasons()
    reasons.add_row(9, [Problem("invalid_email", "e9"), Problem("invalid_phone", "p9")])
    reasons.add_row(4, [Problem("invalid_phone", "p4a"), Problem("invalid_phone", "p4b")])
    reasons.add_row(7, [Problem("invalid_email", "e7")])
    assert reasons.rows == 3
    assert reasons.by_code == {"invalid_email": 2, "invalid_phone": 2}
    # tallied out of order (a run's sends end in any order): the lowest row is kept
    assert reasons.examples == {"invalid_email": (7, "e7"), "invalid_phone": (4, "p4a")}
    # most frequent first, ties by code name
    reasons.add_row(12, [Problem("duplicate_key", "d")])
    assert reasons.as_json()["by_code"] == {
        "invalid_email": 2,
        "invalid_phone": 2,
        "duplicate_key": 1,
    }
    assert list(reasons.as_json()["example_by_code"]) == [
        "invalid_email",
        "invalid_phone",
        "duplicate_key",
    ]
    assert reasons.as_json()["example_by_code"]["invalid_phone"] == {"row": 4, "message": "p4a"}


def test_problems_found_later_add_only_their_new_codes() -> None:
    """A row a checking process tallied gets a duplicate found across the file: the
    row is not counted again, only the new code is."""
    found = [Problem("invalid_email", "e")]
    reasons = Reasons()
    reasons.add_row(5, found)
    found += [Problem("invalid_email", "again"), Problem("duplicate_key", "d")]
    reasons.add_row(5, found, already=1)
    assert reasons.rows == 1 and reasons.by_code == {"invalid_email": 1, "duplicate_key": 1}


def test_merged_tallies_are_the_tally_of_all_rows() -> None:
    a, b, whole = Reasons(), Reasons(), Reasons()
    rows = {3: ["x", "y"], 8: ["y"], 2: ["y", "z"], 6: ["x"]}
    for row, found in rows.items():
        problems = [Problem(c, f"{c}{row}") for c in found]
        (a if row > 4 else b).add_row(row, problems)
        whole.add_row(row, problems)
    a.merge(b)
    assert (a.rows, a.by_code, a.examples) == (whole.rows, whole.by_code, whole.examples)
    assert a.examples["y"] == (2, "y2")


def test_warnings_count_rows_per_code_and_keep_their_total() -> None:
    warnings = Warnings()
    warnings.add(
        [
            RowWarning(8, "dropped_zip", "zip 8"),
            RowWarning(3, "invalid_phone", "phone 3, column 1"),
            RowWarning(3, "invalid_phone", "phone 3, column 2"),
            RowWarning(3, "dropped_zip", "zip 3"),
        ]
    )
    warnings.add([RowWarning(2, "dropped_zip", "zip 2")])
    assert warnings.total == 5  # warnings found, as before
    assert warnings.by_code == {"dropped_zip": 3, "invalid_phone": 1}  # rows per code
    assert warnings.reasons.examples == {
        "dropped_zip": (2, "zip 2"),
        "invalid_phone": (3, "phone 3, column 1"),
    }
    empty = Reasons()
    tally_warnings(empty, [])
    assert empty.rows == 0 and not empty.by_code


def test_ordered_is_most_frequent_first_then_by_name() -> None:
    assert ordered({"b": 2, "a": 2, "c": 5}) == [("c", 5), ("a", 2), ("b", 2)]


def test_long_messages_stay_on_one_line() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    cut = one_line("word " * 40, width=30)
    assert len(cut) == 30 and cut.endswith("…") and "\n" not in cut


def test_plan_report_and_summary_name_every_reject_and_warning_code(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    result = plan_file(
        PlanRequest(input=PEOPLE, mapping=load_mapping("followupboss"), site=SITE, out=out)
    )
    report = json.loads((out / "report.json").read_text("utf-8"))
    counts, lowest = pivot(out / "rejects.csv")
    rejects = report["rejects"]
    assert rejects["rows"] == report["leads"]["rejected"] == 9
    assert rejects["by_code"] == dict(counts)
    assert list(rejects["by_code"].items()) == ordered(counts)
    assert {c: e["row"] for c, e in rejects["example_by_code"].items()} == lowest
    warnings = report["warnings"]
    assert warnings["by_code"] and set(warnings["example_by_code"]) == set(warnings["by_code"])
    text = plan_summary(result)
    rejected = text[text.index("Rejected rows by code") : text.index("Warnings by code")]
    for code, n in counts.items():
        example = rejects["example_by_code"][code]
        assert f"  {code}" in rejected and f" {n}  row {example['row']}: " in rejected
    for code in warnings["by_code"]:
        assert f"  {code} " in text[text.index("Warnings by code") :]
