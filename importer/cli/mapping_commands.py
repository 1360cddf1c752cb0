"""``rg-import mappings list|show|suggest|check``: the catalog of mapping files."""

from __future__ import annotations

from pathlib import Path

import click

from importer.cli.shared import spools_input
from importer.errors import ConfigError, ExitCode


@click.group("mappings")
def mappings_group() -> None:
    """List, show, suggest and check mapping files."""


@mappings_group.command("list")
def mappings_list() -> None:
    """Every mapping on the search path: name, CRM, confidence, file."""
    from importer.catalog.detect import load_catalog
    from importer.cli.summaries import catalog_table

    catalog, broken = load_catalog()
    click.echo("\n".join(catalog_table(catalog, broken)))
    for b in broken:
        click.echo(f"warning: {b.message}", err=True)


@mappings_group.command("show")
@click.argument("name", metavar="NAME|PATH")
def mappings_show(name: str) -> None:
    """Print a mapping file, headed by how its files are recognised (valid YAML as a whole)."""
    from importer.catalog.detect import fingerprint_summary
    from importer.mapping.files import load_mapping

    mapping = load_mapping(name)
    assert mapping.path is not None
    click.echo(f"# {mapping.name}: {mapping.crm or 'no CRM'}, {mapping.confidence}")
    click.echo(f"# file: {mapping.path}")
    click.echo(f"# recognised by: {fingerprint_summary(mapping)}")
    click.echo(mapping.path.read_text(encoding="utf-8"), nl=False)


@mappings_group.command("suggest")
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Write the starter mapping here (missing folders are created).",
)
@click.option("--sheet", help="Excel sheet to read (default: the first).")
@click.option("--delimiter", help="CSV delimiter (default: detected among , ; tab |).")
@click.option("--encoding", help="File encoding (default: detected; e.g. utf-8, cp1252).")
@spools_input
def mappings_suggest(
    input_path: Path,
    input_name: str,
    out: Path | None,
    sheet: str | None,
    delimiter: str | None,
    encoding: str | None,
) -> int:
    """Name the mapping that reads INPUT, or propose a starter mapping for it.

    The starter splits a person-name column (Name, Client Name) into first and
    last name, proposes a unique id-like column as the key when there is no ID
    column, and lists loose guesses for key, name, email or phone as questions
    in its comments instead of using them. --out creates missing folders.
    """
    from importer.catalog.detect import clear_winner
    from importer.catalog.suggest import read_sample, suggest
    from importer.read.options import ReadOptions

    if delimiter in ("tab", "\\t"):
        delimiter = "\t"
    headers, rows = read_sample(input_path, read_options=ReadOptions(encoding, delimiter, sheet))
    found = suggest(headers, rows, name=out.stem if out else "my_crm")
    for match in found.matches:
        m = match.mapping
        click.echo(
            f"Recognised: {m.crm or m.name} ({m.description}; {m.confidence}) — mapping {m.name}, "
            f"reads {match.score:.0%} of the columns"
        )
    winner = clear_winner(found.matches)
    if winner is not None:
        click.echo(f"Use: rg-import plan {input_name} --mapping {winner.name}")
        return int(ExitCode.OK)
    if found.matches:
        click.echo("Several mappings fit equally well: pass --mapping with the right one.")
        return int(ExitCode.OK)
    summary = (
        f"No mapping recognises {input_name}: {len(found.guesses)} of {len(headers)} columns "
        "guessed; edit the starter mapping, then check it"
    )
    if out is None:
        click.echo(summary + ".", err=True)
        click.echo(found.yaml, nl=False)
        return int(ExitCode.OK)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # --out may name a new folder
        # "x" creates the file or fails: an existing file, or a link planted there, is never written through
        with out.open("x", encoding="utf-8") as handle:
            handle.write(found.yaml)
    except FileExistsError:
        raise ConfigError(f"{out} exists; choose another --out or delete it first") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {out}: {exc.strerror or exc}") from exc
    click.echo(f"{summary}: rg-import mappings check {out} --sample {input_name}")
    click.echo(f"Wrote {out}")
    return int(ExitCode.OK)


@mappings_group.command("check")
@click.argument("file", metavar="FILE")
@click.option(
    "--sample", type=click.Path(path_type=Path), help="An export the mapping should read."
)
def mappings_check(file: str, sample: Path | None) -> int:
    """Lint a mapping file (a path or a name); exit 2 when it has problems."""
    from importer.catalog.lint import check
    from importer.read.spool import spooled_input

    if sample is None:
        problems = check(file, None)
    else:
        with spooled_input(sample) as source:
            problems = [p.replace(str(source.path), source.name) for p in check(file, source.path)]
    for line in problems:
        click.echo(line)
    if problems:
        return int(ExitCode.USAGE)
    click.echo(f"OK: {file}" + (f" reads {sample}" if sample else ""))
    return int(ExitCode.OK)
