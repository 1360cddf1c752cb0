"""Problem codes: one closed set in importer/codes.py, documented, never spelled out elsewhere.

Users filter rejects.csv and report.json on these codes, so the set must be
known and documented: every code in ``importer.codes`` is in docs/mappings.md's
problem code tables, every code the docs list is in ``importer.codes``, no module
of the package writes a code as a string literal, and the codes that planning
the sample data produces are all in the set.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from pathlib import Path

import pytest

from importer import codes
from importer.mapping.files import load_mapping
from importer.mapping.spec import INVALID_CODES, TRANSFORMS
from importer.plan.plan_file import PlanRequest, plan_file
from tests.conftest import SAMPLE_DATA

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "importer"
MAPPINGS_DOC = ROOT / "docs" / "mappings.md"


def problem_code_section() -> str:
    text = MAPPINGS_DOC.read_text(encoding="utf-8")
    start = text.index("\n## Problem codes\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def documented() -> set[str]:
    """Every backticked word of the problem code section: the tables and the warnings."""
    return set(re.findall(r"`([^`\s]+)`", problem_code_section()))


def table_codes() -> set[str]:
    """The codes in the first column of the section's tables (``...`` left out)."""
    found: set[str] = set()
    for line in problem_code_section().splitlines():
        if line.startswith("| `"):
            found.update(re.findall(r"`([^`]+)`", line.split("|")[1]))
    return found


# ------------------------------------------------------------------ the set itself


def test_the_constants_are_the_codes_they_describe() -> None:
    constants = {
        name: value
        for name, value in vars(codes).items()
        if name.isupper() and isinstance(value, str)
    }
    assert set(constants.values()) == set(codes.CODES)
    for code in codes.CODES.values():
        assert code.stage in ("read", "validate", "plan", "send")
        assert code.meaning and "\n" not in code.meaning


def test_patterns_cover_their_family_and_nothing_else() -> None:
    http = codes.CODES[codes.HTTP_PATTERN]
    assert codes.http_status(422) == "http_422"
    assert codes.describe(codes.http_status(404)) == http
    assert codes.describe(codes.dropped("phone")) == codes.CODES[codes.DROPPED_PATTERN]
    assert codes.describe(codes.IN_DOUBT) == codes.CODES["in_doubt"]
    for unknown in ("http_", "http_abc", "http_4222", "dropped_", "invalid_thing", "nope"):
        assert codes.describe(unknown) is None, unknown
    # the pattern names are descriptions, not codes a row can carry
    assert codes.describe(codes.HTTP_PATTERN) is None


# ------------------------------------------------------------------ (a) documented


def test_every_code_is_documented_in_the_problem_code_tables() -> None:
    words = documented()
    missing = []
    for name in codes.CODES:
        if name == codes.HTTP_PATTERN:
            ok = any(re.fullmatch(r"http_\d{3}", w) for w in words)
        else:
            ok = name in words
        if not ok:
            missing.append(name)
    assert missing == [], "document these in docs/mappings.md, 'Problem codes'"


def test_every_code_the_docs_list_is_a_known_code() -> None:
    listed = table_codes() | {w for w in documented() if w.startswith(("invalid_", "dropped_"))}
    listed.discard("invalid_*")  # "any other invalid_* code", in the warnings paragraph
    assert listed  # the tables were found
    unknown = sorted(c for c in listed if codes.describe(c) is None and c != codes.DROPPED_PATTERN)
    assert unknown == []


# ------------------------------------------------------------------ (b) no literals

# call name -> position of the code among its arguments
_CODE_ARGUMENT = {"Problem": 0, "RowWarning": 1}
# pandera checks are named with the code they report
_NAMED_CHECKS = {"check", "dataframe_check"}


def literal_codes(source: str) -> list[tuple[int, str]]:
    """(line, text) of every problem code written as a string or f-string literal."""
    found = []

    def spelled(node: ast.AST | None) -> bool:
        return isinstance(node, ast.JoinedStr) or (
            isinstance(node, ast.Constant) and isinstance(node.value, str)
        )

    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        suspects = [k.value for k in node.keywords if k.arg == "code"]
        if name in _CODE_ARGUMENT and len(node.args) > _CODE_ARGUMENT[name]:
            suspects.append(node.args[_CODE_ARGUMENT[name]])
        if name in _NAMED_CHECKS:
            suspects += [k.value for k in node.keywords if k.arg == "name"]
        found += [(s.lineno, ast.unparse(s)) for s in suspects if spelled(s)]
    return found


