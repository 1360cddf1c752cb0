"""What several commands share: option lists, piped input, the command line as typed."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from importer.settings import AUTO

F = TypeVar("F", bound=Callable[..., Any])


def apply_options(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    """Apply a shared list of click options to a command."""

    def wrap(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


def spools_input(f: F) -> F:
    """Give the command its INPUT as a regular file, and ``input_name``: INPUT as typed.

    ``-``, /dev/stdin, a FIFO or ``<(…)`` can be read only once, while the reader
    opens its input several times: such an input is copied first (``importer.read.spool``).
    """

    @functools.wraps(f)
    def wrapper(*args: Any, input_path: Path, **kwargs: Any) -> Any:
        from importer.read.spool import spooled_input

        with spooled_input(input_path) as source:
            return f(*args, input_path=source.path, input_name=source.name, **kwargs)

    return cast(F, wrapper)


def command_line() -> str:
    """The command as typed, for report.json and the log (arguments only; secrets never come as
    flags, a --notify-url, whose path may hold a webhook's token, is cut to its host, and a
    URL's password, as a --ledger postgresql:// URL may carry, is masked)."""
    root = click.get_current_context().find_root()
    argv = (root.obj or {}).get("argv")
    return " ".join(["rg-import", *_without_secrets(sys.argv[1:] if argv is None else argv)])


def _without_secrets(args: list[str]) -> list[str]:
    if not any(arg.startswith("--notify-url") or "://" in arg for arg in args):
        return list(args)  # (and requests, which notify imports, stays unimported)
    from importer.ledger.spec import mask_url
    from importer.send.notify import shown_url

    shown = []
    for before, arg in zip(["", *args], args, strict=False):
        if before == "--notify-url":
            arg = shown_url(arg)
        elif arg.startswith("--notify-url="):
            arg = "--notify-url=" + shown_url(arg.partition("=")[2])
        elif "://" in arg:  # a --ledger postgresql:// URL's password
            arg = mask_url(arg)
        shown.append(arg)
    return shown


input_options = [
    click.option("--mapping", "-m", "mapping_name", metavar="NAME|PATH",
                 help="Mapping to use: a name from `rg-import mappings list` or a YAML file "
                      "(default: detected from the file's header; needed when two mappings fit "
                      "it equally well). Exit 2 when none of its key or contact columns is in "
                      "the file."),
    click.option("--sheet", help="Excel sheet to read (default: the first)."),
    click.option("--delimiter", help="CSV delimiter (default: detected among , ; tab |)."),
    click.option("--encoding", help="File encoding (default: detected; e.g. utf-8, cp1252)."),
    click.option("--phone-region", metavar="CC",
                 help="The site's country (or RG_PHONE_REGION; default US): its phone numbers are "
                      "written in national format, others as +CC; numbers without a country code "
                      "are read in it unless the row's country column or the mapping says otherwise."),
]  # fmt: skip


class NumberOrAuto(click.ParamType):
    """A whole number from 1 to ``most``, or ``auto`` (``--workers``, ``--send-processes``);
    ``what`` names the number in the error: "requests", "processes"."""

    name = "N|auto"

    def __init__(self, most: int, what: str) -> None:
        self._numbers = click.IntRange(1, most)
        self._what = what

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() == AUTO:
            return AUTO
        wrong = f"{value!r} is neither a number of {self._what} nor 'auto'."
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            self.fail(wrong, param, ctx)
        try:
            number = int(value)
        except ValueError:
            self.fail(wrong, param, ctx)
        return self._numbers.convert(number, param, ctx)
