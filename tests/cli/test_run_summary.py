"""What ``rg-import run`` prints for an activity file: rows and activities, each said for what it is.

The demo's notes step used to print ``rejected 5`` beside ``activities: 25 sent,
0 unchanged, 0 rejected``, which reads as a contradiction: the five are rows
refused by our checks before any activity was built, so no activity of theirs
exists to be rejected. Run here as the demo runs it, through the command line
against the embedded sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.cli.main import main
from tests.conftest import SAMPLE_DATA

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"
NOTES = SAMPLE_DATA / "followupboss_notes.csv"


def sandbox_run(path: Path, mapping: str, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        main(["run", "--sandbox", str(path), "--mapping", mapping, "--out", str(out)])
    assert done.value.code == 3  # both sample files have rejects on purpose
    return capsys.readouterr().out


def test_an_activity_file_counts_rows_and_activities_under_their_own_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("RG_USERNAME", "RG_PASSWORD", "RG_BASE_URL", "RG_SITE", "RG_LEDGER"):
        monkeypatch.delenv(name, raising=False)
    people = sandbox_run(PEOPLE, "followupboss", tmp_path / "people", capsys)
    printed = sandbox_run(NOTES, "followupboss_notes", tmp_path / "notes", capsys)
    report = json.loads((tmp_path / "notes" / "report.json").read_text("utf-8"))
    rows, acts = report["leads"], report["activities"]
    assert (rows["created"], rows["rejected"], acts["sent"], acts["rejected"]) == (25, 5, 25, 0)

    lines = printed.splitlines()
    assert lines[1:5] == [
        "  rows sent            25  (their activities reached their leads)",
        "  rows unchanged        0  (their activities were all sent before)",
        "  rows rejected         5  (refused by rg-import's checks before any activity was "
        "built, or by the API)",
        "  activities built from rows: 25 sent, 0 unchanged, 0 rejected by the API, 0 in doubt, "
        "0 possible duplicates",
    ]
    # no bare count left to be read as a lead count or an activity count
    assert not any(line.startswith(("  sent ", "  rejected ", "  activities:")) for line in lines)
    # a lead file keeps its lead counts and activity line as they were
    assert "  created         47" in people.splitlines()
    # (74 from the mapping's activities, and 20 was_assigned: the leads owned by the
    # sandbox team's Jane Doe and Maria Garcia, see importer/sandbox/users.py)
    assert (
        "  activities: 94 sent, 0 unchanged, 0 rejected, 0 in doubt, 0 possible duplicates"
        in people
    )
