"""``rg-import doctor``'s checks: is everything a run needs in place? Writes nothing.

Each check gives one ``Check``: ok, a problem (with what to do), or skipped
because an earlier problem makes it meaningless (no credentials, no
connection). In order: credentials present, the base URL's scheme, the server
reachable, TLS, the credentials accepted and the site known (through the only
read-only call of the API, the Users endpoint), the ledger usable and not held
by a run, free disk space beside the ledger and the run directories, and,
when asked, a mapping that loads and fits the input.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from importer.config import Credentials, check_base_url, check_site, load_credentials
from importer.errors import (
    ApiError,
    AuthError,
    ConfigError,
    ExitCode,
    ImporterError,
    NotFoundError,
)
from importer.ledger.spec import LedgerSpec

MIN_FREE_BYTES = 100 * 1024 * 1024  # below this beside the ledger or outputs: a problem
CONNECT_TIMEOUT_S = 5.0
OK, PROBLEM, SKIPPED = "ok", "problem", "skipped"


@dataclass(frozen=True)
class Check:
    """One line of the doctor: ``status`` is ok, problem or skipped; ``exit_code``
    is what a problem makes the command end with (2, or 4 for refused credentials)."""

    name: str
    status: str
    message: str
    exit_code: int = int(ExitCode.OK)


@dataclass(frozen=True)
class DoctorRequest:
    """What to check; ``env`` is the environment over ``.env`` (``config.environment``)."""

    env: Mapping[str, str]
    base_url: str
    site: str | None
    ledger: LedgerSpec  # a SQLite file, or a postgresql:// URL
    runs_dir: Path
    mapping: str | None = None
    input: Path | None = None
    min_free_bytes: int = MIN_FREE_BYTES


def run_doctor(req: DoctorRequest) -> list[Check]:
    """Every check, in order; nothing is written."""
    checks: list[Check] = []
    credentials = _credentials(req.env, checks)
    url = _base_url(req.base_url, checks)
    reachable = url is not None and _reachable(url, checks)
    _site(req, url if reachable else None, credentials, checks)
    _ledger(req.ledger, checks)
    _disk_space(req, checks)
    if req.mapping is not None or req.input is not None:
        checks.append(_mapping(req.mapping, req.input))
    return checks


def exit_code(checks: list[Check]) -> int:
    """0 when every check holds, 4 when credentials were refused, else 2."""
    codes = {c.exit_code for c in checks if c.status == PROBLEM}
    if int(ExitCode.ABORTED) in codes:
        return int(ExitCode.ABORTED)
    return int(ExitCode.USAGE) if codes else int(ExitCode.OK)


def _problem(name: str, message: str, code: ExitCode = ExitCode.USAGE) -> Check:
    return Check(name, PROBLEM, message, int(code))


def _credentials(env: Mapping[str, str], checks: list[Check]) -> Credentials | None:
    try:
        credentials = load_credentials(env)
    except ConfigError as exc:
        checks.append(_problem("credentials", str(exc)))
        return None
    checks.append(Check("credentials", OK, "RG_USERNAME and RG_PASSWORD are set"))
    return credentials


def _base_url(given: str, checks: list[Check]) -> str | None:
    try:
        url = check_base_url(given)
    except ConfigError as exc:
        checks.append(_problem("base URL", f"{exc}; set RG_BASE_URL or --base-url"))
        return None
    scheme = urlsplit(url).scheme
    why = "https" if scheme == "https" else "plain http, allowed to a loopback sandbox only"
    checks.append(Check("base URL", OK, f"{url} ({why})"))
    return url


def _reachable(url: str, checks: list[Check]) -> bool:
    """A TCP connection to the host, then (https) a TLS handshake; one line each."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        checks.append(
            _problem(
                "connection",
                f"cannot reach {host}:{port} ({reason}); check the base URL, the network "
                "and any proxy or firewall",
            )
        )
        checks.append(Check("TLS", SKIPPED, "not checked: no connection to the server"))
        return False
    checks.append(Check("connection", OK, f"{host}:{port} answers"))
    if parts.scheme != "https":
        sock.close()
        checks.append(Check("TLS", OK, "not used: plain http to a loopback sandbox"))
        return True
    return _tls(sock, host, checks)


def _tls(sock: socket.socket, host: str, checks: list[Check]) -> bool:
    """The handshake the client would make: certificate checked against certifi's CAs."""
    import certifi

    cafile = os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where()
    context = ssl.create_default_context(cafile=cafile)
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            version = tls.version() or "TLS"
    except (ssl.SSLError, OSError) as exc:
        sock.close()
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        checks.append(
            _problem(
                "TLS",
                f"TLS handshake with {host} failed ({reason}); check that the base URL is the "
                "API's https address and that the system trusts its certificate "
                "(REQUESTS_CA_BUNDLE for a company proxy's CA)",
            )
        )
        return False
    checks.append(Check("TLS", OK, f"{version} handshake with {host}, certificate trusted"))
    return True


