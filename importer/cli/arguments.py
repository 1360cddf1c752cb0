"""Turning what ``plan`` and ``run`` were given into the values the library takes.

Flags and environment variables become ``ReadOptions``, a ``Mapping`` (named,
or detected from the file's header), a checked site UUID, and for a run a
``Destination``: the URL, credentials and ledger to use, with an embedded
sandbox started when asked for. Nothing here prints; ``importer.cli.main`` does.
Heavy modules (the readers, the sandbox) are imported only when needed, so
``rg-import --help`` stays quick.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from importer.api_contract import DEFAULT_BASE_URL
from importer.config import (
    ENV_BASE_URL,
    ENV_LEDGER,
    ENV_PHONE_REGION,
    ENV_SITE,
    Credentials,
    check_base_url,
    check_site,
    environment,
    load_credentials,
)
from importer.errors import ConfigError
from importer.ledger.spec import LedgerSpec, ledger_spec
from importer.settings import DEFAULT_LEDGER

if TYPE_CHECKING:
    from importer.mapping.spec import Mapping
    from importer.read.options import ReadOptions
    from importer.sandbox.runner import Sandbox

SANDBOX_SITE = "7e57c0de-5a4d-4b0c-8000-000000000001"
SANDBOX_DIR = Path("rg-import-sandbox")


def read_options(
    sheet: str | None,
    delimiter: str | None,
    encoding: str | None,
    mapping: Mapping | None = None,
    env: MappingABC[str, str] | None = None,
) -> ReadOptions:
    """Reading options: the mapping's read: section, overridden by flags.

    ``delimiter`` may be spelt ``tab`` or ``\\t`` for a tab.
    """
    from importer.mapping.files import read_overrides
    from importer.read.options import ReadOptions

    opts = read_overrides(mapping) if mapping is not None else {}
    if sheet:
        opts["sheet"] = sheet
    if delimiter:
        opts["delimiter"] = "\t" if delimiter in ("tab", "\\t") else delimiter
    if encoding:
        opts["encoding"] = encoding
    # workbook limits against zip bombs (see importer.read.xlsx_guard); rarely needed, so no flags
    for variable, key in (("RG_MAX_UNPACKED_MB", "max_unpacked_mb"), ("RG_MAX_CELLS", "max_cells")):
        value = (env if env is not None else os.environ).get(variable)
        if value:
            try:
                opts[key] = int(value)
            except ValueError:
                raise ConfigError(f"{variable}={value!r} must be a whole number") from None
    return ReadOptions(**opts)


def detect_mapping(input_path: Path, options: ReadOptions) -> Mapping:
    """The mapping whose header fingerprint matches ``input_path``'s header.

    Raises ConfigError when none or several match, InputError when the file
    cannot be read, MappingError when the chosen mapping file is broken.
    """
    from importer.catalog.detect import choose
    from importer.mapping.files import load_mapping
    from importer.read.table import peek_headers

    chosen = choose(peek_headers(input_path, options))
    return load_mapping(str(chosen.path)) if chosen.path else chosen


def given_mapping(
    name: str, input_path: Path, sheet: str | None, delimiter: str | None, encoding: str | None
) -> Mapping:
    """The mapping named by --mapping, checked against ``input_path``'s header
    (read with the mapping's ``read:`` section under the flags). Raises ConfigError when none of the mapping's key or
    contact columns is in the file (``importer.catalog.fit``), InputError when the file
    cannot be read, MappingError when the mapping file is broken.
    """
    from importer.catalog.fit import check_fit
    from importer.mapping.files import load_mapping
    from importer.read.table import peek_headers

    mapping = load_mapping(name)
    options = read_options(sheet, delimiter, encoding, mapping)
    check_fit(mapping, peek_headers(input_path, options), input_path)
    return mapping


def with_home_region(
    mapping: Mapping, region: str | None, env: MappingABC[str, str] | None = None
) -> Mapping:
    """The mapping, reading phones for a site in ``--phone-region`` (else
    RG_PHONE_REGION, else US): numbers of that region are written in national
    format, and it is the region of numbers without a country code when
    neither their row nor the mapping says otherwise.

    Raises ConfigError for a region phonenumbers does not know.
    """
    from dataclasses import replace

    from importer.normalize.phones import check_region

    given = region or environment(env).get(ENV_PHONE_REGION) or "US"
    try:
        home = check_region(given)
    except ConfigError as exc:
        source = "--phone-region" if region else ENV_PHONE_REGION
        raise ConfigError(f"{source}: {exc}") from exc
    if home == mapping.options.home_region:
        return mapping
    # The raw-row digests of a re-run are keyed by the fingerprint: a row read
    # for another home region must be mapped again, not skipped as unchanged.
    fingerprint = hashlib.sha256(f"{mapping.fingerprint}|home={home}".encode()).hexdigest()
    return replace(
        mapping, options=replace(mapping.options, home_region=home), fingerprint=fingerprint
    )


def site_option(site: str | None, env: MappingABC[str, str] | None = None) -> str | None:
    """``--site``, else RG_SITE, checked as a UUID; None when neither is set.

    Raises ConfigError for a value that is not a UUID.
    """
    return check_site(site or environment(env).get(ENV_SITE))


@dataclass
class Destination:
    """Where a run sends: the API's base URL, the login, the site and the ledger file.

    ``sandbox`` is the embedded sandbox when one was started: stop it when the
    run is over.
    """

    url: str
    credentials: Credentials
    site: str
    ledger: LedgerSpec
    sandbox: Sandbox | None = None

    def close(self) -> None:
        """Stop the embedded sandbox, if any."""
        if self.sandbox is not None:
            self.sandbox.stop()


def run_destination(
    *,
    site: str | None,
    base_url: str | None,
    ledger: LedgerSpec | None,
    sandbox: bool,
    env: MappingABC[str, str],
) -> Destination:
    """Resolve ``run``'s target from its flags and the environment ``env``.

    With ``sandbox``, starts an embedded sandbox keeping its state in
    ./rg-import-sandbox/ (site and ledger default to that sandbox's).
    Otherwise the site is required and the base URL (RG_BASE_URL, else the
    Real Geeks service), credentials (RG_USERNAME/RG_PASSWORD) and ledger
    (RG_LEDGER, else ./rg-import.ledger.sqlite) come from ``env``. Raises
    ConfigError for a missing site, a bad URL or missing credentials.
    """
    if sandbox:
        from importer.outputs.private_files import make_private_dir
        from importer.sandbox.runner import start_sandbox

        make_private_dir(SANDBOX_DIR)
        embedded = start_sandbox(port=0, store=str(SANDBOX_DIR / "store.sqlite"))
        return Destination(
            url=embedded.url,
            credentials=Credentials(embedded.config.username, embedded.config.password),
            site=site or SANDBOX_SITE,
            ledger=ledger or SANDBOX_DIR / "ledger.sqlite",
            sandbox=embedded,
        )
    if site is None:
        raise ConfigError(
            "--site is required: the Real Geeks site UUID to write to (or set RG_SITE)"
        )
    url = check_base_url(base_url or env.get(ENV_BASE_URL) or DEFAULT_BASE_URL)
    credentials = load_credentials(env)
    return Destination(
        url=url,
        credentials=credentials,
        site=site,
        ledger=ledger or default_ledger(env),
    )


def default_ledger(env: MappingABC[str, str]) -> LedgerSpec:
    """RG_LEDGER from ``env`` (a path or a ``postgresql://`` URL), else ./rg-import.ledger.sqlite."""
    return ledger_spec(env.get(ENV_LEDGER) or DEFAULT_LEDGER)


class LedgerOption(click.ParamType):
    """``--ledger``: a SQLite file's path, or a PostgreSQL database's ``postgresql://`` URL."""

    name = "ledger"

    def get_metavar(self, *args: object, **kwargs: object) -> str:
        return "PATH|URL"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> LedgerSpec:
        if isinstance(value, Path):
            return value
        return ledger_spec(str(value))


LEDGER = LedgerOption()