def test_the_scan_finds_codes_written_as_literals() -> None:
    old = (
        'Problem("in_doubt", text)\n'
        'RowWarning(row, f"dropped_{name}", text)\n'
        'models.Problem(code="http_404", message=m)\n'
        '@pa.check("id", name="invalid_id")\ndef f(): pass\n'
        "Problem(codes.IN_DOUBT, text)\n"
        "RowWarning(row, codes.dropped(name), text)\n"
    )
    assert [line for line, _ in literal_codes(old)] == [1, 2, 3, 4]


def test_no_module_writes_a_problem_code_as_a_literal() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {text}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "codes.py"
        for line, text in literal_codes(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "use the constants of importer/codes.py"


# Also the names of outcomes and ledger states (a row ends in_doubt or not_sent),
# which are words of their own, not problem codes.
_OUTCOME_WORDS = {codes.IN_DOUBT, codes.NOT_SENT}


def test_no_other_string_literal_is_a_problem_code() -> None:
    """Comparisons and tables too (``p.code == "ragged_row"``, ``{"zip": "invalid_zip"}``)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "codes.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and ast.get_docstring(node) is not None
        }
        offenders += [
            f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and node.value not in _OUTCOME_WORDS
            and (node.value in codes.CODES or codes.describe(node.value) is not None)
        ]
    assert offenders == [], "use the constants of importer/codes.py"


def test_the_codes_the_checks_and_transforms_can_emit_are_known() -> None:
    from importer.validate.schemas.activity import ActivityFrame, PropertyFrame
    from importer.validate.schemas.lead import LeadFrame, PotentialSellerFrame

    emitted = set(INVALID_CODES.values()) | {codes.dropped(t) for t in TRANSFORMS}
    for model in (LeadFrame, PotentialSellerFrame, ActivityFrame, PropertyFrame):
        schema = model.to_schema()
        emitted.update(str(c.name) for c in schema.checks)
        for column in schema.columns.values():
            emitted.update(str(c.name) for c in column.checks)
    assert sorted(c for c in emitted if codes.describe(c) is None) == []


# ------------------------------------------------------------------ (c) sample data


def sample_mappings() -> dict[str, str]:
    """Every sample file and the mapping it is planned with (the catalog's from its
    generator's own table, as tests/catalog/test_catalog.py)."""
    from tests.catalog.test_catalog import OWNERS

    return {**OWNERS, "home_valuations.csv": "home_valuations"}


@pytest.fixture(scope="module")
def sample_codes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """The codes of plan.csv and the warning codes of report.json, per sample file."""
    found: dict[str, set[str]] = {}
    for i, (name, mapping) in enumerate(sorted(sample_mappings().items())):
        out = tmp_path_factory.mktemp("plan") / str(i)
        plan_file(
            PlanRequest(
                input=SAMPLE_DATA / name, mapping=load_mapping(mapping), out=out, processes=1
            )
        )
        with open(out / "plan.csv", encoding="utf-8-sig", newline="") as handle:
            got = {c for row in csv.DictReader(handle) for c in row["codes"].split(";") if c}
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        found[name] = got | set(report["warnings"]["by_code"])
    return found


def test_every_sample_file_is_planned(sample_codes: dict[str, set[str]]) -> None:
    files = {
        str(p.relative_to(SAMPLE_DATA))
        for p in [*SAMPLE_DATA.glob("*.csv"), *(SAMPLE_DATA / "catalog").glob("*.csv")]
        if not p.name.endswith(".expected.csv")
    }
    assert set(sample_codes) == files


def test_the_codes_the_sample_data_produce_are_known(
    sample_codes: dict[str, set[str]],
) -> None:
    every = set().union(*sample_codes.values())
    # the samples hold rejects and warnings on purpose: the check has something to check
    assert {codes.DUPLICATE_KEY, codes.INVALID_EMAIL, codes.MISSING_PROPERTY} <= every
    unknown = {name: sorted(c for c in found if codes.describe(c) is None)
               for name, found in sample_codes.items()}  # fmt: skip
    assert {name: found for name, found in unknown.items() if found} == {}
