"""The ``make bench`` benchmark of rg-import: see bench/README.md.

Every measurement runs the installed command line as a real subprocess, so the
numbers include interpreter start-up and imports, as a user would see them.
"""
