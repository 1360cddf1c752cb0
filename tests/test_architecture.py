"""The package layout: one sub-package per stage, imports flowing one way.

The import graph of ``importer/`` is built from the source with ``ast``, counting
every import: at the top of a module, inside a function (the lazy ones), and
under ``if TYPE_CHECKING``. A module may import from its own stage, from an
earlier stage and from the shared basics (the modules at the top of
``importer/``); never from a later stage, and no chain of imports may come back
to where it started. docs/architecture.md draws the same picture.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "importer"

# The shared basics first, then the stages in the order the data flows through
# them (the sandbox stands apart: it needs only the basics).
STAGES = (
    "basics",
    "sandbox",
    "read",
    "normalize",
    "mapping",
    "catalog",
    "validate",
    "outputs",
    "ledger",
    "plan",
    "send",
    "scale",
    "jobs",
    "cli",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def stage_of(module: str) -> str:
    """``importer.read.table`` is in stage read; a module at the top is a basic."""
    if module == "importer.__main__":
        return "cli"  # ``python -m importer`` is the command line
    parts = module.split(".")
    if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir():
        return parts[1]
    return "basics"


def imported(module: str, path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """Every importer module that ``module`` imports, with the line, wherever the import is."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "importer":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "importer":
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule if submodule in known else base), node.lineno


def import_graph() -> dict[str, dict[str, int]]:
    found = modules()
    known = set(found)
    graph: dict[str, dict[str, int]] = {}
    for name, path in found.items():
        edges = graph.setdefault(name, {})
        for target, line in imported(name, path, known):
            if target != name:
                edges.setdefault(target, line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_sub_package_is_a_declared_stage() -> None:
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(STAGES) - {"basics"}, "declare a new package's place in STAGES"


def test_the_graph_sees_lazy_and_type_checking_imports(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from importer.plan.rows import RowPlan\n"
        "def f():\n    from importer.send import run\n    import importer.cli.main\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    known = {"importer.send.run", "importer.plan.rows", "importer.read.sibling"}
    found = {t for t, _ in imported("importer.read.m", source, known)}
    assert found == {
        "importer.plan.rows",
        "importer.send.run",
        "importer.cli.main",
        "importer.read.sibling",
    }


def test_the_import_graph_has_no_cycle() -> None:
    assert cycles(import_graph()) == []


def test_cycles_are_found() -> None:
    graph = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(graph) == [["a", "b", "c"]]


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_only_earlier_stages_and_the_basics(stage: str) -> None:
    rank = {name: i for i, name in enumerate(STAGES)}
    graph = import_graph()
    later = [
        f"{source} line {line} imports {target} (stage {stage_of(target)})"
        for source, edges in sorted(graph.items())
        if stage_of(source) == stage
        for target, line in sorted(edges.items())
        if rank[stage_of(target)] > rank[stage]
    ]
    assert later == []


def test_no_module_re_exports_names_of_another_importer_module() -> None:
    """``__all__`` lists what a module defines; a name lives in one place only."""
    offenders = []
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        borrowed = {
            alias.asname or alias.name
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("importer")
            for alias in node.names
        }
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                and isinstance(node.value, (ast.List, ast.Tuple))
            ):
                listed = {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
                offenders += [f"{name}: {n}" for n in sorted(listed & borrowed)]
    # the doors on purpose: the mapping engine takes every normaliser from one place, and
    # ``from importer.sandbox import start_sandbox`` is the sandbox's documented API
    doors = ("importer.normalize.transforms:", "importer.sandbox:")
    assert [o for o in offenders if not o.startswith(doors)] == []


def third_party_importers(library: str) -> set[str]:
    """The importer modules that import ``library`` (anywhere in them, lazily too)."""
    found = set()
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            if any(n.split(".")[0] == library for n in names):
                found.add(name)
    return found


def test_dask_is_imported_by_one_module_only() -> None:
    """Dask is an optional extra, imported when a run is sent to a cluster and only then."""
    assert third_party_importers("dask") | third_party_importers("distributed") == {
        "importer.scale.dask_cluster"
    }
