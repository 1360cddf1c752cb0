"""``Guess``: what one column of a file probably holds, as ``suggest`` reasons it out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guess:
    """What one column of the file probably holds, how sure, and why."""

    column: str
    target: str  # a lead field, or key / note / source_details / ignore / full_name
    confidence: float  # 0..1
    reason: str
    label: str = ""  # for source_details: the word shown before the value
    fuzzy: bool = False  # matched by name similarity only (difflib)
