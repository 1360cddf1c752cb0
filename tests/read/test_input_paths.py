"""Inputs that are not regular files, and the run directory: what goes in and where it goes.

Piped input (``-``, /dev/stdin, a FIFO) is read once into a private copy, never
0 rows with exit 0; a run directory is never chmod-ed unless rg-import made it,
never written through a planted link, and never mixed with an earlier run's files.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from importer.errors import InputError
from importer.read.table import open_table
from tests.cli.test_cli import assert_one_error_line, invoke
from tests.conftest import ROOT, SAMPLE_DATA, SITE

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"
PEOPLE_ROWS = 56


def rg(
    *args: str, cwd: Path, stdin: Any = subprocess.DEVNULL, data: bytes | None = None, **env: str
) -> subprocess.CompletedProcess[bytes]:
    """``rg-import ARGS`` as a process (standard input is real only there)."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "importer", *args],
        cwd=cwd, input=data, stdin=None if data is not None else stdin,
        capture_output=True, env=environment, timeout=120, check=False,
    )  # fmt: skip


def report(out_dir: Path) -> dict[str, Any]:
    return dict(json.loads((out_dir / "report.json").read_text(encoding="utf-8")))


# --------------------------------------------------------------------------- piped input


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_piped_input_is_planned_in_full(tmp_path: Path, name: str) -> None:
    spool = tmp_path / "tmp"
    spool.mkdir()
    done = rg(
        "plan", name, "-m", "followupboss", "--out", "out",
        cwd=tmp_path, data=PEOPLE.read_bytes(), TMPDIR=str(spool),
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # the sample has rejects on purpose
    data = report(tmp_path / "out")
    assert data["input"]["rows"] == PEOPLE_ROWS
    assert data["input"]["path"] == ("standard input" if name == "-" else name)
    assert f"Planned {PEOPLE_ROWS} rows of" in done.stdout.decode()
    assert list(spool.iterdir()) == []  # the private copy is gone


def test_a_fifo_is_read_once_and_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "export.csv"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as writer:  # opens once the reader does, as a shell would
            writer.write(PEOPLE.read_bytes())

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    done = rg("plan", str(fifo), "-m", "followupboss", "--out", "out", "-q", cwd=tmp_path)
    writer.join(timeout=60)
    assert done.returncode == 3, done.stderr
    assert report(tmp_path / "out")["input"]["rows"] == PEOPLE_ROWS


def test_run_reads_standard_input(tmp_path: Path, sandbox: Any) -> None:
    done = rg(
        "run", "-", "-m", "followupboss", "--site", SITE, "--yes", "-q",
        "--ledger", "ledger.sqlite", "--out", "out",
        cwd=tmp_path, data=PEOPLE.read_bytes(),
        RG_USERNAME="sandbox", RG_PASSWORD="sandbox", RG_BASE_URL=sandbox.url,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    data = report(tmp_path / "out")
    assert data["input"]["rows"] == PEOPLE_ROWS and data["invariant_holds"]
    assert data["leads"]["created"] > 0
    assert data["leads"]["created"] == len(
        [r for r in sandbox.requests_log() if r["method"] == "POST"]
    )


def test_empty_standard_input_is_one_line_naming_it(tmp_path: Path) -> None:
    done = rg("plan", "-", "-m", "followupboss", "--out", "out", cwd=tmp_path, data=b"")
    assert done.returncode == 2
    assert (
        done.stderr.decode() == "Error: standard input: is empty (0 bytes); export the data again\n"
    )
    assert not (tmp_path / "out").exists()


def test_a_terminal_as_standard_input_is_refused(tmp_path: Path) -> None:
    leader, follower = os.openpty()
    try:
        done = rg("plan", "-", "-m", "followupboss", cwd=tmp_path, stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2
    assert "standard input is a terminal" in done.stderr.decode()


def test_the_library_refuses_a_pipe_instead_of_reading_it_twice(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)  # no writer: opening it would block for ever
    with pytest.raises(InputError, match="is a pipe or device, not a regular file"):
        open_table(fifo)


# --------------------------------------------------------------------------- the run directory


def test_out_dot_keeps_the_mode_of_the_working_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o2775)
    monkeypatch.chdir(shared)
    code, _, err = invoke(capsys, "plan", str(PEOPLE), "-m", "followupboss", "--out", ".", "-q")
    assert code == 3, err
    assert stat.S_IMODE(shared.stat().st_mode) == 0o2775
    assert stat.S_IMODE((shared / "plan.csv").stat().st_mode) == 0o600


def test_a_made_run_directory_is_private(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs" / "first"
    code, _, err = invoke(
        capsys, "plan", str(PEOPLE), "-m", "followupboss", "--out", str(out), "-q"
    )
    assert code == 3, err
    assert stat.S_IMODE(out.stat().st_mode) == 0o700


def test_a_reused_out_is_refused_and_overwrite_leaves_no_old_rejects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, _, _ = invoke(capsys, "plan", str(PEOPLE), "-m", "followupboss", "--out", str(out), "-q")
    assert code == 3 and (out / "rejects.csv").exists()
    clean = tmp_path / "clean.csv"
    clean.write_text("Email 1,First Name\nana@example.com,Ana\n", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    args = ["plan", str(clean), "-m", "followupboss", "--out", str(out), "-q"]
    code, out_text, err = invoke(capsys, *args)
    assert_one_error_line(code, out_text, err, str(out), "rejects.csv", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    code, _, err = invoke(capsys, *args, "--overwrite")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["plan.csv", "report.html", "report.json"]
    assert report(out)["rejects_file"] is None


def test_a_link_planted_in_the_run_directory_is_not_followed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "rejects.csv").symlink_to(victim)
    args = ["plan", str(PEOPLE), "-m", "followupboss", "--out", str(out), "-q"]
    code, out_text, err = invoke(capsys, *args)
    assert_one_error_line(code, out_text, err, "rejects.csv", "--overwrite")
    code, _, _ = invoke(capsys, *args, "--overwrite")
    assert code == 3
    assert victim.read_text(encoding="utf-8") == "precious"
    assert not (out / "rejects.csv").is_symlink() and (out / "rejects.csv").stat().st_size > 0


def test_run_into_a_used_directory_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_env: Any
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("{}", encoding="utf-8")
    code, out_text, err = invoke(
        capsys, "run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--yes", "-q",
        "--ledger", str(tmp_path / "ledger.sqlite"), "--out", str(out),
    )  # fmt: skip
    assert_one_error_line(code, out_text, err, "report.json", "--overwrite")
    # nothing sent: at most the site's users were listed (a read, for assign:)
    assert [r for r in sandbox_env.requests_log() if r["method"] != "GET"] == []


# --------------------------------------------------------------------------- workbooks


def test_a_zip_bomb_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.read.test_read import bomb_xlsx

    path = bomb_xlsx(tmp_path / "export.xlsx", 128)
    out = tmp_path / "out"
    code, out_text, err = invoke(
        capsys, "plan", str(path), "-m", "generic", "--out", str(out), "-q"
    )
    assert_one_error_line(code, out_text, err, str(path), "a zip bomb?")
    assert not out.exists()


def test_formula_cells_read_as_empty_are_named_in_the_summary_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["Email", "First Name", "Last Name"])
    workbook.active.append(["ana@example.com", '="An"&"a"', "Smith"])
    path = tmp_path / "formulas.xlsx"
    workbook.save(path)
    out = tmp_path / "out"
    code, text, err = invoke(capsys, "plan", str(path), "-m", "generic", "--out", str(out))
    assert code == 0, err
    warning = (
        "sheet 'Sheet': 1 formula cell has no saved result and read as empty (B2); "
        "open the workbook in Excel and save it again to keep its value"
    )
    assert f"  warning: {warning}" in text.splitlines()
    assert report(out)["input"]["warnings"] == [warning]


def test_the_workbook_limits_are_set_by_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.append(["Email", "First Name"])
    for i in range(50):
        workbook.active.append([f"a{i}@example.com", f"n{i}"])
    path = tmp_path / "cells.xlsx"
    workbook.save(path)
    monkeypatch.setenv("RG_MAX_CELLS", "60")
    code, text, err = invoke(
        capsys, "plan", str(path), "-m", "generic", "--out", str(tmp_path / "o")
    )
    assert_one_error_line(code, text, err, "holds more than 60 cells", "RG_MAX_CELLS")
    monkeypatch.setenv("RG_MAX_CELLS", "lots")
    code, text, err = invoke(
        capsys, "plan", str(path), "-m", "generic", "--out", str(tmp_path / "o")
    )
    assert_one_error_line(code, text, err, "RG_MAX_CELLS='lots' must be a whole number")
