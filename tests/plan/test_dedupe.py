"""Duplicate keys and shared emails across chunks match a plain dictionary model,
whether the hashes come with the chunk (from a checking process) or not."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.plan.dedupe import SeenKeys, key_hashes

keys_strategy = st.lists(st.sampled_from(["", "a", "b", "c", "d", "e"]), min_size=1, max_size=40)


def chunked(values: list[str], sizes: list[int]) -> list[pd.Series]:
    """Split values into consecutive Series indexed by spreadsheet row (2, 3, ...)."""
    out, start = [], 0
    for size in sizes:
        if start >= len(values):
            break
        part = values[start : start + size]
        out.append(pd.Series(part, index=range(start + 2, start + 2 + len(part)), dtype=object))
        start += size
    if start < len(values):
        part = values[start:]
        out.append(pd.Series(part, index=range(start + 2, start + 2 + len(part)), dtype=object))
    return out


@settings(max_examples=200, deadline=None)
@given(keys_strategy, st.lists(st.integers(1, 7), min_size=1, max_size=8), st.booleans())
def test_first_rows_names_the_first_row_with_the_same_key(
    keys: list[str], sizes: list[int], hashed: bool
) -> None:
    seen = SeenKeys()
    got: dict[int, int] = {}
    for part in chunked(keys, sizes):
        hashes = key_hashes(part) if hashed else None
        got.update(seen.first_rows(part, pd.Series(True, index=part.index), hashes).to_dict())
    first: dict[str, int] = {}
    for row, key in enumerate(keys, start=2):
        expected = first.get(key, 0) if key else 0
        assert got[row] == expected, (row, key)
        if key:
            first.setdefault(key, row)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["", "x@e.com", "y@e.com"]), st.sampled_from(["k1", "k2", "k3"])),
        min_size=1,
        max_size=30,
    ),
    st.lists(st.integers(1, 6), min_size=1, max_size=8),
    st.booleans(),
)
def test_shared_emails_flag_rows_whose_email_first_came_with_another_key(
    pairs: list[tuple[str, str]], sizes: list[int], hashed: bool
) -> None:
    emails = [e for e, _ in pairs]
    keys = [k for _, k in pairs]
    seen = SeenKeys()
    got: dict[int, int] = {}
    for e_part, k_part in zip(chunked(emails, sizes), chunked(keys, sizes), strict=True):
        usable = pd.Series(True, index=e_part.index)
        hashes = (key_hashes(e_part), key_hashes(k_part)) if hashed else None
        got.update(seen.shared_emails(e_part, k_part, usable, hashes))
    first: dict[str, tuple[str, int]] = {}
    expected: dict[int, int] = {}
    for row, (email, key) in enumerate(pairs, start=2):
        if not email:
            continue
        if email in first:
            if first[email][0] != key:
                expected[row] = first[email][1]
        else:
            first[email] = (key, row)
    assert got == expected
