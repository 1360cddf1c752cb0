"""``python -m importer`` runs the command-line tool."""

from importer.cli.main import main

if __name__ == "__main__":
    main()
