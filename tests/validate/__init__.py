"""Tests of importer.validate."""
