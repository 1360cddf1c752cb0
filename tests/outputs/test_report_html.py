"""report.html (importer.outputs.report_html): report.json's numbers as a page that fetches nothing.

Each page is read back with the standard library's HTML parser and compared
with the report.json beside it: a run with rejects against the sandbox over
loopback (with a known secret in the environment, which must not appear), a
plan of a file whose name and cells hold markup, and pages rendered from
reports with and without the fields other parts of the tool add.
"""

from __future__ import annotations

import json
import re
import stat
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from importer.cli.main import main
from importer.codes import describe
from importer.errors import ConfigError
from importer.outputs.private_files import make_run_dir
from importer.outputs.report_html import LINKED, render
from importer.sandbox.runner import start_sandbox
from tests.conftest import SAMPLE_DATA, SITE
from tests.send.test_run_storage import invoke, needs_dev_full, run_args, to_dev_full

PEOPLE = SAMPLE_DATA / "followupboss_people.csv"
SECRET_USER = "rg-user-4f1d9c"
SECRET = "pw-7c1e5b0a-not-for-pages"
MARKUP = "<script>alert(1)</script>"
# elements that load something or run something: a self-contained page has none
FETCHING = {"script", "link", "img", "iframe", "object", "embed", "base", "form", "audio",
            "video", "source", "image", "use", "foreignobject"}  # fmt: skip


class Page(HTMLParser):
    """What a test needs of a page: its elements, tables by id, the chart's texts, all text."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.nones: set[str] = set()  # ids of the "none" paragraphs
        self.chart: list[tuple[str | None, str]] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._svg_text: str | None = None
        self._none: str | None = None
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.elements.append((tag, found))
        if tag == "table":
            self._table = found.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "text":
            self._svg_text = found.get("class")
            self.chart.append((self._svg_text, ""))
        elif tag == "p" and found.get("class") == "none":
            self._none = found.get("id")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "text":
            self._svg_text = None
        elif tag == "p" and self._none is not None:
            self.nones.add(self._none)
            self._none = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._svg_text is not None:
            cls, before = self.chart[-1]
            self.chart[-1] = (cls, before + data)

    def body(self, table_id: str) -> list[list[str]]:
        """A table's rows without its header row."""
        return self.tables[table_id][1:]

    def facts(self, table_id: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self.tables[table_id]}


def read_page(run_dir: Path) -> tuple[str, Page, dict[str, Any]]:
    markup = (run_dir / "report.html").read_text("utf-8")
    return markup, Page(markup), json.loads((run_dir / "report.json").read_text("utf-8"))


def assert_self_contained(markup: str, page: Page, run_dir: Path | None = None) -> None:
    """Nothing to fetch or run, no address at all; links only to files beside the page."""
    assert not re.search(r"https?:|//", markup.replace("</", "<"), re.IGNORECASE)
    assert "url(" not in markup and "@import" not in markup
    tags = {tag for tag, _ in page.elements}
    assert "svg" in tags and not tags & FETCHING
    assert all(not name.startswith("on") for _, attrs in page.elements for name in attrs)
    policy = [a for t, a in page.elements if t == "meta" and a.get("http-equiv")]
    assert policy and "default-src 'none'" in (policy[0].get("content") or "")
    links = [attrs.get("href") for tag, attrs in page.elements if tag == "a"]
    assert set(links) <= {name for name, _ in LINKED}
    if run_dir is not None:
        beside = {name for name, _ in LINKED if (run_dir / name).is_file()}
        assert set(links) == beside and (run_dir / "report.json").is_file()


def assert_counts_match(page: Page, report: dict[str, Any]) -> None:
    """The outcome table and the chart say report.json's ``leads``, in its order."""
    counts = [int(n) for _, n in page.body("outcomes")]
    activity_file = report["mapping"]["kind"] == "activity"
    # an activity file's rows are never updates: the page leaves out that empty line
    left_out = {"updated", "update"} if activity_file else set()
    assert counts == [n for name, n in report["leads"].items() if n or name not in left_out]
    assert [int(t) for cls, t in page.chart if cls == "count"] == counts
    assert sum(counts) == report["input"]["rows"]


