"""The folder of run directories: recognising them, ``latest``, keeping the newest N."""

from __future__ import annotations

import json
import os
from pathlib import Path

from importer.outputs.run_dirs import LATEST, point_latest, prune_runs, run_id_of


def run_dir(folder: Path, run_id: str, *, report: object = None) -> Path:
    path = folder / run_id
    path.mkdir(parents=True)
    data = {"run_id": run_id} if report is None else report
    (path / "report.json").write_text(json.dumps(data), encoding="utf-8")
    return path


def test_only_directories_named_after_their_reports_run_id_are_run_directories(
    tmp_path: Path,
) -> None:
    real = run_dir(tmp_path, "20260101T000000Z-aaaa")
    renamed = run_dir(tmp_path, "mine", report={"run_id": "20260101T000000Z-bbbb"})
    no_id = run_dir(tmp_path, "20260101T000000Z-cccc", report={"something": "else"})
    not_json = tmp_path / "20260101T000000Z-dddd"
    not_json.mkdir()
    (not_json / "report.json").write_text("{", encoding="utf-8")
    unfinished = tmp_path / "20260101T000000Z-eeee"
    unfinished.mkdir()
    link = tmp_path / "20260101T000000Z-aaaa-link"
    link.symlink_to(real)
    assert run_id_of(real) == "20260101T000000Z-aaaa"
    for other in (renamed, no_id, not_json, unfinished, link, tmp_path / "missing"):
        assert run_id_of(other) is None, other


def test_prune_keeps_the_newest_n_and_touches_nothing_else(tmp_path: Path) -> None:
    """Newest by when the report was written: run ids of one second sort at random."""
    # made in this order within one second: their random suffixes sort the other way
    ids = [f"20260101T000000Z-{c * 4}" for c in "fedcba"]
    for n, run_id in enumerate(ids):
        report = run_dir(tmp_path, run_id) / "report.json"
        os.utime(report, (1_000_000 + n, 1_000_000 + n))
    mine = tmp_path / "notes"
    mine.mkdir()
    (tmp_path / "readme.txt").write_text("keep me", encoding="utf-8")
    unfinished = tmp_path / "20250101T000000Z-0000"  # a run that never wrote its report
    unfinished.mkdir()
    current = tmp_path / ids[-1]
    removed = prune_runs(tmp_path, 3, current)
    assert sorted(p.name for p in removed) == sorted(ids[:3])
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*ids[3:], "notes", "readme.txt", unfinished.name])


def test_the_current_run_is_always_kept(tmp_path: Path) -> None:
    old = run_dir(tmp_path, "20260101T000000Z-abcd")
    newer = run_dir(tmp_path, "20260301T000000Z-abcd")
    os.utime(old / "report.json", (1_000_000, 1_000_000))
    # a clock set back: the run just made is the oldest
    prune_runs(tmp_path, 1, old)
    assert old.exists() and not newer.exists()


def test_latest_is_replaced_in_one_step_and_relative(tmp_path: Path) -> None:
    first = run_dir(tmp_path, "20260101T000000Z-abcd")
    second = run_dir(tmp_path, "20260102T000000Z-abcd")
    point_latest(tmp_path, first)
    link = point_latest(tmp_path, second)
    assert link == tmp_path / LATEST
    assert os.readlink(link) == second.name
    assert link.resolve() == second.resolve()
    # no temporary link left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, second.name, LATEST])
