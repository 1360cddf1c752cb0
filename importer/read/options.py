"""How to read a file (``ReadOptions``), and checking those options before any reading."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from importer.errors import ConfigError
from importer.read.regex_guard import SAFER, nested_quantifier


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file; every field has a detecting default."""

    encoding: str | None = None  # None: detect
    delimiter: str | None = None  # None: sniff among , ; \t |
    sheet: str | None = None  # XLSX sheet name; None: the first sheet
    chunk_rows: int = 50_000
    # Regexes; a data row whose first non-empty cell fully matches one is dropped
    # (e.g. Salesforce report footers r"Grand Totals \(\d+ records\)").
    drop_rows_matching: tuple[str, ...] = ()
    skip_blank_rows: bool = True  # all-empty rows are skipped (they still consume a row number)
    # CSV only: after the first chunk, size the others so that the rest of the
    # file splits evenly (about chunk_rows each) instead of leaving a small tail
    # chunk, which costs as much fixed work as a full one when chunks are checked in parallel.
    even_chunks: bool = False
    # XLSX only: a workbook unpacking to more than this is refused (a zip bomb), and so is
    # a sheet with more cells than ``max_cells`` (Excel's own limit is 17 billion).
    max_unpacked_mb: int = 2048
    max_cells: int = 50_000_000
    # a reject file's diagnostic columns (_row, _code, ...) are rows' columns too: for
    # ``rg-import review``; everything else reads a reject file as the export it came from
    keep_reject_columns: bool = False


def check_options(options: ReadOptions) -> tuple[ReadOptions, list[re.Pattern[str]]]:
    delimiter = options.delimiter
    if delimiter is not None:
        delimiter = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(delimiter, delimiter)
        # the C parser splits on one byte: a non-ASCII character is several in UTF-8
        if len(delimiter) != 1 or not delimiter.isascii() or delimiter in '"\r\n':
            raise ConfigError(
                f"delimiter {options.delimiter!r} must be one character such as , ; | or tab (plain ASCII)"
            )
    if options.chunk_rows < 1:
        raise ConfigError(f"chunk_rows must be at least 1, got {options.chunk_rows}")
    if options.max_cells < 1 or options.max_unpacked_mb < 1:
        raise ConfigError(
            "the workbook limits (RG_MAX_CELLS, RG_MAX_UNPACKED_MB) must be at least 1"
        )
    patterns = []
    for pattern in options.drop_rows_matching:
        try:
            patterns.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(
                f"drop-rows pattern {pattern!r} is not a valid regular expression: {exc}"
            ) from None
        if risk := nested_quantifier(pattern):
            raise ConfigError(
                f"drop-rows pattern {pattern!r} could take for ever to match: {risk}; {SAFER}"
            )
    if delimiter != options.delimiter:
        options = dataclasses.replace(options, delimiter=delimiter)
    return options, patterns
