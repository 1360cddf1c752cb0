"""Duplicates inside one input file, tracked at constant memory per row.

Keys and emails seen so far are kept as sorted arrays of 64-bit hashes (eight
bytes a row), not as Python strings, so a million-row file costs a few
megabytes. Two different keys sharing a 64-bit hash is astronomically unlikely
at these sizes (about 1 in 10^7 for a million keys).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _hashes(values: pd.Series) -> np.ndarray:
    return pd.util.hash_array(values.to_numpy(dtype=object))


class SeenKeys:
    """Remembers the keys (and emails) of the rows planned so far."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.uint64)
        self._key_rows = np.empty(0, dtype=np.int64)
        self._emails = np.empty(0, dtype=np.uint64)
        self._email_keys = np.empty(0, dtype=np.uint64)
        self._email_rows = np.empty(0, dtype=np.int64)

    def first_rows(self, keys: pd.Series, usable: pd.Series) -> pd.Series:
        """For each row: 0 if its key is new, else the row number that had it first.

        Only rows where ``usable`` is True are considered and remembered.
        """
        result = np.zeros(len(keys), dtype=np.int64)
        pos = np.flatnonzero(usable.to_numpy() & (keys != "").to_numpy())
        if not len(pos):
            return pd.Series(result, index=keys.index)
        rows = keys.index.to_numpy()[pos].astype(np.int64)
        h = _hashes(keys.iloc[pos])
        # earlier chunks
        found = np.searchsorted(self._keys, h)
        found_ok = (
            (found < len(self._keys)) & (self._keys[np.minimum(found, len(self._keys) - 1)] == h)
            if len(self._keys)
            else np.zeros(len(h), bool)
        )
        result[pos[found_ok]] = self._key_rows[found[found_ok]]
        # within this chunk: the first occurrence wins
        fresh = ~found_ok
        _, first_idx, inverse = np.unique(h, return_index=True, return_inverse=True)
        first_row = rows[first_idx][inverse]
        dup_inside = fresh & (first_row != rows)
        result[pos[dup_inside]] = first_row[dup_inside]
        new = fresh & ~dup_inside
        self._keys, self._key_rows = _merge(self._keys, self._key_rows, h[new], rows[new])
        return pd.Series(result, index=keys.index)

    def shared_emails(
        self, emails: pd.Series, keys: pd.Series, usable: pd.Series
    ) -> dict[int, int]:
        """Rows whose email was seen first on a row with a different key: row -> that row."""
        mask = usable.to_numpy() & (emails != "").to_numpy() & (keys != "").to_numpy()
        pos = np.flatnonzero(mask)
        if not len(pos):
            return {}
        rows = emails.index.to_numpy()[pos].astype(np.int64)
        eh = _hashes(emails.iloc[pos])
        kh = _hashes(keys.iloc[pos])
        out: dict[int, int] = {}
        # compare with earlier chunks
        if len(self._emails):
            idx = np.searchsorted(self._emails, eh)
            ok = idx < len(self._emails)
            hit = np.zeros(len(eh), bool)
            hit[ok] = self._emails[idx[ok]] == eh[ok]
            for i in np.flatnonzero(hit):
                if self._email_keys[idx[i]] != kh[i]:
                    out[int(rows[i])] = int(self._email_rows[idx[i]])
        else:
            hit = np.zeros(len(eh), bool)
        # within this chunk
        _, first_idx, inverse = np.unique(eh, return_index=True, return_inverse=True)
        first = first_idx[inverse]
        for i in np.flatnonzero(~hit & (first != np.arange(len(eh)))):
            if kh[first[i]] != kh[i]:
                out[int(rows[i])] = int(rows[first[i]])
        new = ~hit & (first == np.arange(len(eh)))
        order = np.argsort(np.concatenate([self._emails, eh[new]]), kind="stable")
        self._emails = np.concatenate([self._emails, eh[new]])[order]
        self._email_keys = np.concatenate([self._email_keys, kh[new]])[order]
        self._email_rows = np.concatenate([self._email_rows, rows[new]])[order]
        return out


def _merge(
    hashes: np.ndarray, rows: np.ndarray, new_hashes: np.ndarray, new_rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    merged = np.concatenate([hashes, new_hashes])
    order = np.argsort(merged, kind="stable")
    return merged[order], np.concatenate([rows, new_rows])[order]
