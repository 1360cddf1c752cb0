"""agents.csv (what plan found of the owners) and --agent-map, which reads it back."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from importer.errors import ConfigError
from importer.mapping.owners import Directory, OwnerMatch, Person
from importer.outputs.agents import AgentLine, read_agent_map, write_agents_csv

JANE = Person("u-jane", "Jane Doe", "jane@example.com")
SAM1, SAM2 = (
    Person("u-s1", "Sam Lee", "s1@example.com"),
    Person("u-s2", "Sam Lee", "s2@example.com"),
)


def test_agents_csv_is_private_formula_safe_and_reads_back_as_an_agent_map(tmp_path: Path) -> None:
    lines = [
        AgentLine("agent", "Doe, Jane", 3, OwnerMatch("matched", JANE, "name")),
        AgentLine("agent", '=HYPERLINK("x")', 2, OwnerMatch("unknown")),
        AgentLine("agent", "Sam Lee", 1, OwnerMatch("ambiguous", candidates=(SAM1, SAM2))),
    ]
    path = write_agents_csv(tmp_path / "agents.csv", lines)
    assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text  # neutralised for spreadsheets
    assert text.splitlines()[0] == "role,owner,rows,match,how,user,user_name,user_email,candidates"
    # as written: only the matched line names a user
    assert read_agent_map(path) == {"Doe, Jane": "u-jane"}
    # completed by the user (an email for one, an id for the other), read back exactly
    done = text.replace(",2,unknown,,", ",2,unknown,,jane@example.com").replace(
        ",1,ambiguous,,", ",1,ambiguous,,u-s2"
    )
    path.write_text(done, encoding="utf-8-sig")
    chosen = read_agent_map(path)
    assert chosen == {
        "Doe, Jane": "u-jane", '=HYPERLINK("x")': "jane@example.com", "Sam Lee": "u-s2"
    }  # fmt: skip
    directory = Directory.of([JANE, SAM1, SAM2], agent_map=chosen)
    assert directory.match("Sam Lee").user == SAM2
    assert directory.match('=HYPERLINK("x")').user == JANE


def test_no_owner_no_file(tmp_path: Path) -> None:
    assert write_agents_csv(tmp_path / "agents.csv", []) is None
    assert not (tmp_path / "agents.csv").exists()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("name,id\nJane,u1\n", "needs the columns owner and user"),
        ("owner,user\nJane,u1\nJane,u2\n", "line 3: 'Jane' is given two users"),
    ],
)
def test_a_wrong_agent_map_is_one_clear_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "map.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=says):
        read_agent_map(path)
    with pytest.raises(ConfigError, match="cannot be read"):
        read_agent_map(tmp_path / "missing.csv")
