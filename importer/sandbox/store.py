"""The sandbox's leads, per site, in memory with an optional SQLite copy.

The in-memory maps are the truth while the server runs; with a path, every
change is also written to SQLite (one row per lead) so a restart with the same
path finds the same leads. One lock guards both, and each change is a single
statement, so the file never holds half a change.

Merge rules (our reading of "create may update an existing lead"): a POST whose
id is known merges into that lead; otherwise a POST whose email matches a lead
of the same site (case-insensitively) merges into it and its id becomes an
alias of that lead. Non-empty incoming values overwrite; activities are always
appended, never de-duplicated.
"""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from importer.errors import ConfigError
from importer.sandbox.rules import dashed, normalize_id

# PRAGMA application_id of a sandbox store ("RGSB"), so that the sandbox never
# writes into some other SQLite file (a ledger, say) given by mistake.
_APPLICATION_ID = 0x52475342
_SCHEMA = """
CREATE TABLE IF NOT EXISTS leads (
    site TEXT NOT NULL,
    key  TEXT NOT NULL,
    seq  INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (site, key)
)
"""


class StoreClosed(RuntimeError):
    """The store was closed (the sandbox is stopping); the request is dropped."""


@dataclass
class StoredLead:
    """One lead as the sandbox holds it; ``ids`` are 32-hex, the first is the lead's own."""

    seq: int
    ids: list[str]
    fields: dict[str, Any] = field(default_factory=dict)
    activities: list[Any] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.ids[0]

    def as_json(self) -> dict[str, Any]:
        """The inspection view: ``id``, ``ids`` (dashed), the fields, then ``activities``."""
        view: dict[str, Any] = {"id": dashed(self.key), "ids": [dashed(i) for i in self.ids]}
        view.update(self.fields)
        view["activities"] = self.activities
        return view


@dataclass
class _Site:
    leads: dict[str, StoredLead] = field(default_factory=dict)  # key -> lead, oldest first
    aliases: dict[str, str] = field(default_factory=dict)  # any id -> key
    emails: dict[str, str] = field(
        default_factory=dict
    )  # lower-cased email -> key of the oldest holder


