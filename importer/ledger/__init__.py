"""Ledger: the crash-safe SQLite record of what was sent, which makes every re-run safe.

``ledger.Ledger`` is the whole API, built by composition: it owns a ``store``
(the file: opening, modes, one transaction per call, and the canonical payload
hash, with ``schema`` for its tables and ``locking`` for keeping it to one run)
and offers the methods of ``transitions`` (the write-ahead states and recovery
after a crash) and ``queries`` (lookups and listings, handing out ``records``),
both built on that store. ``listing`` reads a ledger as a table for
``rg-import ledger``.
"""
