"""Tests of importer.catalog."""
