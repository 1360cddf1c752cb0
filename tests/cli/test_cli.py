"""The command line (importer.cli.main): help, version, and one clear line for every bad input.

A command that cannot do its job must say so in one line on stderr that
starts with ``Error:``, names the problem and what to do, exit with the
documented code (2) and leave nothing behind: no traceback, no run directory,
no request sent.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from importer import __version__
from importer.cli.main import cli, main
from importer.errors import ExitCode
from tests.conftest import ROOT, SAMPLE_DATA, SITE

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"
LEGACY = SAMPLE_DATA / "followupboss_legacy_cp1252.csv"
RG_VARIABLES = ("RG_USERNAME", "RG_PASSWORD", "RG_BASE_URL", "RG_SITE", "RG_LEDGER")


def invoke(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``rg-import ARGS`` in-process through ``main``; returns (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory without .env, and no RG_* variables."""
    for name in RG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_one_error_line(code: int, out: str, err: str, *words: str) -> None:
    assert code == ExitCode.USAGE == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], (word, lines[0])


# --------------------------------------------------------------------------- help and version


def all_commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += all_commands(command, (*path, name))
        else:
            found.append((*path, name))
    return found


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p) or "rg-import")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    for flag in ("--help", "-h"):
        result = CliRunner().invoke(cli, [*path, flag])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("Usage: ")
        command: click.Command = cli
        for name in path:
            assert isinstance(command, click.Group)
            command = command.commands[name]
        assert (command.help or "").splitlines()[0].strip() in " ".join(result.output.split())


def test_the_main_commands_are_there() -> None:
    assert {("plan",), ("run",), ("sandbox",), ("ledger", "show"), ("ledger", "export")} <= set(
        all_commands()
    )


def test_help_through_main_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = invoke(capsys, "plan", "--help")
    assert code == 0 and "--mapping" in out and "--site" in out and err == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = invoke(capsys, "--version")
    assert code == 0 and out.strip() == f"rg-import, version {__version__}"


# --------------------------------------------------------------------------- bad input files


def make_inputs(tmp_path: Path) -> dict[str, Path]:
    files = {
        "missing": tmp_path / "missing.csv",
        "directory": tmp_path / "folder",
        "empty": tmp_path / "empty.csv",
        "binary": tmp_path / "picture.csv",
        "xls": tmp_path / "old.xls",
        "unclosed": tmp_path / "unclosed.csv",
    }
    files["directory"].mkdir()
    files["empty"].write_bytes(b"")
    files["binary"].write_bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256))
    )
    files["xls"].write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    # (a ragged row is a row rejected, not a bad file: see tests/read/test_row_outcomes.py)
    files["unclosed"].write_text(
        'ID,First Name,Email 1\n1,Ana,ana@example.com\n2,Bo,"bo@example.com\n3,Cy,cy@example.com\n',
        encoding="utf-8",
    )
    return files


