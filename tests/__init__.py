"""rg-import test suite: a folder per importer stage, package-wide checks at the top."""
