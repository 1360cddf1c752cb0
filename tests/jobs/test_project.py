"""rg-import.toml: jobs read from it, paths relative to it, credentials refused, globs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from importer.errors import ConfigError
from importer.jobs.project import PROJECT_FILE, load_job, newest_input, project_path, read_jobs


def project(folder: Path, text: str) -> Path:
    path = folder / PROJECT_FILE
    path.write_text(text, encoding="utf-8")
    return path


def test_a_job_has_its_paths_relative_to_the_file_and_its_flags_as_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = project(tmp_path, """
[jobs.nightly]
input = "exports/people.csv"
out = "runs"
keep-runs = 3
workers = 2
yes = true
""")  # fmt: skip
    monkeypatch.chdir("/")  # the working directory does not matter
    job = load_job(path, "nightly")
    assert job.input == str(tmp_path / "exports" / "people.csv")
    assert job.out == tmp_path / "runs"
    assert job.inbox is None
    assert job.settings == {"keep_runs": 3, "workers": 2, "yes": True}


def test_the_project_file_is_found_in_the_working_directory_or_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"no rg-import\.toml in .*--config PATH"):
        project_path(None)
    with pytest.raises(ConfigError, match=r"no project file at elsewhere\.toml"):
        project_path(Path("elsewhere.toml"))
    path = project(tmp_path, "[jobs.a]\ninput = 'a.csv'\n")
    assert project_path(None) == path


@pytest.mark.parametrize(
    "line",
    ['password = "hunter2"', 'api_secret = "x"', 'token = "x"', 'RG_PASSWORD = "x"',
     'username = "me"', 'base_url = "https://me:hunter2@example.com"'],
)  # fmt: skip
def test_credentials_never_live_in_the_file(tmp_path: Path, line: str) -> None:
    path = project(tmp_path, f"[jobs.nightly]\ninput = 'a.csv'\n{line}\n")
    with pytest.raises(ConfigError, match=r"credentials never go in rg-import\.toml") as refused:
        load_job(path, "nightly")
    assert "hunter2" not in str(refused.value)


def test_a_secret_anywhere_in_the_file_is_refused(tmp_path: Path) -> None:
    path = project(tmp_path, "[jobs.a]\ninput = 'a.csv'\n[jobs.b]\ninput = 'b.csv'\ntoken = 'x'\n")
    with pytest.raises(ConfigError, match=r"jobs\.b\.token"):
        load_job(path, "a")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[jobs.a\n", "is not valid TOML"),
        ("name = 'x'\n", "unknown top-level key 'name'"),
        ("[jobs.a]\ninput = 'a.csv'\ninbox = 'drop'\n", "give input or inbox, not both"),
        ("[jobs.a]\ninput = 3\n", "input: must be a path"),
        ("[jobs.a]\ninput = 'a'\nkeep_runs = 1\nkeep-runs = 2\n", "given twice"),
        ("[jobs.a]\ninput = 'a'\nsettle_seconds = -1\n", "settle_seconds: must be a number"),
        ("[jobs.a]\ninput = 'a'\n[jobs.a.more]\nx = 1\n", "a table here"),
        ("[jobs.b]\ninput = 'a'\n", "has no job 'a'; its jobs: b"),
    ],
)
def test_a_wrong_file_is_one_clear_error(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_job(project(tmp_path, text), "a")
    assert words in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_glob_takes_its_newest_match_by_modification_time(tmp_path: Path) -> None:
    (tmp_path / "exports").mkdir()
    for day, mtime in (("01", 300), ("02", 100), ("03", 200)):
        path = tmp_path / "exports" / f"people-2024-01-{day}.csv"
        path.write_text("x\n", encoding="utf-8")
        os.utime(path, (mtime, mtime))
    (tmp_path / "exports" / "people-folder.csv").mkdir()  # a folder is no match
    path = project(tmp_path, "[jobs.a]\ninput = 'exports/people-*.csv'\n")
    assert newest_input(load_job(path, "a")) == tmp_path / "exports" / "people-2024-01-01.csv"


def test_a_glob_without_a_match_says_so(tmp_path: Path) -> None:
    path = project(tmp_path, "[jobs.a]\ninput = 'exports/people-*.csv'\n")
    with pytest.raises(ConfigError, match=r"no file matches .*people-\*\.csv"):
        newest_input(load_job(path, "a"))


def test_read_jobs_lists_every_job_in_file_order(tmp_path: Path) -> None:
    path = project(tmp_path, "[jobs.b]\ninput = 'b'\n[jobs.a]\ninbox = 'drop'\n")
    assert list(read_jobs(path)) == ["b", "a"]
