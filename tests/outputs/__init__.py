"""Tests of importer.outputs."""
