"""The benchmark's input files: generated Follow Up Boss exports, kept and reused.

Generating a million rows takes a while, so each file is written once under the
data directory with a sidecar that says how it was made.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

GENERATOR = Path(__file__).resolve().parents[1] / "sample_data" / "generate.py"


def load_generator(path: Path = GENERATOR) -> Any:
    """The sample-data generator module (sample_data/generate.py), loaded from its file."""
    spec = importlib.util.spec_from_file_location("rg_bench_generator", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the generator {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def _default_writer(path: Path, rows: int, seed: int, dirty_share: float) -> None:
    load_generator().write_fub_people(path, rows, seed=seed, dirty_share=dirty_share)


def people_file(
    data_dir: Path,
    rows: int,
    *,
    seed: int = 7,
    dirty_share: float = 0.03,
    write: Callable[[Path, int, int, float], None] = _default_writer,
    generator: Path = GENERATOR,
) -> Path:
    """A generated Follow Up Boss people file of ``rows`` rows under ``data_dir``.

    Reused when a file made with the same rows, seed, dirty share and generator
    source exists (its ``.json`` sidecar says so); otherwise written by ``write``
    to a temporary name and renamed, so an interrupted run leaves no half file.
    Returns the path.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"fub_people_{rows}_seed{seed}_dirty{dirty_share:g}.csv"
    sidecar = path.with_suffix(".json")
    wanted = {
        "rows": rows, "seed": seed, "dirty_share": dirty_share,
        "generator_sha256": hashlib.sha256(generator.read_bytes()).hexdigest(),
    }  # fmt: skip
    with contextlib.suppress(OSError, ValueError):
        if path.is_file() and json.loads(sidecar.read_text()) == wanted:
            return path
    partial = path.with_name(path.name + ".partial")
    write(partial, rows, seed, dirty_share)
    os.replace(partial, path)
    sidecar.write_text(json.dumps(wanted, indent=2) + "\n")
    return path


def workbook_file(csv_path: Path) -> Path:
    """An ``.xlsx`` copy of a generated CSV, next to it, written once and reused.

    Every cell is written as the text the CSV holds (an empty cell as no cell),
    so the workbook plans to the same leads as the CSV. Reused while its sidecar
    matches the CSV's own sidecar.
    """
    import csv

    import openpyxl

    path = csv_path.with_suffix(".xlsx")
    sidecar = path.with_name(path.name + ".json")
    wanted = {
        "source": csv_path.name,
        "source_sidecar": json.loads(csv_path.with_suffix(".json").read_text()),
    }
    with contextlib.suppress(OSError, ValueError):
        if path.is_file() and json.loads(sidecar.read_text()) == wanted:
            return path
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("People")
    with csv_path.open(encoding="utf-8-sig", newline="") as rows:
        for row in csv.reader(rows):
            sheet.append([cell if cell != "" else None for cell in row])
    partial = path.with_name(path.name + ".partial")
    book.save(partial)
    os.replace(partial, path)
    sidecar.write_text(json.dumps(wanted, indent=2) + "\n")
    return path
