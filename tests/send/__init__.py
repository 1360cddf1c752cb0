"""Tests of importer.send."""
