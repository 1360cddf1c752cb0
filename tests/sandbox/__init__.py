"""Tests of importer.sandbox."""
