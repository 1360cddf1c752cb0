"""The flags of a run on Dask, checked before anything is sent: one line and exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from importer.sandbox.runner import Sandbox
from tests.conftest import SITE
from tests.scale.test_dask_run import run_cli
from tests.send.test_run import write_people


def run_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[int, str]:
    people = write_people(tmp_path / "people.csv", 20, seed=1)
    code, _, err = run_cli(
        ["run", str(people), "--mapping", "followupboss", "--site", SITE, "--yes", *flags], capsys
    )
    return code, err


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (("--scheduler", "tcp://127.0.0.1:8786"), "--scheduler goes with --executor dask"),
        (("--processes", "2"), "--processes goes with --executor dask"),
        (("--executor", "dask"), "--scheduler tcp://HOST:8786"),
        (("--executor", "dask-local", "--scheduler", "tcp://h:1"), "use --executor dask with it"),
        (("--executor", "dask-local", "--ledger", "l.sqlite"), "--ledger postgresql://"),
        (("--executor", "dask-local", "--ledger", "postgresql://rg:secret@127.0.0.1/l"),
         "set PGPASSWORD"),
    ],
)  # fmt: skip
def test_flags_a_dask_run_cannot_use_stop_it_before_anything_is_sent(
    sandbox_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    flags: tuple[str, ...], said: str,
) -> None:  # fmt: skip
    code, err = run_flags(tmp_path, capsys, *flags)
    assert code == 2
    assert err.count("\n") == 1 and said in err and "secret" not in err
    assert sandbox_env.stats()["total"] == 0


def test_without_dask_installed_the_run_names_the_extra_to_install(
    sandbox_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed: ImportError
    code, err = run_flags(
        tmp_path, capsys, "--executor", "dask-local", "--ledger", "postgresql://rg@127.0.0.1:1/l"
    )
    assert code == 2
    assert err.count("\n") == 1 and "pip install 'rg-import[dask]'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("workers", "max_workers", "rps", "shared"),
    [
        (16, 64, 40.0, {"workers": 4, "max_workers": 64, "rps": 10.0}),
        (2, 64, None, {"workers": 1, "max_workers": 64, "rps": None}),
        # --workers auto: each task's own limit adapts within its share of --max-workers
        ("auto", 64, None, {"workers": "auto", "max_workers": 16, "rps": None}),
    ],
)  # fmt: skip
def test_each_task_gets_its_share_of_workers_and_rps(
    tmp_path: Path, workers: int | str, max_workers: int, rps: float | None,
    shared: dict[str, object],
) -> None:  # fmt: skip
    from importer.mapping.files import load_mapping
    from importer.read.records import Span
    from importer.read.spans import Cut
    from importer.scale.spread import _tasks
    from importer.send.run import RunRequest

    req = RunRequest(
        input=tmp_path / "people.csv", mapping=load_mapping("followupboss"), site=SITE,
        base_url="http://127.0.0.1:1", credentials=None, ledger="postgresql://h/l",
        workers=workers, max_workers=max_workers, rps=rps, run_id="r1",
    )  # fmt: skip
    spans = [Span(n, n + 1, n + 2, 1) for n in range(4)]
    tasks = _tasks(req, Cut(info=None, spans=spans), tmp_path, slots=4)  # type: ignore[arg-type]
    assert len(tasks) == 4
    for task in tasks:
        got = {k: getattr(task.request, k) for k in shared}
        assert got == shared


@pytest.mark.parametrize("workers", [64, "auto"])
def test_each_task_sends_from_one_process_under_send_processes_auto(
    tmp_path: Path, workers: int | str
) -> None:
    # --send-processes auto, the default, would be 2 at 64 workers in one process; a task of
    # a spread run sends from its own process, whatever the CPUs of the worker it runs on
    from importer.mapping.files import load_mapping
    from importer.read.records import Span
    from importer.read.spans import Cut
    from importer.scale.spread import _tasks
    from importer.send.run import RunRequest

    req = RunRequest(
        input=tmp_path / "people.csv", mapping=load_mapping("followupboss"), site=SITE,
        base_url="http://127.0.0.1:1", credentials=None, ledger="postgresql://h/l",
        workers=workers, max_workers=64, run_id="r1", send_processes="auto",
    )  # fmt: skip
    spans = [Span(n, n + 1, n + 2, 1) for n in range(2)]
    tasks = _tasks(req, Cut(info=None, spans=spans), tmp_path, slots=1)  # type: ignore[arg-type]
    assert [task.request.send_processes for task in tasks] == [1, 1]
