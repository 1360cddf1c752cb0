"""Tests of importer.mapping."""
