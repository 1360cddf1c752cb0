"""Ledger: the crash-safe SQLite record of what was sent, which makes every re-run safe.

``ledger.Ledger`` is the whole API, in three layers: ``store`` (the file: format,
opening, locking, schema, modes, and the canonical payload hash), ``transitions``
(the write-ahead states and recovery after a crash) and ``ledger`` (records and
queries). ``listing`` reads a ledger as a table for ``rg-import ledger``.
"""
