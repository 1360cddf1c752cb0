"""``python -m importer`` runs the command-line tool."""

from importer.cli import main

if __name__ == "__main__":
    main()
