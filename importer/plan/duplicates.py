"""Rows rejected or warned about for what other rows of the file hold.

``file_duplicates`` rejects a row whose key an earlier row of the file had,
and warns about an email shared across keys (``importer.plan.dedupe`` keeps
what was seen). ``still_duplicates`` rejects again a row fed back from a
reject file while its key is still the one it repeated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from importer import codes
from importer.ledger.ledger import Ledger
from importer.models import Problem, RowWarning
from importer.plan.dedupe import SeenKeys
from importer.read import fed_back as read_fed_back


def still_duplicates(
    frame: pd.DataFrame,
    key_of: Callable[[int], str],
    problems: dict[int, list[Problem]],
    *,
    kind: str,
    ledger: Ledger | None,
    site: str | None,
    source: str,
) -> None:
    """Reject again the rows of a reject file rejected as duplicates whose key is
    still the one they repeated (``importer.read.fed_back``): sent, they would
    overwrite the kept row's lead. ``key_of``: a mapped row's key."""
    notes = read_fed_back.found(frame)
    if not notes or kind == "activity":
        return
    hits = {row: note for row, note in notes.items() if note[0] and key_of(row) == note[0]}
    leads: dict[str, str] = {}
    if hits and ledger is not None and site:
        wanted = sorted({key for key, _ in hits.values()})
        records = ledger.lookup(site, source, wanted)
        leads = {key: record.lead_id for key, record in records.items()}
    for row, (key, kept) in hits.items():
        lead = f" (lead {leads[key]})" if key in leads else ""
        problems.setdefault(row, []).append(
            Problem(
                codes.DUPLICATE_KEY,
                f"same key {key!r} as row {kept} of the file it was rejected from, the row "
                f"kept{lead}; merge it into that row, or give it its own ID",
            )
        )


def file_duplicates(
    seen: SeenKeys,
    keys: pd.Series,
    emails: pd.Series | None,
    problems: dict[int, list[Problem]],
    warnings: list[RowWarning],
    key_hashes: np.ndarray | None = None,
    email_hashes: np.ndarray | None = None,
    *,
    kind: str,
) -> None:
    """Reject later rows with an earlier row's key; warn about emails shared across keys.

    The hashes, when given, are those of ``keys`` and ``emails`` (same rows, same order).
    """
    if kind == "activity":
        return  # many activity rows per lead is the point of an activity file
    first = seen.first_rows(keys, pd.Series(True, index=keys.index), key_hashes)
    hit = first.to_numpy() > 0
    for row, key, earlier in zip(
        keys.index[hit].tolist(), keys[hit].tolist(), first[hit].tolist(), strict=True
    ):
        problems.setdefault(int(row), []).append(
            Problem(
                codes.DUPLICATE_KEY,
                f"same key {key!r} as row {earlier}; only the first row is kept",
            )
        )
    if emails is None:
        return
    same_rows = len(emails) == len(keys) and emails.index.equals(keys.index)
    mapped_keys = keys if same_rows else keys.loc[emails.index]
    rejected = np.fromiter(problems, dtype=np.int64, count=len(problems))
    valid = pd.Series(~np.isin(emails.index.to_numpy(), rejected), index=emails.index)
    hashes = (
        (email_hashes, key_hashes)
        if same_rows and email_hashes is not None and key_hashes is not None
        else None
    )
    for row, earlier in seen.shared_emails(emails, mapped_keys, valid, hashes).items():
        warnings.append(
            RowWarning(
                row,
                codes.SHARED_EMAIL,
                f"email {emails.loc[row]} is also on row {earlier} under another key; "
                "Real Geeks may merge the two leads",
            )
        )
