"""A chunk's ``was_assigned`` activities: each row's owner in the old CRM, matched to a user.

Each distinct owner value of the chunk is matched once (``importer.mapping.owners``).
A matched row gets one ``was_assigned`` activity per owner column (agent,
lender) carrying ``user: {"id": ...}``; its description names the owner as the
export spelled it, so the activity changes exactly when the row's owner or its
user does (``importer.plan.assignments`` then sends it once, even for an owner
the lead had before; ``role_of`` tells its role back from it). An owner
that matches no user, or several, is a warning: the row is sent unassigned,
and the owner stays in its note as the mapping writes it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from importer import codes
from importer.mapping.owners import Directory, OwnerMatch
from importer.mapping.spec import Mapping
from importer.mapping.values import Evaluator
from importer.models import RowWarning

ASSIGNED = "was_assigned"
USER_ID = "user.id"  # the activity frame's column of the user to assign to
# per role: the word its description uses, and its place before the other activities
_ROLES = {"agent": ("owner", -2), "lender": ("lender", -1)}


def _opening(word: str) -> str:
    """The first words of a ``was_assigned`` description for the role of ``word``."""
    return f"The {word} in the "


def role_of(activity: dict[str, Any]) -> str | None:
    """The role (agent, lender) of a ``was_assigned`` activity made here, told by
    its description's first words; None for any other activity (one a mapping's
    ``activities:`` writes has no user)."""
    if activity.get("type") != ASSIGNED or "user" not in activity:
        return None
    description = str(activity.get("description", ""))
    for role, (word, _) in _ROLES.items():
        if description.startswith(_opening(word)):
            return role
    return None


def assignment_frames(ev: Evaluator, mapping: Mapping) -> list[pd.DataFrame]:
    """The ``was_assigned`` activities of the chunk (``_order`` puts them first);
    warnings for the owners no single user matches."""
    spec = mapping.assign
    if spec is None or spec.directory is None:
        return []
    directory: Directory = spec.directory
    frames = []
    for role, columns in spec.roles:
        word, order = _ROLES[role]
        values, labels = ev.coalesce(columns, multiline=False)
        present = values != ""
        if not present.any():
            continue
        matches = {v: directory.match(v) for v in pd.unique(values[present])}
        _warn(ev, values[present], matches, labels[present])
        matched = values[present][[matches[v].status == "matched" for v in values[present]]]
        if len(matched):
            who = mapping.crm or mapping.name
            frames.append(
                pd.DataFrame(
                    {
                        "_row": matched.index,
                        "_order": order,
                        "type": ASSIGNED,
                        "source": mapping.source,
                        "description": [f"{_opening(word)}{who} export: {v}" for v in matched],
                        "created": "",
                        USER_ID: [_user_id(matches[v]) for v in matched],
                    }
                )
            )
    return frames


def _user_id(match: OwnerMatch) -> str:
    assert match.user is not None
    return match.user.id


def _warn(
    ev: Evaluator, values: pd.Series, matches: dict[str, OwnerMatch], labels: pd.Series
) -> None:
    rows, columns = values.index.tolist(), labels.tolist()
    for row, value, column in zip(rows, values.tolist(), columns, strict=True):
        match = matches[value]
        if match.status == "unknown":
            ev.issues.warnings.append(
                RowWarning(
                    int(row),
                    codes.UNKNOWN_AGENT,
                    f"{column} {value!r} matches no user of the site: sent unassigned; "
                    "add it to an --agent-map file (see agents.csv of rg-import plan)",
                )
            )
        elif match.status == "ambiguous":
            names = ", ".join(f"{p.name} ({p.id})" for p in match.candidates)
            ev.issues.warnings.append(
                RowWarning(
                    int(row),
                    codes.AMBIGUOUS_AGENT,
                    f"{column} {value!r} matches several users ({names}): sent unassigned; "
                    "choose one in an --agent-map file",
                )
            )
