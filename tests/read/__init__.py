"""Tests of importer.read."""
