"""A drop folder: which files are ready, and how a file is filed away after its run."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from importer.errors import ConfigError
from importer.jobs.inbox import FAILED, PROCESSED, file_away, ready_files

NOW = 1_700_000_000.0


def drop(folder: Path, name: str, text: str = "a,b\n1,2\n", *, age: float = 60.0) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    os.utime(path, (NOW - age, NOW - age))
    return path


def test_ready_files_are_the_plain_files_in_name_order(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", ".hidden.csv", "c.xlsx"):
        drop(tmp_path, name)
    (tmp_path / "processed").mkdir()
    (tmp_path / "sub").mkdir()
    waits: list[float] = []
    found = ready_files(tmp_path, 5.0, sleep=waits.append, clock=lambda: NOW)
    assert [p.name for p in found.ready] == ["a.csv", "b.csv", "c.xlsx"]
    assert found.still_changing == [] and waits == [5.0]


def test_a_file_growing_between_the_two_looks_is_left_for_the_next_run(tmp_path: Path) -> None:
    growing = drop(tmp_path, "b.csv")
    drop(tmp_path, "a.csv")

    def while_waiting(seconds: float) -> None:
        with open(growing, "a", encoding="utf-8") as f:
            f.write("3,4\n")
        os.utime(growing, (NOW - 60, NOW - 60))  # a copy that keeps the old time

    found = ready_files(tmp_path, 5.0, sleep=while_waiting, clock=lambda: NOW)
    assert [p.name for p in found.ready] == ["a.csv"]
    assert [p.name for p in found.still_changing] == ["b.csv"]


def test_a_file_written_in_the_last_seconds_is_left_for_the_next_run(tmp_path: Path) -> None:
    drop(tmp_path, "fresh.csv", age=1.0)
    drop(tmp_path, "old.csv", age=10.0)
    found = ready_files(tmp_path, 5.0, sleep=lambda s: None, clock=lambda: NOW)
    assert [p.name for p in found.ready] == ["old.csv"]
    assert [p.name for p in found.still_changing] == ["fresh.csv"]


def test_an_empty_inbox_waits_for_nothing(tmp_path: Path) -> None:
    def no_wait(seconds: float) -> None:
        raise AssertionError("waited")

    assert ready_files(tmp_path, 5.0, sleep=no_wait).ready == []


def test_a_missing_inbox_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"drop folder .* does not exist"):
        ready_files(tmp_path / "nope", 0)


def test_a_file_goes_to_processed_with_a_link_to_its_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "20260101T000000Z-abcd"
    run_dir.mkdir(parents=True)
    inbox = tmp_path / "drop"
    inbox.mkdir()
    moved = file_away(drop(inbox, "a.csv"), PROCESSED, run_dir=run_dir)
    assert moved == inbox / PROCESSED / "a.csv" and not (inbox / "a.csv").exists()
    link = inbox / PROCESSED / "a.csv.run"
    assert link.is_symlink() and link.resolve() == run_dir.resolve()
    assert stat.S_IMODE((inbox / PROCESSED).stat().st_mode) == 0o700
    # the same name again keeps the first one
    again = file_away(drop(inbox, "a.csv", "other\n"), PROCESSED, run_dir=run_dir)
    assert again != moved and again.read_text(encoding="utf-8") == "other\n"
    assert moved.read_text(encoding="utf-8") == "a,b\n1,2\n"


def test_a_failed_file_keeps_its_error_beside_it(tmp_path: Path) -> None:
    moved = file_away(drop(tmp_path, "bad.csv"), FAILED, note="bad.csv: is empty")
    assert moved == tmp_path / FAILED / "bad.csv"
    note = tmp_path / FAILED / "bad.csv.error.txt"
    assert note.read_text(encoding="utf-8") == "bad.csv: is empty\n"
    assert stat.S_IMODE(note.stat().st_mode) == 0o600
