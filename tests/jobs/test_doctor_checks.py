"""The doctor's checks as a library: free disk space, and how problems make the exit code."""

from __future__ import annotations

from pathlib import Path

from importer.jobs.doctor import PROBLEM, Check, DoctorRequest, exit_code, run_doctor


def test_too_little_free_space_beside_the_ledger_and_outputs_is_a_problem(tmp_path: Path) -> None:
    request = DoctorRequest(
        env={},
        base_url="http://127.0.0.1:9/rest",
        site=None,
        ledger=tmp_path / "ledgers" / "ledger.sqlite",  # folder not made: its parent is measured
        runs_dir=tmp_path / "runs",
        min_free_bytes=1 << 62,  # more than any disk holds
    )
    checks = {c.name: c for c in run_doctor(request)}
    for name in ("disk (ledger)", "disk (outputs)"):
        assert checks[name].status == PROBLEM
        assert checks[name].message.startswith("only ") and str(tmp_path) in checks[name].message
        assert "free at least" in checks[name].message
    assert checks["ledger"].status == PROBLEM and "does not exist" in checks["ledger"].message
    assert list(tmp_path.iterdir()) == []


def test_refused_credentials_outrank_other_problems() -> None:
    ok = Check("a", "ok", "fine")
    usage = Check("b", PROBLEM, "bad", 2)
    refused = Check("c", PROBLEM, "refused", 4)
    assert exit_code([ok]) == 0
    assert exit_code([ok, usage]) == 2
    assert exit_code([usage, refused, ok]) == 4
    assert exit_code([ok, Check("d", "skipped", "not checked")]) == 0
