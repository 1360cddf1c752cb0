"""Mapping files: find them on the search path and load them into a ``Mapping``.

A mapping file says how one source layout (a CRM's export) becomes Real Geeks
leads and activities. The format is documented in docs/mappings.md. This module
finds a file by name or path and reads its YAML; ``importer.mapping.parse``
checks the data and builds the frozen ``Mapping`` (defined with its parts in
``importer.mapping.spec``), or raises ``MappingError`` with the file, the key
and what to do. Applying a mapping to rows is ``importer.mapping.apply``.

``parse_mapping`` and the data classes the engine and the tests use are
re-exported here.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from importer.errors import MappingError
from importer.mapping.parse import parse_mapping
from importer.mapping.spec import (
    Mapping,
)

__all__ = ["find_mapping", "iter_mapping_files", "load_mapping", "mapping_dirs", "read_overrides"]


def mapping_dirs() -> list[Path]:
    """Where named mappings are looked up: ./mappings, then the shipped ones."""
    here = Path(__file__).resolve().parents[1]  # the importer package
    dirs = [Path.cwd() / "mappings", here.parent / "mappings", here / "_data" / "mappings"]
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def iter_mapping_files() -> Iterator[Path]:
    """Every mapping file on the search path; a name found twice is listed once."""
    seen: set[str] = set()
    for d in mapping_dirs():
        for p in sorted(d.glob("*.yaml")):
            if p.stem not in seen:
                seen.add(p.stem)
                yield p


def names_a_file(name_or_path: str) -> bool:
    """Whether ``--mapping`` names a YAML file (else a shipped mapping's name)."""
    candidate = Path(name_or_path)
    return candidate.suffix in (".yaml", ".yml") or candidate.parent != Path(".")


def find_mapping(name_or_path: str) -> Path:
    """Resolve ``--mapping``: a path to a YAML file, or the name of a shipped mapping."""
    candidate = Path(name_or_path)
    if names_a_file(name_or_path):
        if candidate.is_file():
            return candidate
        raise MappingError("no such mapping file; check the path", path=str(candidate))
    for d in mapping_dirs():
        for ext in (".yaml", ".yml"):
            p = d / f"{name_or_path}{ext}"
            if p.is_file():
                return p
    known = ", ".join(p.stem for p in iter_mapping_files()) or "none"
    raise MappingError(
        f"no mapping named {name_or_path!r}; known mappings: {known} (or give a path to a .yaml file)"
    )


# libyaml's loader when PyYAML was built with it: the same documents, parsed
# about ten times faster than the pure-Python one (a fifth of the start-up).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# A mapping is a few hundred values; anchors and aliases may repeat some, but a
# document whose aliases expand past this is a "billion laughs" file: loading it
# is cheap (an alias is one shared object), every walk over the result is not.
MAX_YAML_VALUES = 100_000


class YamlTooBig(yaml.YAMLError):
    """A YAML document whose aliases expand to too many values, or refer to themselves."""


def _expanded_size(root: yaml.Node) -> int:
    """How many values ``root`` holds with every alias written out (a shared node counts
    each time it is used), computed once per node; raises YamlTooBig past the limit."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise YamlTooBig("an alias refers to the value it is part of; write the values out")
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        if total > MAX_YAML_VALUES:
            raise YamlTooBig(
                f"its aliases (*name) expand to more than {MAX_YAML_VALUES:,} values "
                "(a 'billion laughs' file?); write the values out instead"
            )
        sizes[key] = total
        return total

    return size(root)


def read_yaml(text: str) -> Any:
    """``yaml.safe_load`` of ``text``, with libyaml when available; raises yaml.YAMLError
    (YamlTooBig for aliases that expand exponentially, before anything walks them)."""
    loader = _YAML_LOADER(text)  # a safe loader, C or Python
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except RecursionError:
        raise YamlTooBig("its values are nested too deeply; write them out flat") from None
    finally:
        loader.dispose()


def load_mapping(name_or_path: str | Path) -> Mapping:
    """Find, read and check a mapping; raises MappingError."""
    path = find_mapping(str(name_or_path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read the file ({exc})", path=str(path)) from exc
    try:
        data = read_yaml(text)
    except YamlTooBig as exc:
        raise MappingError(str(exc), path=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise MappingError(
            f"broken YAML{where}: {problem}; fix the indentation or quoting there", path=str(path)
        ) from exc
    mapping = parse_mapping(data, path=path)
    return dataclasses.replace(
        mapping, fingerprint=hashlib.sha256(text.encode("utf-8")).hexdigest()
    )


def read_overrides(mapping: Mapping) -> dict[str, Any]:
    """Reading options a mapping file asks for (delimiter, encoding, footers)."""
    opts: dict[str, Any] = {}
    for key in ("delimiter", "encoding", "sheet"):
        if key in mapping.read:
            opts[key] = mapping.read[key]
    if "drop_rows_matching" in mapping.read:
        opts["drop_rows_matching"] = tuple(mapping.read["drop_rows_matching"])
    return opts
