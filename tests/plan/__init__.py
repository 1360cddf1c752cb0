"""Tests of importer.plan."""
