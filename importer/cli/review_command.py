"""``rg-import review``: the reasons of a run's rejects, read back from its files."""

from __future__ import annotations

from pathlib import Path

import click

from importer.errors import ConfigError


@click.command()
@click.argument("path", metavar="PATH", type=click.Path(path_type=Path))
@click.option(
    "--code", metavar="CODE", help="List the rows rejected for this code, with their messages."
)
@click.option(
    "--open",
    "open_report",
    is_flag=True,
    help="Open the run directory's report.html in the browser.",
)
@click.option("--sheet", metavar="NAME", help="The sheet of rows in a workbook (default: Rejects).")
def review(path: Path, code: str | None, open_report: bool, sheet: str | None) -> int:  # fmt: skip
    """Show why rows were rejected: rows per code, an example of each.

    PATH is a run directory (its rejects file, and report.json for the
    warnings), a rejects.csv or a rejects.xlsx.
    """
    from importer.cli.summaries import review_code, review_table
    from importer.outputs.review import load_review

    found = load_review(path, sheet=sheet)
    if code is not None:
        _check_code(code, found.rejects.by_code)
        click.echo(review_code(found, code))
    else:
        click.echo(review_table(found))
    if open_report:
        _open(found.report_html, found.run_dir or path)
    return 0


def _check_code(code: str, present: dict[str, int]) -> None:
    """A code of the closed set (a typo stops here, exit 2), present in the file or not."""
    from importer import codes

    if codes.describe(code) is None:
        shown = ", ".join(sorted(present)) or "none"
        raise ConfigError(
            f"unknown code {code!r}; the codes of these rejects are: {shown} "
            "(every code is listed in docs/mappings.md)"
        )


def _open(report_html: Path | None, where: Path) -> None:
    """Open report.html in the browser, or say that there is none."""
    if report_html is None:
        click.echo(f"No report.html in {where}: nothing to open (a run directory holds one).")
        return
    import webbrowser

    if not webbrowser.open(report_html.resolve().as_uri()):
        click.echo(f"No browser could be started: open {report_html} yourself.")
        return
    click.echo(f"Opened {report_html}")
