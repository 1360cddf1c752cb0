"""``rg-import run --executor dask``: a file's pieces sent by Dask workers, with the real engines.

PostgreSQL comes from the pgserver wheel (``postgres_url``), the cluster is
Dask's ``LocalCluster`` with worker processes, the API is the sandbox over
loopback HTTP. Every run is held to the promise of a run in one process:
each row ends in exactly one place, each valid row is one lead, and a re-run
sends nothing; and, with a worker killed half-way, Dask runs its piece again
and the piece resumes from the ledger.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from importer.cli.main import main
from importer.errors import ConfigError
from importer.mapping.files import load_mapping
from importer.outputs.report import shown_json
from importer.sandbox.runner import Sandbox
from importer.scale.executors import executor_of
from importer.scale.spread import run_spread
from importer.send.client_settings import ClientSettings
from importer.send.run import RunRequest
from tests.conftest import SITE
from tests.send.test_run import SANDBOX_LOGIN, assert_invariant, read_results, write_people

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


def leads_once(sandbox: Sandbox, report: dict[str, Any]) -> None:
    """Every row that is a lead (created, updated or unchanged) is one lead of the sandbox,
    under its own id, and the sandbox holds no other."""
    results = read_results(report)
    wanted = {r["lead_id"] for r in results if r["outcome"] in ("created", "updated", "unchanged")}
    stored = sandbox.leads(SITE)
    assert Counter(lead["id"] for lead in stored) == Counter(wanted)
    assert all(lead["ids"] == [lead["id"]] for lead in stored)  # no two rows made one lead


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    """rg-import with ``args``: its exit code, what it printed as JSON, and its stderr."""
    with pytest.raises(SystemExit) as done:
        main(args)
    out, err = capsys.readouterr()
    return int(done.value.code or 0), json.loads(out) if out.strip() else {}, err


def test_a_file_sent_in_pieces_by_local_dask_workers_ends_each_row_once(
    sandbox_env: Sandbox, postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    people = write_people(tmp_path / "people.csv", 1500, seed=11, dirty_share=0.05)
    args = ["run", str(people), "--mapping", "followupboss", "--site", SITE, "--yes", "--json",
            "--ledger", postgres_url, "--executor", "dask-local", "--processes", "2",
            "--runs-dir", str(tmp_path / "runs")]  # fmt: skip
    code, first, _ = run_cli(args, capsys)
    assert code == 3  # the dirty rows are rejected
    leads = first["leads"]
    assert leads["created"] > 1300 and leads["rejected"] > 0
    assert leads["updated"] == leads["unchanged"] == leads["in_doubt"] == leads["not_sent"] == 0
    assert_invariant(first)
    leads_once(sandbox_env, first)
    pieces = sorted((Path(first["out_dir"]) / "pieces").iterdir())
    assert len(pieces) > 1  # it was sent in pieces, each with its own report
    assert sum(json.loads((p / "report.json").read_text())["input"]["rows"] for p in pieces) == 1500
    _, rejects = read_csv_rows(Path(first["rejects_file"]))
    assert len(rejects) == leads["rejected"]

    code, second, _ = run_cli(args, capsys)
    assert second["leads"]["unchanged"] == leads["created"]
    assert second["leads"]["created"] == second["leads"]["updated"] == 0
    assert_invariant(second)
    leads_once(sandbox_env, second)


def read_csv_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    import csv

    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.fixture
def cluster_of_four(sandbox: Sandbox) -> Iterator[Any]:
    """Four worker processes of one thread each, reading the sandbox's login from their
    environment (as workers of a real cluster would)."""
    with distributed.LocalCluster(
        n_workers=4, processes=True, threads_per_worker=1, dashboard_address=None,
        env={"RG_USERNAME": "sandbox", "RG_PASSWORD": "sandbox"},
    ) as cluster, distributed.Client(cluster) as client:  # fmt: skip
        yield client


def kill_a_busy_worker(client: Any, sandbox: Sandbox, after: int, killed: list[int]) -> None:
    """Once the sandbox holds ``after`` leads, SIGKILL a worker process that is sending."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if sandbox.stats()["requests"].get("create_lead", {}).get("201", 0) >= after:
            busy = [addr for addr, keys in client.processing().items() if keys]
            if busy:
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.05)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_worker_killed_mid_run_has_its_piece_run_again_from_the_ledger(
    cluster_of_four: Any, sandbox: Sandbox, postgres_url: str, tmp_path: Path
) -> None:
    people = write_people(tmp_path / "people.csv", 20_000, seed=12, dirty_share=0.02)
    request = RunRequest(
        input=people, mapping=load_mapping("followupboss"), site=SITE, base_url=sandbox.url,
        credentials=SANDBOX_LOGIN, ledger=postgres_url, out=tmp_path / "out", workers=16,
        client_settings=ClientSettings(base_url=sandbox.url, read_timeout=10.0, pool_size=16),
    )  # fmt: skip
    killed: list[int] = []
    killer = threading.Thread(
        target=kill_a_busy_worker, args=(cluster_of_four, sandbox, 4000, killed), daemon=True
    )
    killer.start()
    address = cluster_of_four.scheduler.address
    report = shown_json(run_spread(request, executor_of("dask", address, None)))
    killer.join(timeout=5)

    assert killed, "no worker was killed while sending"
    assert report["stopped"] is None and report["input"]["read_to_end"] is True
    leads = report["leads"]
    assert leads["in_doubt"] == leads["not_sent"] == 0
    # the piece run again found the rows its killed try had sent, and sent the rest
    assert leads["unchanged"] > 0
    assert leads["created"] + leads["unchanged"] + leads["rejected"] == 20_000
    assert_invariant(report)
    leads_once(sandbox, report)


def test_a_run_declined_before_sending_stops_the_cluster_it_was_starting(
    sandbox: Sandbox, postgres_url: str, tmp_path: Path
) -> None:
    # the local cluster starts while the command asks; answered no, nothing is sent and
    # the command ends (the cluster stopped again), with no run directory made
    people = write_people(tmp_path / "people.csv", 50, seed=3)
    request = RunRequest(
        input=people, mapping=load_mapping("followupboss"), site=SITE, base_url=sandbox.url,
        credentials=SANDBOX_LOGIN, ledger=postgres_url, out=tmp_path / "out", workers=4,
    )  # fmt: skip
    asked: list[dict[str, Any]] = []

    def decline(preview: dict[str, Any]) -> bool:
        asked.append(preview)
        return False

    with pytest.raises(ConfigError, match="nothing was sent"):
        run_spread(request, executor_of("dask-local", None, 2), confirm=decline)
    assert asked and asked[0]["create"] == 50
    assert sandbox.stats()["total"] == 0
    assert not (tmp_path / "out").exists()