BAD_FILES = {
    "missing": ("no such file", "check the path"),
    "directory": ("is a directory", "pass the path of a CSV or XLSX file"),
    "empty": ("is empty", "export the data again"),
    "binary": ("binary", "export the data as CSV or XLSX"),
    "xls": ("legacy Excel .xls", "save it as .xlsx or .csv"),
    "unclosed": ("a quote that is never closed, starting in row 3", "fix the quoting of that row"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_input_file_is_one_line_and_leaves_no_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    path = make_inputs(tmp_path)[case]
    out_dir = tmp_path / "out"
    code, out, err = invoke(
        capsys, "plan", str(path), "-m", "followupboss", "--site", SITE, "--out", str(out_dir), "-q"
    )
    assert_one_error_line(code, out, err, str(path), *BAD_FILES[case])
    assert not out_dir.exists()


@pytest.mark.parametrize("case", ["missing", "binary", "unclosed"])
def test_run_with_a_bad_input_file_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_env: Any, case: str
) -> None:
    path = make_inputs(tmp_path)[case]
    out_dir = tmp_path / "out"
    code, out, err = invoke(
        capsys, "run", str(path), "-m", "followupboss", "--site", SITE, "--yes", "-q",
        "--ledger", str(tmp_path / "ledger.sqlite"), "--out", str(out_dir),
    )  # fmt: skip
    assert_one_error_line(code, out, err, *BAD_FILES[case])
    assert not out_dir.exists()
    assert sandbox_env.requests_log() == []


def test_a_later_run_with_a_bad_file_leaves_no_run_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sandbox_env: Any
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    common = ["-m", "followupboss", "--site", SITE, "--yes", "-q", "--ledger", str(ledger)]
    code, _, _ = invoke(capsys, "run", str(LEGACY), *common, "--out", str(tmp_path / "first"))
    assert code == 0 and (tmp_path / "first" / "report.json").exists()
    sent = len(sandbox_env.requests_log())
    # the site is known now, so no preview runs first: the run itself finds the problem
    unclosed = make_inputs(tmp_path)["unclosed"]
    code, out, err = invoke(
        capsys, "run", str(unclosed), *common, "--out", str(tmp_path / "second")
    )
    assert_one_error_line(code, out, err, *BAD_FILES["unclosed"])
    assert not (tmp_path / "second").exists()
    assert len(sandbox_env.requests_log()) == sent


def test_a_wrong_encoding_says_which_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(
        capsys, "plan", str(LEGACY), "-m", "followupboss", "--encoding", "utf-8",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert_one_error_line(code, out, err, "is not valid utf-8", "--encoding")
    assert not (tmp_path / "out").exists()


def test_an_unknown_encoding_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(
        capsys, "plan", str(PEOPLE), "-m", "followupboss", "--encoding", "klingon",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert_one_error_line(code, out, err, "unknown encoding 'klingon'", "--encoding")


def test_a_bad_delimiter_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = invoke(
        capsys, "plan", str(PEOPLE), "-m", "followupboss", "--delimiter", ";;",
        "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert_one_error_line(code, out, err, "';;'", "one character")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- bad mappings


def test_an_unknown_mapping_name_lists_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(
        capsys, "plan", str(PEOPLE), "-m", "nosuchcrm", "--out", str(tmp_path / "o")
    )
    assert_one_error_line(
        code, out, err, "no mapping named 'nosuchcrm'", "followupboss", "give a path"
    )
    assert not (tmp_path / "o").exists()


def test_broken_mapping_yaml_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "source: S\nfields:\n  email: [Email 1\n  phone: [Phone 1]\n", encoding="utf-8"
    )
    code, out, err = invoke(
        capsys, "plan", str(PEOPLE), "-m", str(broken), "--out", str(tmp_path / "o")
    )
    assert_one_error_line(code, out, err, str(broken), "broken YAML at line", "fix the indentation")
    assert not (tmp_path / "o").exists()


def test_a_mapping_mistake_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("source: S\nfields:\n  tags: [Tags]\n", encoding="utf-8")
    code, out, err = invoke(
        capsys, "plan", str(PEOPLE), "-m", str(wrong), "--out", str(tmp_path / "o")
    )
    assert_one_error_line(
        code, out, err, f"{wrong} [fields.tags]", "note activity or source_details"
    )


def test_a_missing_key_column_names_it_and_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "other.yaml"
    mapping.write_text(
        "source: Other CRM\nkey: [Contact ID]\nkey_fallback: false\nfields:\n  first_name: [First Name]\n",
        encoding="utf-8",
    )
    code, out, err = invoke(
        capsys, "plan", str(PEOPLE), "-m", str(mapping), "--out", str(tmp_path / "o")
    )
    assert_one_error_line(code, out, err, "'Contact ID'", "'other'", "First Name", "--mapping")
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- bad flags


def test_a_bad_site_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = invoke(
        capsys,
        "plan",
        str(PEOPLE),
        "-m",
        "followupboss",
        "--site",
        "my-site",
        "--out",
        str(tmp_path / "o"),
    )
    assert_one_error_line(code, out, err, "'my-site' is not a UUID", "089df7bf-")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", str(PEOPLE), "-m", "followupboss", "--workers", "0"], ["'--workers'", "0"]),
        (
            ["run", str(PEOPLE), "-m", "followupboss", "--workers", "foo"],
            ["'--workers'", "'foo'", "'auto'"],
        ),
        (
            ["run", str(PEOPLE), "-m", "followupboss", "--workers", "auto", "--max-workers", "0"],
            ["'--max-workers'", "0"],
        ),
        (
            ["run", str(PEOPLE), "-m", "followupboss", "--update-api", "v3"],
            ["'--update-api'", "'v3'"],
        ),
        (
            ["plan", str(PEOPLE), "-m", "followupboss", "--update-api", "v0"],
            ["'--update-api'", "'v0'"],
        ),
        (["plan", "-m", "followupboss"], ["Missing argument 'INPUT'"]),
        (["plan", str(PEOPLE), "-m", "followupboss", "--bogus"], ["--bogus"]),
        (["frobnicate"], ["frobnicate"]),
    ],
    ids=[
        "workers-0",
        "workers-foo",
        "max-workers-0",
        "update-api",
        "plan-update-api",
        "no-input",
        "unknown-flag",
        "unknown-command",
    ],
)
def test_a_bad_flag_is_one_line_pointing_at_the_help(
    clean_env: Path, capsys: pytest.CaptureFixture[str], args: list[str], words: list[str]
) -> None:
    code, out, err = invoke(capsys, *args)
    assert_one_error_line(code, out, err, *words, "--help")
    assert list(clean_env.iterdir()) == []


def test_plan_with_a_ledger_that_does_not_exist(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(
        capsys, "plan", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--ledger", "nope.sqlite"
    )
    assert_one_error_line(code, out, err, "nope.sqlite does not exist", "leave out --ledger")
    assert list(clean_env.iterdir()) == []


# --------------------------------------------------------------------------- run without what it needs


def test_run_without_a_site_or_the_sandbox(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(capsys, "run", str(PEOPLE), "-m", "followupboss")
    assert_one_error_line(code, out, err, "--site is required", "RG_SITE")
    assert list(clean_env.iterdir()) == []


def test_run_without_credentials(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = invoke(capsys, "run", str(PEOPLE), "-m", "followupboss", "--site", SITE)
    assert_one_error_line(
        code, out, err, "RG_USERNAME and RG_PASSWORD not set", ".env", "--sandbox"
    )
    assert list(clean_env.iterdir()) == []


def test_run_with_only_a_user_name_names_the_missing_password(
    clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RG_USERNAME", "agent")
    code, out, err = invoke(capsys, "run", str(PEOPLE), "-m", "followupboss", "--site", SITE)
    assert_one_error_line(code, out, err, "RG_PASSWORD not set")
    assert "RG_USERNAME" not in err


@pytest.mark.parametrize(
    "url", ["http://example.com/rest", "http://10.0.0.5:8765/rest", "ftp://x/rest"]
)
def test_run_refuses_a_base_url_that_is_not_https_or_loopback(
    clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("RG_USERNAME", "agent")
    monkeypatch.setenv("RG_PASSWORD", "s3cret-password")
    code, out, err = invoke(
        capsys, "run", str(PEOPLE), "-m", "followupboss", "--site", SITE, "--base-url", url
    )
    assert_one_error_line(code, out, err, repr(url), "https://")
    assert "s3cret-password" not in err
    assert list(clean_env.iterdir()) == []


# --------------------------------------------------------------------------- --debug


def test_debug_shows_the_traceback_and_keeps_the_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.csv"
    code, out, err = invoke(capsys, "--debug", "plan", str(missing), "-m", "followupboss")
    assert code == 2 and out == ""
    assert err.startswith("Traceback (most recent call last):")
    assert "importer.errors.InputError" in err
    assert err.rstrip().splitlines()[-1] == f"Error: {missing}: no such file; check the path"


def test_as_a_process_an_error_is_one_line_and_debug_adds_the_traceback(tmp_path: Path) -> None:
    def rg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "importer", *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    mapping = tmp_path / "m.yaml"
    shutil.copy(ROOT / "mappings" / "followupboss.yaml", mapping)
    plain = rg("plan", "missing.csv", "-m", str(mapping))
    assert plain.returncode == 2 and plain.stdout == ""
    assert plain.stderr == "Error: missing.csv: no such file; check the path\n"
    debug = rg("--debug", "plan", "missing.csv", "-m", str(mapping))
    assert debug.returncode == 2
    assert "Traceback (most recent call last):" in debug.stderr
    assert list(p.name for p in tmp_path.iterdir()) == ["m.yaml"]


@pytest.mark.skipif(importlib.util.find_spec("dask") is None, reason="Dask is not installed")
def test_the_script_validates_rows_without_importing_dask(tmp_path: Path) -> None:
    """pandera's Dask annotations are marked unused in the script's process (where Dask is
    installed, building a schema would import dask.dataframe); the rows are checked all the same."""
    people = SAMPLE_DATA / "followupboss_people.csv"
    done = subprocess.run(
        [sys.executable, "-m", "importer", "plan", str(people), "-m", "followupboss",
         "--assign", "off", "--out", str(tmp_path / "plan"), "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )  # fmt: skip
    assert done.returncode in (0, 3), done.stderr[-2000:]
    assert json.loads(done.stdout)["leads"]["rejected"] > 0  # validation ran
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "pandera.typing" in imported
    assert not {"dask", "dask.dataframe"} & imported


def test_without_mapping_the_layout_is_detected_from_the_header(
    clean_env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = invoke(capsys, "plan", str(PEOPLE), "--out", str(tmp_path / "out"))
    assert code == ExitCode.REJECTS
    assert "Using mapping followupboss (Follow Up Boss, verified)" in err
    assert "with mapping followupboss" in out
    # --quiet: no notice; what makes exit 3 is one line on stderr
    code, out, err = invoke(capsys, "plan", str(PEOPLE), "--out", str(tmp_path / "q"), "-q")
    assert code == ExitCode.REJECTS and out == ""
    assert err == f"rejected 9 rows: see {tmp_path / 'q' / 'rejects.csv'}\n"


def test_without_mapping_an_unknown_header_stops_with_one_line(
    clean_env: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("Colour,Shape\nred,round\n", encoding="utf-8")
    code, out, err = invoke(capsys, "plan", str(odd), "--out", str(tmp_path / "out"))
    assert_one_error_line(code, out, err, "no mapping recognises this header", "--mapping")
    assert not (tmp_path / "out").exists()


def test_the_script_exits_after_an_orderly_shutdown() -> None:
    """The installed script skips only the interpreter's teardown: atexit handlers
    still run, the output is flushed and the exit code is the command's."""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "sys.argv = ['rg-import', 'mappings', 'show', 'no-such-mapping']\n"
        "from importer.cli.main import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.strip().endswith("atexit ran")
    assert done.stderr.startswith("Error:") and "Traceback" not in done.stderr


@pytest.mark.skipif(
    (os.cpu_count() or 1) < 2, reason="OpenBLAS starts no thread of its own on 1 CPU"
)
@pytest.mark.parametrize(("users", "threads"), [(None, 1), ("2", 2)])
def test_the_script_keeps_numpy_to_one_blas_thread(users: str | None, threads: int) -> None:
    """OpenBLAS threads spin after each call and took CPU from the sending threads: the
    script's process keeps it to its calling thread, unless the user says otherwise. The
    script's modules must not import numpy before main sets that up."""
    script = (
        "import os, sys\n"
        "import importer.cli.main as cli\n"
        "assert 'numpy' not in sys.modules, 'imported before main could set it up'\n"
        "cli._one_blas_thread()\n"
        "import numpy\n"
        "print(len(os.listdir('/proc/self/task')))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if users is not None:
        env["OPENBLAS_NUM_THREADS"] = users
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) == threads  # the main thread, and OpenBLAS's beyond it


def test_the_script_and_its_sending_processes_collect_cycles_less_often() -> None:
    """A run allocates fast and the oldest generation holds the imports of pandas and
    pandera: with Python's thresholds a run of 20,000 leads spent 4% of its CPU in full
    collections. The script's process and each sending process set importer.collector's
    thresholds; importing the library changes nothing for its callers."""
    from importer.collector import THRESHOLDS

    script = (
        "import atexit, gc, sys\n"
        "import importer.cli.main as cli\n"
        "import importer.send.process_child as child\n"
        "print(gc.get_threshold())\n"  # imported, not yet run
        "atexit.register(lambda: print(gc.get_threshold()))\n"
        "if sys.argv[1] == 'script':\n"
        "    sys.argv = ['rg-import', '--version']\n"
        "    cli.main()\n"
        "else:\n"
        "    import socket\n"
        "    ours, theirs = socket.socketpair()\n"
        "    ours.close()\n"  # the run's process already gone: the child ends at once
        "    sys.argv = ['process_child', str(theirs.fileno())]\n"
        "    child.main()\n"
    )
    for who in ("script", "child"):
        done = subprocess.run(
            [sys.executable, "-c", script, who], capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        lines = done.stdout.strip().splitlines()
        assert lines[0] != str(THRESHOLDS), who  # Python's own until main runs
        assert lines[-1] == str(THRESHOLDS), who
