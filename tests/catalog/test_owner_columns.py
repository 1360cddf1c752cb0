"""The shipped layouts' `assign:` columns, checked against real export headers.

A mapping names its owner column only when a real header of its layout (in
tests/corpus/headers/, each citing its public source) shows it: a guessed name
would match nothing and leave every lead unassigned without a word.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from importer.mapping.apply import map_chunk
from importer.mapping.binding import bind
from importer.mapping.files import load_mapping
from importer.mapping.owners import Directory, Person
from importer.plan.payloads import activities_by_row
from importer.read.headers import normalize_header
from tests.catalog.test_detect_corpus import CORPUS, contact_value, corpus_header

# Layouts whose exports name the lead's owner in a column a real header shows.
ASSIGNING = {
    "followupboss": ("Assigned To",),
    "kvcore": ("Assigned Agent", "Agent"),
    "sierra": ("Assigned Agent",),
    "hubspot": ("Contact owner",),
    "salesforce_report": ("Lead Owner",),
    "zoho_leads": ("Lead Owner",),
    "pipedrive_persons": ("Person - Owner",),
}
# Real-estate CRMs whose owner column no public header has shown (searched by
# vendor name and by likely column names): they must not guess one.
NO_REAL_OWNER_COLUMN = ("boomtown", "lofty")

JANE = Person("u-jane", "Jane Doe", "jane.doe@example.com")


def headers_of(layout: str) -> list[tuple[Path, list[str]]]:
    return [(p, corpus_header(p)) for p in sorted(CORPUS.glob(f"{layout}__*.csv"))]


def owner_column(layout: str, header: list[str]) -> str | None:
    assign = load_mapping(layout).assign
    present = {normalize_header(column): column for column in header}
    names = [normalize_header(c) for c in (assign.agent if assign else ())]
    return next((present[name] for name in names if name in present), None)


@pytest.mark.parametrize("layout", sorted(ASSIGNING))
def test_each_assigning_layout_reads_an_owner_column_a_real_header_has(layout: str) -> None:
    mapping = load_mapping(layout)
    assert mapping.assign is not None and mapping.assign.agent == ASSIGNING[layout]
    assert mapping.assign.optional  # real exports are often cut down to fewer columns
    assert any(owner_column(layout, header) for _, header in headers_of(layout)), layout


@pytest.mark.parametrize("layout", NO_REAL_OWNER_COLUMN)
def test_a_layout_without_a_real_owner_column_assigns_nothing(layout: str) -> None:
    assert load_mapping(layout).assign is None
    text = (Path(__file__).parents[2] / "mappings" / f"{layout}.yaml").read_text("utf-8")
    assert "No assign:" in text and "Searched" in text  # and says what was looked for


OWNED = [
    (layout, path, header)
    for layout in sorted(ASSIGNING)
    for path, header in headers_of(layout)
    if owner_column(layout, header)
]


@pytest.mark.parametrize(("layout", "path", "header"), OWNED, ids=[p.stem for _, p, _ in OWNED])
def test_a_lead_under_a_real_header_is_assigned_to_its_owner(
    layout: str, path: Path, header: list[str]
) -> None:
    mapping = load_mapping(layout)
    assert mapping.assign is not None
    mapping = replace(mapping, assign=replace(mapping.assign, directory=Directory.of([JANE])))
    row = [contact_value(column) for column in header]
    row[header.index(str(owner_column(layout, header)))] = "Doe, Jane"
    frame = pd.DataFrame([row], columns=header, index=[2], dtype=object)
    mapped = map_chunk(bind(mapping, header, header), frame, site=None)
    assigned = [a for a in activities_by_row(mapped).get(2, []) if a["type"] == "was_assigned"]
    assert [a["user"] for a in assigned] == [{"id": "u-jane"}], path.name
    assert "Doe, Jane" in assigned[0]["description"]
