"""Tests of importer.ledger."""
