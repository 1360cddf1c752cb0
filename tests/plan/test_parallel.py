"""Checking chunks in forked processes gives exactly the outputs of checking them in place."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from importer.mapping.files import load_mapping
from importer.outputs.report import shown_json
from importer.plan.plan_file import PlanRequest, plan_file
from importer.read.options import ReadOptions
from tests.conftest import SITE, load_sample_generator
from tests.outputs.test_reasons import pivot

pytestmark = pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("par") / "people.csv"
    load_sample_generator().write_fub_people(path, 16_000, seed=11, dirty_share=0.05)
    # the first person again at the end: a duplicate key three chunks later
    rows = list(csv.reader(path.open(encoding="utf-8-sig", newline="")))
    with path.open("a", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r\n").writerow(rows[1])
    return path


def plan_with(path: Path, out: Path, processes: int, chunk_rows: int = 5_000) -> dict:  # type: ignore[type-arg]
    return shown_json(
        plan_file(
            PlanRequest(
                input=path,
                mapping=load_mapping("followupboss"),
                site=SITE,
                out=out,
                read_options=ReadOptions(chunk_rows=chunk_rows),
                processes=processes,
            )
        )
    )


# 5,000-row chunks: three pieces, two checked in children and the last by the
# parent; 2,000-row chunks: eight pieces, all checked in children (pieces this small
# are otherwise checked in place: forking would cost more)
@pytest.mark.parametrize("chunk_rows", [5_000, 2_000])
def test_forked_checking_writes_the_same_plan_and_rejects(
    big_file: Path, tmp_path: Path, chunk_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importer.plan.parallel

    monkeypatch.setattr(importer.plan.parallel, "MIN_PARALLEL_ROWS", 1_000)
    one = plan_with(big_file, tmp_path / "one", processes=1, chunk_rows=chunk_rows)
    two = plan_with(big_file, tmp_path / "two", processes=2, chunk_rows=chunk_rows)
    assert (tmp_path / "one" / "plan.csv").read_bytes() == (
        tmp_path / "two" / "plan.csv"
    ).read_bytes()
    assert (tmp_path / "one" / "rejects.csv").read_bytes() == (
        tmp_path / "two" / "rejects.csv"
    ).read_bytes()
    assert one["leads"] == two["leads"]
    assert one["warnings"]["by_code"] == two["warnings"]["by_code"]
    assert one["leads"]["rejected"] > 0
    # rows tallied per code where they were checked, and again where the file's
    # duplicates were judged (the last row's key is the first row's)
    assert one["rejects"] == two["rejects"]
    counts, lowest = pivot(tmp_path / "two" / "rejects.csv")
    assert two["rejects"]["by_code"] == dict(counts) and counts["duplicate_key"] >= 1
    assert {c: e["row"] for c, e in two["rejects"]["example_by_code"].items()} == lowest
    assert two["rejects"]["rows"] == two["leads"]["rejected"]


def test_a_duplicate_key_in_a_later_chunk_is_rejected(big_file: Path, tmp_path: Path) -> None:
    plan_with(big_file, tmp_path / "two", processes=2)
    with (tmp_path / "two" / "plan.csv").open(encoding="utf-8-sig", newline="") as f:
        last = list(csv.DictReader(f))[-1]
    assert last["row"] == "16002"
    assert last["action"] == "reject"
    assert "duplicate_key" in last["codes"]
    assert "as row 2;" in last["message"]


def test_a_small_file_has_its_last_piece_checked_by_the_parent(
    big_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importer.plan.parallel

    here: list[int] = []
    checked_here = importer.plan.parallel._checked_here

    def spy(planner, table, piece):  # type: ignore[no-untyped-def]
        rows, checked, formatted = checked_here(planner, table, piece)
        here.append(len(rows))
        return rows, checked, formatted

    monkeypatch.setattr(importer.plan.parallel, "_checked_here", spy)
    # three pieces for two workers: two children, and the parent checks the third
    options = ReadOptions(chunk_rows=5_400)
    request = PlanRequest(
        input=big_file, mapping=load_mapping("followupboss"), site=SITE, read_options=options
    )
    one = shown_json(plan_file(dataclasses.replace(request, out=tmp_path / "one", processes=1)))
    assert here == []
    two = shown_json(plan_file(dataclasses.replace(request, out=tmp_path / "two", processes=2)))
    assert len(here) == 1 and 4_000 < here[0] < 6_000
    for name in ("plan.csv", "rejects.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert one["leads"] == two["leads"] and one["input"]["rows"] == two["input"]["rows"]


def test_a_big_file_has_no_more_children_checking_than_workers(
    big_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each checking child holds its piece parsed and checked: one more child than there are
    workers only shares the same cores, and made a 1,000,000-row plan's process tree peak
    at about 780 MB of PSS instead of about 685."""
    import importer.plan.parallel

    busy_at_start: list[int] = []
    started = importer.plan.parallel._started

    def spy(planner, table, piece, pending, workers, context):  # type: ignore[no-untyped-def]
        busy_at_start.append(sum(job.running for job in pending))
        return started(planner, table, piece, pending, workers, context)

    monkeypatch.setattr(importer.plan.parallel, "_started", spy)
    # 2,000-row chunks: eight pieces for two workers, every one checked in a child (pieces
    # this small are otherwise checked in place: forking would cost more)
    monkeypatch.setattr(importer.plan.parallel, "MIN_PARALLEL_ROWS", 1_000)
    two = plan_with(big_file, tmp_path / "two", processes=2, chunk_rows=2_000)
    assert len(busy_at_start) == 8
    assert max(busy_at_start) == 1  # a child was still checking as the next one started
    one = plan_with(big_file, tmp_path / "one", processes=1, chunk_rows=2_000)
    assert one["leads"] == two["leads"]
    for name in ("plan.csv", "rejects.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
