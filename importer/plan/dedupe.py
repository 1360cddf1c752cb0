"""Duplicates inside one input file, tracked in a few bytes per row.

Keys and emails seen so far are kept as 64-bit hashes in sorted runs (one run
per chunk, like the levels of a log-structured index), never as Python
strings, so a million-row file costs about 32 MB and no step ever copies what
was seen before. Two different keys sharing a 64-bit hash is astronomically
unlikely at these sizes (about 1 in 10^7 for a million keys).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd


def key_hashes(values: pd.Series) -> np.ndarray:
    """The hashes ``SeenKeys`` compares (public: a checking process computes them)."""
    return pd.util.hash_array(values.to_numpy(dtype=object), categorize=False)


@functools.cache
def _empty_hash() -> np.uint64:
    return key_hashes(pd.Series([""], dtype=object))[0]


def _filled(values: pd.Series, hashes: np.ndarray | None) -> np.ndarray:
    """True where a value is not "": from its hash when known, sparing a string comparison per row."""
    if hashes is not None:
        return hashes != _empty_hash()
    return (values != "").to_numpy()


def _first_in_chunk(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, first): a stable sort order of ``hashes``, and for each position
    the position of the first one with the same hash (one sort, where
    ``np.unique`` would take two)."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    starts = np.empty(len(ordered), dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1
    first = np.empty_like(order)
    first[order] = order[starts][group]  # stable: a group's first member is its earliest
    return order, first


class _Runs:
    """Sorted runs of (hash, payload...) arrays; looks a hash up in all of them."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, ...]] = []

    def add(
        self, order: np.ndarray, keep: np.ndarray, hashes: np.ndarray, *payload: np.ndarray
    ) -> None:
        """Add the kept positions; ``order`` sorts ``hashes`` (see ``_first_in_chunk``)."""
        chosen = order[keep[order]]  # still sorted by hash
        if len(chosen):
            self.runs.append((hashes[chosen], *(p[chosen] for p in payload)))

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """(found mask, payload arrays at the found positions; zeros elsewhere)."""
        found = np.zeros(len(hashes), dtype=bool)
        out: list[np.ndarray] = []
        for run in self.runs:
            keys = run[0]
            pos = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
            hit = ~found & (keys[pos] == hashes)
            if not out:
                out = [np.zeros(len(hashes), dtype=p.dtype) for p in run[1:]]
            for target, values in zip(out, run[1:], strict=True):
                target[hit] = values[pos[hit]]
            found |= hit
        return found, out


class SeenKeys:
    """Remembers the keys (and emails) of the rows planned so far."""

    def __init__(self) -> None:
        self._keys = _Runs()  # key hash -> first row
        self._emails = _Runs()  # email hash -> (key hash, first row)

    def first_rows(
        self, keys: pd.Series, usable: pd.Series, hashes: np.ndarray | None = None
    ) -> pd.Series:
        """For each row: 0 if its key is new, else the row number that had it first.

        Only rows where ``usable`` is True (and the key is not empty) count.
        ``hashes`` are ``key_hashes(keys)`` if already known (made where the chunk was checked).
        """
        result = np.zeros(len(keys), dtype=np.int64)
        pos = np.flatnonzero(usable.to_numpy() & _filled(keys, hashes))
        if not len(pos):
            return pd.Series(result, index=keys.index)
        rows = keys.index.to_numpy()[pos].astype(np.int32)
        h = key_hashes(keys.iloc[pos]) if hashes is None else hashes[pos]
        found, (earlier,) = (
            self._keys.find(h) if self._keys.runs else (np.zeros(len(h), bool), [rows])
        )
        result[pos[found]] = earlier[found]
        # within this chunk the first occurrence wins
        order, first = _first_in_chunk(h)
        first_row = rows[first]
        inside = ~found & (first_row != rows)
        result[pos[inside]] = first_row[inside]
        self._keys.add(order, ~found & ~inside, h, rows)
        return pd.Series(result, index=keys.index)

    def shared_emails(
        self,
        emails: pd.Series,
        keys: pd.Series,
        usable: pd.Series,
        hashes: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> dict[int, int]:
        """Rows whose email was first seen on a row with a different key: row -> that row.

        ``hashes`` are (email hashes, key hashes) of the same rows, if already known.
        """
        email_hashes, key_hashes_ = hashes if hashes is not None else (None, None)
        mask = usable.to_numpy() & _filled(emails, email_hashes) & _filled(keys, key_hashes_)
        pos = np.flatnonzero(mask)
        if not len(pos):
            return {}
        rows = emails.index.to_numpy()[pos].astype(np.int32)
        if hashes is None:
            eh, kh = key_hashes(emails.iloc[pos]), key_hashes(keys.iloc[pos])
        else:
            eh, kh = hashes[0][pos], hashes[1][pos]
        out: dict[int, int] = {}
        seen = np.zeros(len(eh), dtype=bool)
        if self._emails.runs:
            seen, (seen_keys, seen_rows) = self._emails.find(eh)
            for i in np.flatnonzero(seen & (seen_keys != kh)):
                out[int(rows[i])] = int(seen_rows[i])
        # within this chunk
        order, first = _first_in_chunk(eh)
        later = ~seen & (first != np.arange(len(eh)))
        for i in np.flatnonzero(later & (kh[first] != kh)):
            out[int(rows[i])] = int(rows[first[i]])
        self._emails.add(order, ~seen & ~later, eh, kh, rows)
        return out
