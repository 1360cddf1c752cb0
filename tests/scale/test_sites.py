"""``rg-import sites``: many sites, each its own run on one Dask cluster, one summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.sandbox.runner import Sandbox
from tests.conftest import SITE
from tests.scale.test_dask_run import leads_once, run_cli
from tests.send.test_run import assert_invariant, write_people

pytest.importorskip("distributed")

OTHER_SITE = "5d9c3a0e-2f4b-4c1d-9e8a-7b6c5d4e3f21"


@pytest.mark.slow
def test_each_site_of_a_sites_file_is_its_own_run_with_its_own_report(
    sandbox_env: Sandbox, postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_people(tmp_path / "north.csv", 300, seed=21)
    write_people(tmp_path / "south.csv", 200, seed=22)
    sites_file = tmp_path / "sites.csv"
    sites_file.write_text(
        f"input,mapping,site\nnorth.csv,followupboss,{SITE}\nsouth.csv,followupboss,{OTHER_SITE}\n",
        encoding="utf-8",
    )
    code, summary, _ = run_cli(
        ["sites", str(sites_file), "--ledger", postgres_url, "--executor", "dask-local",
         "--processes", "2", "--yes", "--json", "--runs-dir", str(tmp_path / "runs")],
        capsys,
    )  # fmt: skip
    assert code == summary["exit_code"] == 0
    ended = {site["site_uuid"]: site for site in summary["sites"]}
    assert set(ended) == {SITE, OTHER_SITE}
    for site_uuid, rows in ((SITE, 300), (OTHER_SITE, 200)):
        report = json.loads(Path(ended[site_uuid]["report_file"]).read_text(encoding="utf-8"))
        assert report["site_uuid"] == site_uuid and report["input"]["rows"] == rows
        assert report["leads"]["created"] == rows == ended[site_uuid]["leads"]["created"]
        assert_invariant(report)
        stored = {lead["id"] for lead in sandbox_env.leads(site_uuid)}
        assert len(stored) == rows
    leads_once(sandbox_env, json.loads(Path(ended[SITE]["report_file"]).read_text()))


def test_a_sites_file_without_its_columns_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sites_file = tmp_path / "sites.csv"
    sites_file.write_text("input,site\nnorth.csv,x\n", encoding="utf-8")
    code, _, err = run_cli(["sites", str(sites_file), "--yes"], capsys)
    assert code == 2
    assert err.count("\n") == 1 and "missing: mapping" in err
