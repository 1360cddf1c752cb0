"""Tests of importer.cli."""
