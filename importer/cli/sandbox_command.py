"""``rg-import sandbox``: a local Incoming Leads API for trying and testing imports."""

from __future__ import annotations

import click

from importer.cli.shared import apply_options

sandbox_options = [
    click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on."),
    click.option("--port", default=8765, show_default=True, type=int, help="Port; 0 picks a free one."),
    click.option("--username", default="sandbox", show_default=True, help="Basic-auth user to accept."),
    click.option("--password", default="sandbox", show_default=True, help="Basic-auth password to accept."),
    click.option("--site", "sites", multiple=True, metavar="UUID", help="A site the credentials may write (repeatable); default: any."),
    click.option("--latency-ms", default=0.0, type=float, show_default=True, help="Delay added to every response."),
    click.option("--fault-rate", default=0.0, type=float, show_default=True, help="Share of API requests that fail."),
    click.option("--faults", default="500,503-html,429,timeout,reset", show_default=True, help="Comma-separated fault kinds to draw from."),
    click.option("--fault-delay", default=35.0, type=float, show_default=True, help="Seconds the 'timeout' fault waits before answering."),
    click.option("--seed", default=None, type=int, help="Seed for reproducible faults."),
    click.option("--rate-limit", default=None, type=float, metavar="RPS", help="Answer 429 above this many requests per second."),
    click.option("--retry-after", default=1, type=int, show_default=True, help="Retry-After seconds sent with 429 answers."),
    click.option("--store", default=None, metavar="PATH", help="Keep leads in this SQLite file (default: in memory)."),
    click.option("--users", metavar="FILE", help="Users GET /sites/{site}/users lists: CSV (id,name,email,role,admin[,site]) or a JSON list; default: a demo team on every site."),
    click.option("--unknown-fields", type=click.Choice(["reject", "ignore"]), default="reject", show_default=True, help="Answer 422 to fields the API does not document, or drop them silently."),
]  # fmt: skip


@click.command()
@apply_options(sandbox_options)
def sandbox(**options: object) -> None:
    """Run a local Incoming Leads API for trying and testing imports.

    Prints "Sandbox listening on URL" first, then serves until Ctrl-C or
    SIGTERM. Fault kinds: 500, 503-html, 429, timeout, reset,
    reset-after-commit. Inspect what it received under /_sandbox (see
    docs/sandbox.md).
    """
    from importer.sandbox.config import SandboxConfig
    from importer.sandbox.runner import serve

    serve(SandboxConfig.from_cli(**options))