def assert_reasons_match(page: Page, report: dict[str, Any]) -> None:
    """The reasons and warnings tables hold report.json's counts by code, or say none."""
    for table_id, part in (
        ("reasons", report.get("rejects") or {}),
        ("warnings", report["warnings"]),
    ):
        by_code = part.get("by_code") or {}
        if not by_code:
            assert table_id in page.nones
            continue
        rows = page.body(table_id)
        assert [(r[0], int(r[1])) for r in rows] == list(by_code.items())
        for row in rows:
            example = (part.get("example_by_code") or {}).get(row[0])
            if example:
                assert (row[3], row[4]) == (str(example["row"]), example["message"])


def cli(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return int(done.value.code or 0)


def test_a_run_with_rejects_writes_a_page_with_report_json_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RG_USERNAME", SECRET_USER)
    monkeypatch.setenv("RG_PASSWORD", SECRET)
    out = tmp_path / "run"
    with start_sandbox(port=0, username=SECRET_USER, password=SECRET) as sandbox:
        monkeypatch.setenv("RG_BASE_URL", sandbox.url)
        code = cli("run", str(PEOPLE), "--mapping", "followupboss", "--site", SITE,
                   "--ledger", str(tmp_path / "l.sqlite"), "--out", str(out), "--yes")  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 3
    assert f"{out / 'report.html'}  (open it in a browser)" in printed

    markup, page, report = read_page(out)
    assert stat.S_IMODE((out / "report.html").stat().st_mode) == 0o600
    assert SECRET not in markup and SECRET_USER not in markup
    assert report["leads"]["rejected"] > 0 and report["requests"]["total"] > 0
    assert_self_contained(markup, page, out)
    assert_counts_match(page, report)
    assert_reasons_match(page, report)
    assert [(s, int(n)) for s, n in page.body("requests")] == list(
        report["requests"]["by_status"].items()
    )
    assert [int(n) for _, n in page.body("activities")] == list(report["activities"].values())
    assert f"{report['requests']['total']} requests, {report['requests']['retries']}" in "".join(
        page.text
    )
    facts = page.facts("input")
    assert (facts["path"], facts["sha256"], facts["encoding"], facts["rows"]) == (
        str(PEOPLE), report["input"]["sha256"], report["input"]["encoding"], "56",
    )  # fmt: skip
    assert page.facts("mapping")["name"] == "followupboss"
    assert f"Took {report['duration_s']} s." in "".join(page.text)
    assert {"rejects.csv", "report.json"} <= {a.get("href") for t, a in page.elements if t == "a"}


def test_a_plan_writes_its_page_and_escapes_markup_in_names_and_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = PEOPLE.read_text("utf-8-sig").splitlines()
    header = lines[0].split(",")
    first = lines[1].split(",")
    first[header.index("Email 1")] = MARKUP.replace(",", "")
    named = tmp_path / f"{MARKUP.replace('/', '')} & 'quotes'.csv"
    named.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", "utf-8")
    out = tmp_path / "plan"
    assert cli("plan", str(named), "--mapping", "followupboss", "--out", str(out)) == 3
    assert f"{out / 'report.html'}  (open it in a browser)" in capsys.readouterr().out

    markup, page, report = read_page(out)
    assert "<script" not in markup and "&lt;script&gt;" in markup
    assert_self_contained(markup, page, out)
    assert page.facts("input")["path"] == str(named)  # shown as typed, not as markup
    assert {a.get("href") for t, a in page.elements if t == "a"} == {
        "plan.csv", "rejects.csv", "rejects.xlsx", "report.json"
    }  # fmt: skip
    assert_counts_match(page, report)
    assert_reasons_match(page, report)
    assert "requests" not in page.tables  # a plan sends nothing


def report_with_rejects() -> dict[str, Any]:
    """A run's report.json as it is once ``rejects`` and ``example_by_code`` are there."""
    return {
        "run_id": "20261206T000000Z-abcd", "command": "rg-import run x.csv",
        "input": {"path": f"{MARKUP}.csv", "sha256": "ab" * 32, "rows": 10, "encoding": "utf-8",
                  "delimiter": ",", "sheet": None, "warnings": [MARKUP], "read_to_end": True},
        "mapping": {"name": MARKUP, "path": "/m/x.yaml", "kind": "lead"},
        "site_uuid": SITE, "base_url": "https://user:pw@api.example.com:8443/rest", "sandbox": False,
        "leads": {"created": 5, "updated": 1, "unchanged": 0, "rejected": 4, "in_doubt": 0, "not_sent": 0},
        "activities": {"sent": 2, "unchanged": 0, "rejected": 0, "in_doubt": 0, "not_sent": 0,
                       "held": 0, "possible_duplicates": 0},
        "requests": {"total": 9, "retries": 3, "by_status": {"200": 6, "503": 2, "timeout": 1}},
        "recovered_in_doubt": {"leads": 0, "activities": 0},
        "rejects": {"rows": 4, "by_code": {"invalid_email": 3, "http_422": 1},
                    "example_by_code": {"invalid_email": {"row": 7, "message": f"Email 1 '{MARKUP}' is not"},
                                        "http_422": {"row": 9, "message": "<b>refused</b> & more"}}},
        "warnings": {"total": 2, "by_code": {"dropped_zip": 2},
                     "example_by_code": {"dropped_zip": {"row": 3, "message": "zip 'x<y' dropped"}}},
        "stopped": f"stopped {MARKUP}", "duration_s": 1.25, "exit_code": 3, "invariant_holds": True,
    }  # fmt: skip


def test_every_value_is_escaped_and_the_reasons_are_report_json_s() -> None:
    report = report_with_rejects()
    markup = render(report, present=["rejects.csv", "report.json"])
    page = Page(markup)
    assert "<script" not in markup and "<b>" not in markup
    assert_self_contained(markup, page)
    assert_counts_match(page, report)
    assert_reasons_match(page, report)
    reasons = page.body("reasons")
    assert reasons[0] == [
        "invalid_email",
        "3",
        "not an email address",
        "7",
        f"Email 1 '{MARKUP}' is not",
    ]
    assert reasons[1] == [
        "http_422",
        "1",
        describe("http_422").meaning,
        "9",
        "<b>refused</b> & more",
    ]  # type: ignore[union-attr]
    # the API is named by its host: neither its scheme nor the user and password in its URL
    text = "".join(page.text)
    assert "at api.example.com:8443" in text and "user:pw" not in text
    assert MARKUP in text and f"stopped {MARKUP}" in text  # shown as text, exactly
    assert page.facts("input")["warning"] == MARKUP


def test_missing_reasons_show_none_and_a_plan_s_warning_examples_are_used() -> None:
    report = report_with_rejects()
    for key in ("rejects", "requests", "activities", "base_url", "recovered_in_doubt"):
        del report[key]
    report["leads"] = {"create": 5, "update": 1, "unchanged": 0, "rejected": 4}
    report["warnings"] = {"total": 2, "by_code": {"dropped_zip": 2},
                          "examples": [{"row": 3, "code": "dropped_zip", "message": "zip dropped"}]}  # fmt: skip
    page = Page(render(report))
    assert "reasons" in page.nones and "files" not in page.tables
    assert page.body("warnings") == [
        ["dropped_zip", "2", page.body("warnings")[0][2], "3", "zip dropped"]
    ]
    assert [int(n) for _, n in page.body("outcomes")] == [5, 1, 0, 4]


def test_a_directory_holding_a_report_html_is_an_earlier_run_s(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("old", "utf-8")
    with pytest.raises(ConfigError, match=r"already holds the outputs of a run \(report.html\)"):
        make_run_dir(tmp_path)
    make_run_dir(tmp_path, overwrite=True)
    assert not (tmp_path / "report.html").exists()


@needs_dev_full
def test_a_page_that_cannot_be_written_stops_the_run_with_exit_4_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RG_USERNAME", "sandbox")
    monkeypatch.setenv("RG_PASSWORD", "sandbox")
    out = tmp_path / "full"
    to_dev_full(monkeypatch, "report.html")
    with start_sandbox(port=0) as sandbox:
        code = invoke(*run_args(sandbox, PEOPLE, tmp_path / "l.sqlite", out))
    err = capsys.readouterr().err
    assert code == 4
    assert err.splitlines()[-1] == (
        f"Error: disk full at {out / 'report.html'}; 47 rows were sent, run again to resume"
    )
    assert json.loads((out / "report.json").read_text("utf-8"))["leads"]["created"] == 47
