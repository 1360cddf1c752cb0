"""Tests of importer.normalize."""
