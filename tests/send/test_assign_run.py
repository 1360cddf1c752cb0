"""Leads keep their agents: a Follow Up Boss export migrated with its owners (issue 14).

Everything goes through ``rg-import`` against a real sandbox on loopback,
seeded with users: owners matched by exact name, "Last, First", accents and
email get exactly one ``was_assigned`` each; an unknown and an ambiguous owner
are sent with a warning and their name in the note; a re-run sends nothing,
and a changed owner exactly one new ``was_assigned``, also when it changes
back to an earlier owner (agent and lender alike). ``plan`` shows every
owner before anything is sent, and its agents.csv comes back as --agent-map.
"""

from __future__ import annotations

import csv
import json
import stat
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

from importer.cli.main import main
from importer.errors import ExitCode
from importer.ledger.ledger import Ledger
from importer.mapping.apply import lead_id_for
from importer.plan.assignments import assignment_hash
from importer.sandbox.runner import Sandbox, start_sandbox

SITE = "3f6c2b1e-9d4a-4e0b-8c7f-2a1b3c4d5e6f"
SOURCE = "Follow Up Boss import"

USERS = [
    {"id": "u-jane", "name": "Jane Doe", "email": "jane.doe@example.com", "role": "Agent", "admin": True},
    {"id": "u-rene", "name": "René Lévesque", "email": "rene@example.com", "role": "Agent", "admin": False},
    {"id": "u-sam1", "name": "Sam Lee", "email": "sam.lee@example.com", "role": "Agent", "admin": False},
    {"id": "u-sam2", "name": "Sam Lee", "email": "s.lee@example.com", "role": "Agent", "admin": False},
    {"id": "u-kim", "name": "Kim Park", "email": "kim.park@example.com", "role": "Lender", "admin": False},
]  # fmt: skip

HEADER = ["ID", "First Name", "Last Name", "Email 1", "Stage", "Assigned To"]
# ID -> Assigned To as the export has it, and the user it stands for (None: not assigned)
OWNERS: dict[str, tuple[str, str | None]] = {
    "101": ("Jane Doe", "u-jane"),  # the exact name
    "102": ("Doe, Jane", "u-jane"),  # "Last, First"
    "103": ("Levesque, Rene", "u-rene"),  # "Last, First" without the accents
    "104": ("KIM.PARK@example.com", "u-kim"),  # an email
    "105": ("Nobody Known", None),  # no such user: unknown_agent
    "106": ("Sam Lee", None),  # two users of that name: ambiguous_agent
    "107": ("", None),  # no owner at all
}


def write_export(
    path: Path, owners: dict[str, tuple[str, str | None]], moved: Collection[str] = ()
) -> Path:
    """The export of these owners; the people whose key is in ``moved`` have a new email."""
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(HEADER)
        for n, (key, (owner, _)) in enumerate(owners.items()):
            email = f"p{key}@example.{'org' if key in moved else 'net'}"
            out.writerow([key, f"Person{n}", "Tester", email, "Lead", owner])
    return path


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sandbox: Sandbox) -> Sandbox:
    """The sandbox with the users above, sandbox credentials, and a clean working directory."""
    sandbox.seed_users(USERS)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RG_USERNAME", "sandbox")
    monkeypatch.setenv("RG_PASSWORD", "sandbox")
    for name in ("RG_SITE", "RG_BASE_URL", "RG_LEDGER"):
        monkeypatch.delenv(name, raising=False)
    return sandbox


def rg_import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def run(sandbox: Sandbox, path: Path, tmp: Path, out: str, *extra: str) -> list[str]:
    return [
        "run", str(path), "-m", "followupboss", "--site", SITE, "--base-url", sandbox.url,
        "--ledger", str(tmp / "ledger.sqlite"), "--out", str(tmp / out), "--yes", *extra,
    ]  # fmt: skip


