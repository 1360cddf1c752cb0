"""Ledger: the crash-safe SQLite record of what was sent, which makes every re-run safe.

``ledger.Ledger`` is the whole API, in three layers: ``store`` (the file: opening,
modes, one transaction per call, and the canonical payload hash, with ``schema``
for its tables and ``locking`` for keeping it to one run), ``transitions`` (the
write-ahead states and recovery after a crash) and ``ledger`` (records and
queries). ``listing`` reads a ledger as a table for ``rg-import ledger``.
"""