class LeadStore:
    """Leads per site. ``path`` None keeps them in memory only.

    Raises ConfigError when ``path`` cannot be opened or is not a sandbox store.
    Every method raises StoreClosed after ``close``.
    """

    def __init__(self, path: str | None = None) -> None:
        self._lock = threading.Lock()
        self._sites: dict[str, _Site] = {}
        self._seq = 0
        self._closed = False
        self._db: sqlite3.Connection | None = _open(path) if path else None
        if self._db is not None:
            self._load(self._db)

    # --- changes ----------------------------------------------------------

    def create(
        self,
        site: str,
        *,
        lead_id: str | None,
        fields: Mapping[str, Any],
        activities: Iterable[Any] = (),
        new_lead_fields: Mapping[str, Any] | None = None,
    ) -> str:
        """Create a lead or merge into the one it matches; return that lead's dashed id.

        ``new_lead_fields`` are set only when a new lead is made (e.g. the
        potential-seller role), before ``fields``.
        """
        with self._lock:
            state = self._site(site)
            hex_id = normalize_id(lead_id) if lead_id else None
            lead = self._match(state, hex_id, fields.get("email"))
            if lead is None:
                self._seq += 1
                lead = StoredLead(seq=self._seq, ids=[hex_id or uuid.uuid4().hex])
                lead.fields.update(new_lead_fields or {})
                state.leads[lead.key] = lead
                state.aliases[lead.key] = lead.key
            elif hex_id and hex_id not in state.aliases:
                lead.ids.append(hex_id)
                state.aliases[hex_id] = lead.key
            self._apply(state, lead, fields, (), activities)
            self._save(site, lead)
            return dashed(lead.key)

    def update(
        self,
        site: str,
        lead_id: str,
        *,
        fields: Mapping[str, Any],
        unset: Iterable[str] = (),
        activities: Iterable[Any] = (),
    ) -> bool:
        """Set ``fields``, remove ``unset`` and append ``activities``; False for an unknown lead."""
        with self._lock:
            state = self._site(site)
            lead = self._find(state, lead_id)
            if lead is None:
                return False
            self._apply(state, lead, fields, unset, activities)
            self._save(site, lead)
            return True

    def add_activities(self, site: str, lead_id: str, activities: Iterable[Any]) -> bool:
        """Append ``activities`` to a lead; False for an unknown lead."""
        return self.update(site, lead_id, fields={}, activities=activities)

    def reset(self) -> None:
        """Forget every lead (and empty the SQLite file)."""
        with self._lock:
            self._check_open()
            self._sites.clear()
            self._seq = 0
            if self._db is not None:
                self._db.execute("DELETE FROM leads")

    def close(self) -> None:
        """Close the SQLite file; idempotent."""
        with self._lock:
            self._closed = True
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- questions --------------------------------------------------------

    def resolve(self, site: str, lead_id: str) -> str | None:
        """The dashed primary id of the lead known as ``lead_id``, or None."""
        with self._lock:
            lead = self._find(self._site(site), lead_id)
            return dashed(lead.key) if lead else None

    def leads(self, site: str) -> list[dict[str, Any]]:
        """Copies of a site's leads, oldest first (see ``StoredLead.as_json``)."""
        with self._lock:
            self._check_open()
            state = self._sites.get(site)
            views = [lead.as_json() for lead in state.leads.values()] if state else []
            return copy.deepcopy(views)

    def count(self) -> int:
        """How many leads all sites hold together."""
        with self._lock:
            return sum(len(s.leads) for s in self._sites.values())

    # --- inside the lock ------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed("the sandbox store is closed")

    def _site(self, site: str) -> _Site:
        self._check_open()
        return self._sites.setdefault(site, _Site())

    @staticmethod
    def _find(state: _Site, lead_id: str) -> StoredLead | None:
        key = state.aliases.get(normalize_id(lead_id))
        return state.leads.get(key) if key else None

    @staticmethod
    def _match(state: _Site, hex_id: str | None, email: Any) -> StoredLead | None:
        if hex_id and hex_id in state.aliases:
            return state.leads[state.aliases[hex_id]]
        if isinstance(email, str) and email.strip():
            key = state.emails.get(email.strip().lower())
            if key:
                return state.leads[key]
        return None

    def _apply(
        self,
        state: _Site,
        lead: StoredLead,
        fields: Mapping[str, Any],
        unset: Iterable[str],
        activities: Iterable[Any],
    ) -> None:
        old_email = lead.fields.get("email")
        for name in unset:
            lead.fields.pop(name, None)
        lead.fields.update(fields)
        lead.activities.extend(activities)
        new_email = lead.fields.get("email")
        if old_email != new_email:
            self._reindex_email(state, lead, old_email, new_email)

    @staticmethod
    def _reindex_email(state: _Site, lead: StoredLead, old: Any, new: Any) -> None:
        if isinstance(old, str) and state.emails.get(old.strip().lower()) == lead.key:
            # Rare (an email changed): hand the address to the oldest other holder.
            old_key = old.strip().lower()
            del state.emails[old_key]
            for other in state.leads.values():
                if (
                    other is not lead
                    and str(other.fields.get("email", "")).strip().lower() == old_key
                ):
                    state.emails[old_key] = other.key
                    break
        if isinstance(new, str) and new.strip():
            holder = state.emails.get(new.strip().lower())
            if holder is None or state.leads[holder].seq > lead.seq:
                state.emails[new.strip().lower()] = lead.key

    def _save(self, site: str, lead: StoredLead) -> None:
        if self._db is None:
            return
        data = json.dumps({"ids": lead.ids, "fields": lead.fields, "activities": lead.activities})
        self._db.execute(
            "INSERT OR REPLACE INTO leads (site, key, seq, data) VALUES (?, ?, ?, ?)",
            (site, lead.key, lead.seq, data),
        )

    def _load(self, db: sqlite3.Connection) -> None:
        for site, seq, data in db.execute("SELECT site, seq, data FROM leads ORDER BY seq"):
            stored = json.loads(data)
            lead = StoredLead(
                seq=seq, ids=stored["ids"], fields=stored["fields"], activities=stored["activities"]
            )
            state = self._sites.setdefault(site, _Site())
            state.leads[lead.key] = lead
            for hex_id in lead.ids:
                state.aliases[hex_id] = lead.key
            self._reindex_email(state, lead, None, lead.fields.get("email"))
            self._seq = max(self._seq, seq)


def _open(path: str) -> sqlite3.Connection:
    """Open (creating with mode 0600: it holds personal data) a sandbox store."""
    try:
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(
            f"cannot open the sandbox store {path}: {exc}; check the --store path"
        ) from exc
    try:
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        has_tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        if has_tables and app_id != _APPLICATION_ID:
            raise ConfigError(
                f"{path} is not a sandbox store; give --store a new file or an earlier sandbox store"
            )
        db.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(_SCHEMA)
    except sqlite3.Error as exc:
        db.close()
        raise ConfigError(
            f"cannot use the sandbox store {path}: {exc}; give --store a new file"
        ) from exc
    except ConfigError:
        db.close()
        raise
    return db