def report(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return data


def leads(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    """The site's leads by their source key."""
    by_id = {lead["id"]: lead for lead in sandbox.leads(SITE)}
    return {key: by_id[lead_id_for(SITE, SOURCE, key)] for key in OWNERS}


def assigned(lead: dict[str, Any]) -> list[str]:
    return [a["user"]["id"] for a in lead["activities"] if a["type"] == "was_assigned"]


def writes(sandbox: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sandbox.requests_log() if r["method"] != "GET"]


def test_a_migration_keeps_every_lead_with_its_agent(
    seeded: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_export(tmp_path / "people.csv", OWNERS)

    code, _, err = rg_import(capsys, *run(seeded, export, tmp_path, "r1"))

    assert code == ExitCode.OK, err
    first = report(tmp_path / "r1")
    assert first["leads"]["created"] == len(OWNERS)
    stored = leads(seeded)
    for key, (owner, user) in OWNERS.items():
        assert assigned(stored[key]) == ([user] if user else []), (key, owner)
    jane = next(a for a in stored["102"]["activities"] if a["type"] == "was_assigned")
    assert jane == {
        "type": "was_assigned", "source": SOURCE, "user": {"id": "u-jane"},
        "description": "The owner in the Follow Up Boss export: Doe, Jane",
    }  # fmt: skip
    # the unknown and the ambiguous owners: sent, warned, and still named on the lead
    assert first["warnings"]["by_code"] == {"ambiguous_agent": 1, "unknown_agent": 1}
    examples = first["warnings"]["example_by_code"]
    assert "'Nobody Known' matches no user" in examples["unknown_agent"]["message"]
    assert "'Sam Lee' matches several users" in examples["ambiguous_agent"]["message"]
    assert "assigned to: Nobody Known" in stored["105"]["source_details"]
    assert "assigned to: Sam Lee" in stored["106"]["source_details"]
    users_asked = [r for r in seeded.requests_log() if r["route"] == "list_users"]
    assert len(users_asked) == 1  # once per run

    # the same export again: nothing is sent
    sent = len(writes(seeded))
    code, _, err = rg_import(capsys, *run(seeded, export, tmp_path, "r2"))
    assert code == ExitCode.OK, err
    assert report(tmp_path / "r2")["leads"]["unchanged"] == len(OWNERS)
    assert len(writes(seeded)) == sent

    # one row's owner changes: exactly one new was_assigned, for that lead
    changed = dict(OWNERS, **{"101": ("Kim Park", "u-kim")})
    code, _, err = rg_import(
        capsys, *run(seeded, write_export(tmp_path / "p2.csv", changed), tmp_path, "r3")
    )
    assert code == ExitCode.OK, err
    third = report(tmp_path / "r3")
    assert third["leads"]["updated"] == 1 and third["leads"]["unchanged"] == len(OWNERS) - 1
    assert third["activities"]["sent"] == 1
    after = leads(seeded)
    assert assigned(after["101"]) == ["u-jane", "u-kim"]
    assert {k: assigned(v) for k, v in after.items() if k != "101"} == {
        k: assigned(v) for k, v in stored.items() if k != "101"
    }


def planned_changes(
    sandbox: Sandbox, path: Path, tmp: Path, out: str, capsys: pytest.CaptureFixture[str]
) -> dict[str, str]:
    """``rg-import plan --ledger`` of the run's ledger: each key's action and changes."""
    code, _, err = rg_import(
        capsys, "plan", str(path), "-m", "followupboss", "--site", SITE,
        "--base-url", sandbox.url, "--ledger", str(tmp / "ledger.sqlite"), "--out", str(tmp / out),
    )  # fmt: skip
    assert code == ExitCode.OK, err
    with (tmp / out / "plan.csv").open(encoding="utf-8-sig", newline="") as f:
        lines = list(csv.DictReader(f))
    return {line["key"]: f"{line['action']} | {line['changes']}" for line in lines}


def test_an_owner_changed_back_gets_one_new_was_assigned_per_change(
    seeded: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # lead 101 over the runs: Jane, Kim, Jane again (A -> B -> A), then Kim, Kim
    # with another change, Jane (A -> B -> B -> A)
    def export(name: str, owner: str, moved: bool = False) -> Path:
        owners = dict(OWNERS, **{"101": (owner, None)})
        return write_export(tmp_path / name, owners, ["101"] if moved else [])

    def run_101(path: Path, out: str) -> dict[str, Any]:
        code, _, err = rg_import(capsys, *run(seeded, path, tmp_path, out))
        assert code == ExitCode.OK, err
        return report(tmp_path / out)

    assert run_101(export("a.csv", "Jane Doe"), "r1")["leads"]["created"] == len(OWNERS)
    assert run_101(export("b.csv", "Kim Park"), "r2")["activities"]["sent"] == 1
    back = export("a-again.csv", "Jane Doe")
    plan = planned_changes(seeded, back, tmp_path, "p3", capsys)
    assert plan["101"].startswith("update |") and "activities: 1 to send" in plan["101"]
    assert all(plan[key].startswith("unchanged") for key in OWNERS if key != "101")

    third = run_101(back, "r3")

    assert third["leads"]["updated"] == 1 and third["leads"]["unchanged"] == len(OWNERS) - 1
    assert third["activities"]["sent"] == 1
    assert assigned(leads(seeded)["101"]) == ["u-jane", "u-kim", "u-jane"]
    # the same file again: no request at all
    sent = len(writes(seeded))
    assert run_101(back, "r4")["leads"]["unchanged"] == len(OWNERS)
    assert len(writes(seeded)) == sent

    # A -> B -> B -> A: the second B changes the lead but assigns nobody
    assert run_101(export("b2.csv", "Kim Park"), "r5")["activities"]["sent"] == 1
    moved = export("b-moved.csv", "Kim Park", moved=True)
    plan = planned_changes(seeded, moved, tmp_path, "p6", capsys)
    assert plan["101"].startswith("update |") and "activities" not in plan["101"]
    still = run_101(moved, "r6")
    assert still["leads"]["updated"] == 1 and still["activities"]["sent"] == 0
    assert run_101(export("a3.csv", "Jane Doe", moved=True), "r7")["activities"]["sent"] == 1
    stored = leads(seeded)
    assert assigned(stored["101"]) == ["u-jane", "u-kim", "u-jane", "u-kim", "u-jane"]
    assert [
        a["description"] for a in stored["101"]["activities"] if a["type"] == "was_assigned"
    ] == [f"The owner in the Follow Up Boss export: {name}" for name in
          ["Jane Doe", "Kim Park", "Jane Doe", "Kim Park", "Jane Doe"]]  # fmt: skip
    assert {k: assigned(v) for k, v in stored.items() if k != "101"} == {
        k: [u] if u else [] for k, (_, u) in OWNERS.items() if k != "101"
    }
    sent = len(writes(seeded))
    assert run_101(export("a3.csv", "Jane Doe", moved=True), "r8")["activities"]["sent"] == 0
    assert len(writes(seeded)) == sent


def test_a_run_stopped_before_its_new_assignment_was_confirmed_sends_that_one_on_resume(
    seeded: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lead_id = lead_id_for(SITE, SOURCE, "101")
    for n, owner in enumerate(["Jane Doe", "Kim Park"]):
        path = write_export(tmp_path / f"{n}.csv", dict(OWNERS, **{"101": (owner, None)}))
        assert rg_import(capsys, *run(seeded, path, tmp_path, f"r{n}"))[0] == ExitCode.OK
    back_to_jane = {
        "type": "was_assigned", "source": SOURCE, "user": {"id": "u-jane"},
        "description": "The owner in the Follow Up Boss export: Jane Doe",
    }  # fmt: skip
    # what a run back to Jane leaves when it dies after its write-ahead, before the POST
    with Ledger(tmp_path / "ledger.sqlite", run_id="killed") as ledger:
        chain = ledger.recorded_activities([lead_id], "was_assigned")[lead_id]
        begun = assignment_hash(back_to_jane, chain)
        ledger.begin_activities(lead_id, {begun: back_to_jane})
    path = write_export(tmp_path / "back.csv", dict(OWNERS, **{"101": ("Jane Doe", None)}))

    code, _, err = rg_import(capsys, *run(seeded, path, tmp_path, "resumed"))

    assert code == ExitCode.OK, err
    assert report(tmp_path / "resumed")["activities"]["sent"] == 1
    assert assigned(leads(seeded)["101"]) == ["u-jane", "u-kim", "u-jane"]
    with Ledger(tmp_path / "ledger.sqlite", run_id="check", readonly=True) as ledger:
        links = ledger.recorded_activities([lead_id], "was_assigned")[lead_id]
        states = ledger.activity_states([lead_id])[lead_id]
    # the resumed run sent the link the killed one had begun, not a second one
    assert len(links) == 3 and states[begun] == "sent"
    assert {states[link.activity_hash] for link in links} == {"sent"}
    sent = len(writes(seeded))
    assert rg_import(capsys, *run(seeded, path, tmp_path, "again"))[0] == ExitCode.OK
    assert len(writes(seeded)) == sent


LENDING = """\
name: lending
crm: Old CRM
kind: lead
source: Old CRM import
key: [ID]
assign: {agent: Agent, lender: Lender}
unmapped: ignore   # only the assignments are activities
fields:
  first_name: [First Name]
  email: [Email]
"""


def test_a_lender_changed_back_is_assigned_again_beside_its_agent(
    seeded: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "lending.yaml"
    mapping.write_text(LENDING, encoding="utf-8")
    lead_id = lead_id_for(SITE, "Old CRM import", "1")

    def run_with(agent: str, lender: str, out: str) -> dict[str, Any]:
        path = tmp_path / f"{out}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f).writerows(
                [
                    ["ID", "First Name", "Email", "Agent", "Lender"],
                    ["1", "Ann", "a@x.net", agent, lender],
                ]
            )
        args = run(seeded, path, tmp_path, out)
        args[args.index("followupboss")] = str(mapping)
        code, _, err = rg_import(capsys, *args)
        assert code == ExitCode.OK, err
        return report(tmp_path / out)["activities"]

    def assignments() -> list[tuple[str, str]]:
        lead = next(lead for lead in seeded.leads(SITE) if lead["id"] == lead_id)
        return [
            (a["description"].split(" in the")[0], a["user"]["id"])
            for a in lead["activities"]
            if a["type"] == "was_assigned"
        ]

    assert run_with("Jane Doe", "Kim Park", "r1")["sent"] == 2
    assert run_with("Jane Doe", "Levesque, Rene", "r2")["sent"] == 1  # the lender changes
    assert run_with("René Lévesque", "Kim Park", "r3")["sent"] == 2  # both change; the lender back
    assert run_with("Jane Doe", "Kim Park", "r4")["sent"] == 1  # the agent back
    sent = len(writes(seeded))
    assert run_with("Jane Doe", "Kim Park", "r5")["sent"] == 0
    assert len(writes(seeded)) == sent
    # a lender left out for a while: the lead keeps Kim, and Kim again changes nothing
    assert run_with("Jane Doe", "", "r6")["sent"] == 0
    assert run_with("Jane Doe", "Kim Park", "r7")["sent"] == 0
    assert assignments() == [
        ("The owner", "u-jane"), ("The lender", "u-kim"),
        ("The lender", "u-rene"),
        ("The owner", "u-rene"), ("The lender", "u-kim"),
        ("The owner", "u-jane"),
    ]  # fmt: skip


def test_plan_shows_every_owner_and_its_agents_csv_comes_back_as_agent_map(
    seeded: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_export(tmp_path / "people.csv", {**OWNERS, "108": ("Jane Doe", "u-jane")})
    plan = ["plan", str(export), "-m", "followupboss", "--site", SITE, "--base-url", seeded.url]

    code, out, err = rg_import(capsys, *plan, "--out", str(tmp_path / "p1"))

    assert code == ExitCode.OK, err
    agents = report(tmp_path / "p1")["agents"]
    found = {o["owner"]: (o["rows"], o["match"], o["user"]) for o in agents["owners"]}
    assert found == {
        "Jane Doe": (2, "matched", "u-jane"),
        "Doe, Jane": (1, "matched", "u-jane"),
        "Levesque, Rene": (1, "matched", "u-rene"),
        "KIM.PARK@example.com": (1, "matched", "u-kim"),
        "Nobody Known": (1, "unknown", None),
        "Sam Lee": (1, "ambiguous", None),
    }
    assert agents["rows"] == {"matched": 5, "unknown": 1, "ambiguous": 1}
    for owner in found:
        assert any(line.strip().startswith(f"agent {owner!r}") for line in out.splitlines()), owner
    assert "ambiguous: Sam Lee, Sam Lee" in out
    assert writes(seeded) == []  # a plan sends nothing
    agents_csv = tmp_path / "p1" / "agents.csv"
    assert stat.S_IMODE(agents_csv.stat().st_mode) == 0o600

    # fed back unchanged, it changes nothing
    code, _, err = rg_import(
        capsys, *plan, "--out", str(tmp_path / "p2"), "--agent-map", str(agents_csv)
    )
    assert code == ExitCode.OK, err
    again = {
        o["owner"]: (o["rows"], o["match"], o["user"])
        for o in report(tmp_path / "p2")["agents"]["owners"]
    }
    assert again == found

    # completed in a spreadsheet: the ambiguous owner by email, the unknown one by id
    with agents_csv.open(encoding="utf-8-sig", newline="") as f:
        lines = list(csv.DictReader(f))
    for line in lines:
        line["user"] = {"Sam Lee": "s.lee@example.com", "Nobody Known": "u-kim"}.get(
            line["owner"], line["user"]
        )
    completed = tmp_path / "agents-done.csv"
    with completed.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(lines[0]))
        writer.writeheader()
        writer.writerows(lines)
    code, _, err = rg_import(
        capsys, *plan, "--out", str(tmp_path / "p3"), "--agent-map", str(completed)
    )
    assert code == ExitCode.OK, err
    done = {
        o["owner"]: (o["match"], o["user"], o["how"])
        for o in report(tmp_path / "p3")["agents"]["owners"]
    }
    assert done["Sam Lee"] == ("matched", "u-sam2", "agent map")
    assert done["Nobody Known"] == ("matched", "u-kim", "agent map")
    assert report(tmp_path / "p3")["agents"]["rows"] == {"matched": 7, "unknown": 0, "ambiguous": 0}

    # and a run with it assigns them, without a warning
    code, _, err = rg_import(
        capsys, *run(seeded, export, tmp_path, "r1", "--agent-map", str(completed))
    )
    assert code == ExitCode.OK, err
    stored = {lead["id"]: lead for lead in seeded.leads(SITE)}
    assert assigned(stored[lead_id_for(SITE, SOURCE, "106")]) == ["u-sam2"]
    assert assigned(stored[lead_id_for(SITE, SOURCE, "105")]) == ["u-kim"]
    assert "agent" not in json.dumps(report(tmp_path / "r1")["warnings"]["by_code"])


def test_plan_without_a_site_says_it_did_not_check_owners(
    seeded: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_export(tmp_path / "people.csv", OWNERS)
    code, out, err = rg_import(
        capsys, "plan", str(export), "-m", "followupboss", "--out", str(tmp_path / "p")
    )
    assert code == ExitCode.OK, err
    assert "owners not checked: no --site given" in out
    assert report(tmp_path / "p")["agents"] == {
        "checked": False, "reason": "owners not checked: no --site given (add --site and credentials)"
    }  # fmt: skip
    assert not (tmp_path / "p" / "agents.csv").exists()
    assert seeded.requests_log() == []


def test_assign_off_lists_no_users_and_assigns_nobody(
    seeded: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_export(tmp_path / "people.csv", OWNERS)
    code, _, err = rg_import(capsys, *run(seeded, export, tmp_path, "r", "--assign", "off"))
    assert code == ExitCode.OK, err
    assert all(assigned(lead) == [] for lead in leads(seeded).values())
    assert [r for r in seeded.requests_log() if r["route"] == "list_users"] == []
    assert report(tmp_path / "r")["warnings"]["total"] == 0
    # turned on later, the same unchanged rows are mapped again and assigned
    code, _, err = rg_import(capsys, *run(seeded, export, tmp_path, "r2"))
    assert code == ExitCode.OK, err
    assert {k: assigned(v) for k, v in leads(seeded).items()} == {
        k: [u] if u else [] for k, (_, u) in OWNERS.items()
    }


def test_a_refused_users_listing_stops_the_run_before_sending(
    seeded: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    export = write_export(tmp_path / "people.csv", OWNERS)
    monkeypatch.setenv("RG_PASSWORD", "wrong")
    code, out, err = rg_import(capsys, *run(seeded, export, tmp_path, "r"))
    assert code == ExitCode.ABORTED, err
    stopped = report(tmp_path / "r")["stopped"]
    assert "refused the credentials" in stopped and "could not be listed" in stopped
    assert "could not be listed" in out
    assert report(tmp_path / "r")["leads"]["not_sent"] == len(OWNERS)
    assert writes(seeded) == []


def test_an_unknown_site_stops_the_run_before_sending(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RG_USERNAME", "sandbox")
    monkeypatch.setenv("RG_PASSWORD", "sandbox")
    other = start_sandbox(port=0, sites=("0b8f3a52-4c1e-4f6e-8b9a-77c2d4e5f601",))
    try:
        export = write_export(tmp_path / "people.csv", OWNERS)
        code, _out, err = rg_import(capsys, *run(other, export, tmp_path, "r"))
        assert code == ExitCode.ABORTED, err
        assert f"site {SITE} is unknown to the API" in report(tmp_path / "r")["stopped"]
        assert writes(other) == []
    finally:
        other.stop()


def test_the_sample_people_file_meets_the_sandbox_team(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # sample_data/followupboss_people.csv against the embedded sandbox's default users
    # (importer/sandbox/users.py): each kind of owner is there
    from tests.conftest import SAMPLE_DATA

    monkeypatch.chdir(tmp_path)
    for name in ("RG_USERNAME", "RG_PASSWORD", "RG_SITE", "RG_BASE_URL", "RG_LEDGER"):
        monkeypatch.delenv(name, raising=False)
    people = SAMPLE_DATA / "followupboss_people.csv"
    code, out, err = rg_import(
        capsys, "plan", str(people), "-m", "followupboss", "--sandbox", "--out", str(tmp_path / "p")
    )
    assert code == ExitCode.REJECTS, err  # (the sample's dirty rows)
    owners = {o["owner"]: o for o in report(tmp_path / "p")["agents"]["owners"]}
    assert set(owners) == {"Jane Doe", "Marcus Bell", "Maria Garcia", "Priya Shah", "John Smith"}
    assert owners["Jane Doe"]["match"] == owners["Maria Garcia"]["match"] == "matched"
    assert owners["John Smith"]["match"] == "ambiguous"
    assert owners["Marcus Bell"]["match"] == owners["Priya Shah"]["match"] == "unknown"
    assert sum(o["rows"] for o in owners.values()) == 56
    assert "Owners:" in out


def test_an_agent_map_with_nothing_to_assign_is_one_line(
    seeded: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_export(tmp_path / "people.csv", OWNERS)
    agent_map = tmp_path / "map.csv"
    agent_map.write_text("owner,user\nSam Lee,u-gone\n", encoding="utf-8")
    code, out, err = rg_import(
        capsys,
        *run(seeded, export, tmp_path, "r", "--assign", "off", "--agent-map", str(agent_map)),
    )
    assert (code, out) == (ExitCode.USAGE, "") and "--agent-map is given, but --assign off" in err
    # a user the site does not have: exit 2, nothing sent, no run directory
    code, out, err = rg_import(
        capsys, *run(seeded, export, tmp_path, "r", "--agent-map", str(agent_map))
    )
    assert code == ExitCode.USAGE and "'u-gone' is no user of the site" in err
    assert writes(seeded) == [] and not (tmp_path / "r").exists()