def _site(
    req: DoctorRequest, url: str | None, credentials: Credentials | None, checks: list[Check]
) -> None:
    """Credentials accepted and site known, through GET /sites/{site}/users."""
    name = "site"
    try:
        site = check_site(req.site)
    except ConfigError as exc:
        checks.append(_problem(name, f"{exc}; pass --site or set RG_SITE"))
        return
    if site is None:
        checks.append(
            _problem(
                name, "no site: pass --site UUID or set RG_SITE, so the credentials can be tried"
            )
        )
        return
    if url is None or credentials is None:
        why = "no credentials" if credentials is None else "no working connection to the server"
        checks.append(Check(name, SKIPPED, f"{site} not checked: {why}"))
        return
    try:
        count = _count_users(url, credentials, site)
    except ApiError as exc:
        checks.append(_api_problem(exc, site))
        return
    checks.append(
        Check(name, OK, f"{site}: credentials accepted, {count} user(s) listed (rg-import users)")
    )


def _count_users(url: str, credentials: Credentials, site: str) -> int:
    from importer.send.client import Client
    from importer.send.client_settings import ClientSettings

    settings = ClientSettings(base_url=url, max_attempts=1, read_timeout=15.0)
    with Client(credentials, settings) as client:
        return len(client.list_users(site))


def _api_problem(exc: ApiError, site: str) -> Check:
    if isinstance(exc, AuthError) and exc.status == 401:
        return _problem(
            "credentials",
            f"refused by the API (HTTP 401: {exc.error}); check RG_USERNAME and RG_PASSWORD, "
            f"and that they are enabled for site {site}",
            ExitCode.ABORTED,
        )
    if isinstance(exc, AuthError):
        return _problem(
            "site",
            f"{site}: the credentials are accepted but may not use this site (HTTP {exc.status}: "
            f"{exc.error}); ask Real Geeks to enable them for it, or check --site",
            ExitCode.ABORTED,
        )
    if isinstance(exc, NotFoundError):
        return _problem(
            "site", f"{site} not found (HTTP 404: {exc.error}); check --site or RG_SITE"
        )
    return _problem(
        "site", f"{site}: the Users endpoint did not answer as expected ({exc}); try again later"
    )


def _ledger(path: LedgerSpec, checks: list[Check]) -> None:
    from importer.ledger.path_check import check_ledger_free, check_ledger_path
    from importer.ledger.spec import shown

    try:
        check_ledger_path(path)
        check_ledger_free(path)
    except ImporterError as exc:
        checks.append(_problem("ledger", str(exc)))
        return
    if not isinstance(path, Path):
        checks.append(Check("ledger", OK, f"{shown(path)} reachable, shared by runs"))
        return
    what = "exists" if path.exists() else "will be created"
    checks.append(Check("ledger", OK, f"{path} {what}, writable and not in use"))


def _disk_space(req: DoctorRequest, checks: list[Check]) -> None:
    places = {"outputs": req.runs_dir}
    if isinstance(req.ledger, Path):  # a PostgreSQL ledger's disk is the server's
        places = {"ledger": req.ledger.parent, **places}
    for what, where in places.items():
        folder = _existing(where)
        try:
            free = shutil.disk_usage(folder).free
        except OSError as exc:
            checks.append(
                _problem(f"disk ({what})", f"cannot read free space of {folder}: {exc.strerror}")
            )
            continue
        shown = f"{free / 1024**2:,.0f} MB free in {folder}"
        if free < req.min_free_bytes:
            need = f"{req.min_free_bytes / 1024**2:,.0f} MB"
            checks.append(_problem(f"disk ({what})", f"only {shown}; free at least {need}"))
        else:
            checks.append(Check(f"disk ({what})", OK, shown))


def _existing(path: Path) -> Path:
    """``path``, or its nearest existing parent (where it would be made)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _mapping(name: str | None, input_path: Path | None) -> Check:
    from importer.catalog.detect import choose
    from importer.catalog.fit import check_fit
    from importer.mapping.files import load_mapping, read_overrides
    from importer.read.options import ReadOptions
    from importer.read.table import peek_headers

    try:
        if input_path is None:
            assert name is not None
            mapping = load_mapping(name)
            return Check(
                "mapping", OK, f"{mapping.name} loads (give --input to check it fits a file)"
            )
        if name is None:
            chosen = choose(peek_headers(input_path))
            mapping = load_mapping(str(chosen.path)) if chosen.path else chosen
            return Check("mapping", OK, f"{input_path}: detected mapping {mapping.name}, it loads")
        mapping = load_mapping(name)
        headers = peek_headers(input_path, ReadOptions(**read_overrides(mapping)))
        check_fit(mapping, headers, input_path)
    except ImporterError as exc:
        return _problem("mapping", str(exc))
    return Check("mapping", OK, f"{mapping.name} loads and fits {input_path}")
