"""One vocabulary for a row's outcome, typed results of plan and run, one report builder.

A plan and a run of the same file, against the sandbox over loopback: each
returns its typed result, report.json is exactly what the builder makes of it,
and the two reports share their field names (the plan adds its predicted ones).
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from pathlib import Path

from importer.config import Credentials
from importer.errors import ExitCode
from importer.mapping.files import load_mapping
from importer.models import PLANNED, Outcome
from importer.outputs.report import PlanResult, RunResult, plan_leads, report_json, shown_json
from importer.plan.plan_file import PlanRequest, plan_file
from importer.sandbox.runner import start_sandbox
from importer.send.run import LEAD_RESULTS, RunRequest, run_file
from tests.conftest import ROOT, SAMPLE_DATA, SITE

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"

# report.json fields that mean the same in a plan and a run
SHARED = {
    "run_id", "command", "input", "mapping", "site_uuid", "leads", "warnings",
    "rejects_file", "rejects_workbook", "duration_s", "exit_code", "rejects", "problems",
}  # fmt: skip


def test_one_outcome_names_a_planned_row_and_a_finished_one() -> None:
    assert [o.value for o in PLANNED] == ["create", "update", "unchanged", "reject"]
    assert LEAD_RESULTS == ("created", "updated", "unchanged", "rejected", "in_doubt", "not_sent")
    assert [o.done for o in Outcome] == list(LEAD_RESULTS)
    counts = Counter({Outcome.CREATE: 2, Outcome.REJECT: 1})
    assert plan_leads(counts) == {"create": 2, "update": 0, "unchanged": 0, "rejected": 1}


def test_plan_and_run_return_results_their_reports_are_built_from(tmp_path: Path) -> None:
    mapping = load_mapping("followupboss")
    plan = plan_file(PlanRequest(input=PEOPLE, mapping=mapping, site=SITE, out=tmp_path / "p"))
    assert isinstance(plan, PlanResult)
    assert plan.leads[Outcome.CREATE] == 47 and plan.leads[Outcome.REJECT] == 9
    assert plan.exit_code is ExitCode.REJECTS
    planned = json.loads((tmp_path / "p" / "report.json").read_text("utf-8"))
    assert planned == report_json(plan)
    assert shown_json(plan) == {**planned, "out_dir": str(tmp_path / "p")}

    with start_sandbox(port=0) as sandbox:
        request = RunRequest(
            input=PEOPLE, mapping=mapping, site=SITE, base_url=sandbox.url,
            credentials=Credentials("sandbox", "sandbox"), ledger=tmp_path / "l.sqlite",
            out=tmp_path / "r",
        )  # fmt: skip
        run = run_file(request)
    assert isinstance(run, RunResult)
    # what the plan said a run would do is what the run did
    assert run.leads[Outcome.CREATE] == plan.leads[Outcome.CREATE]
    assert run.leads[Outcome.REJECT] == plan.leads[Outcome.REJECT]
    assert run.invariant_holds and run.report_file == tmp_path / "r" / "report.json"
    sent = json.loads(run.report_file.read_text("utf-8"))
    assert sent == report_json(run)
    assert set(planned) & set(sent) == SHARED
    # (plan also shows the owners of a mapping with assign: and the users they match)
    assert set(planned) - SHARED == {"plan_file", "agents"}
    # the plan's counts are predictions; "unchanged" and "rejected" mean the same in both
    assert set(planned["leads"]) & set(sent["leads"]) == {"unchanged", "rejected"}
    assert set(planned["warnings"]) - set(sent["warnings"]) == {"examples"}
    assert planned["input"] == {k: v for k, v in sent["input"].items() if k != "read_to_end"}


def test_the_orchestrators_read_in_one_screen() -> None:
    """``plan_file`` and ``run_file`` are short sequences of named steps (issue 11)."""
    for path in ("importer/plan/plan_file.py", "importer/send/run.py"):
        tree = ast.parse((ROOT / path).read_text("utf-8"))
        long = [
            (node.name, node.end_lineno - node.lineno + 1)  # type: ignore[operator]
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno >= 60  # type: ignore[operator]
        ]
        assert long == [], path
