"""rg-import: bulk-import CRM spreadsheet exports into Real Geeks Lead Manager.

The package is a library first; ``importer.cli.main`` is a thin click layer over it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
