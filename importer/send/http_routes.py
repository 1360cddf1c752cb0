"""Which urllib3 connection pool a URL's tries go through, set up as requests would.

``importer.send.transport`` sends through urllib3 directly (requests' per-try
machinery was most of a lead's CPU), so what requests works out for a request
is worked out here instead, once per origin (scheme, host and port) rather than
once per try, with requests' own helpers so the rules stay requests' rules:

- the proxy, from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and
  ``NO_PROXY`` (``requests.utils.get_environ_proxies`` and ``select_proxy``);
  a proxy URL's user and password become ``Proxy-Authorization``; a ``socks``
  proxy needs PySocks, as with requests;
- the CA bundle certificates are checked against: ``REQUESTS_CA_BUNDLE`` or
  ``CURL_CA_BUNDLE`` (a file or a directory), else certifi's bundle. It is
  loaded into one ``SSLContext`` shared by every connection.

``trust_env=False`` (a loopback base URL: the sandbox) reads none of these:
no proxy, certifi's bundle, as requests' ``Session.trust_env = False`` did.

Pools come from a urllib3 ``PoolManager`` (or ``ProxyManager``) of
``pool_size`` connections per host, with ``http_deadline``'s watched pool
classes so every try can be cut short. urllib3's pools are thread-safe; the
routes are looked up without a lock and made under one.
"""

from __future__ import annotations

import os
import ssl
import threading
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import requests.utils
from urllib3 import PoolManager, Timeout
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ProxyError, SSLError
from urllib3.poolmanager import proxy_from_url
from urllib3.util import make_headers
from urllib3.util.ssl_ import create_urllib3_context

from importer.send.http_deadline import WATCHED_POOLS, SteadySSLSocket

__all__ = ["Route", "Routes"]

_MANAGER_POOLS = 16  # origins kept per manager: the client talks to one


class Route(NamedTuple):
    """The pool of one origin, and whether requests name the whole URL (plain http via a proxy)."""

    pool: HTTPConnectionPool
    absolute: bool


class Routes:
    """The pools of one client, one per origin (and proxy), made on first use."""

    def __init__(self, pool_size: int, *, trust_env: bool, timeout: Timeout | None = None) -> None:
        self._pool_size = pool_size
        self._timeout = timeout  # the pools' default (their sockets keep its read timeout)
        self._trust_env = trust_env
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], Route] = {}
        self._managers: dict[str | None, PoolManager] = {}
        self._contexts: dict[str, ssl.SSLContext] = {}  # per CA bundle path

    def for_url(self, url: str) -> tuple[HTTPConnectionPool, str]:
        """The pool to send ``url`` through and the request target to send it with.

        Raises urllib3's ``ProxyError`` for a proxy that cannot be used and
        ``SSLError`` for a CA bundle that cannot be read (nothing was sent).
        """
        scheme, sep, rest = url.partition("://")
        origin, slash, path = rest.partition("/")
        route = self._routes.get((scheme, origin))
        if route is None or route.pool.pool is None:  # None: closed (evicted by its manager)
            route = self._made(url, scheme, origin)
        if route.absolute:
            return route.pool, requests.utils.urldefragauth(url)
        if not sep or "?" in origin or "#" in origin:
            parts = urlsplit(url)  # an odd URL: let urllib.parse read it
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            return route.pool, target
        return route.pool, slash + path if slash else "/"

    def close(self) -> None:
        """Close every connection of every pool."""
        with self._lock:
            for manager in self._managers.values():
                manager.clear()
            self._routes.clear()

    def _made(self, url: str, scheme: str, origin: str) -> Route:
        with self._lock:
            parts = urlsplit(url)
            proxy = None
            if self._trust_env:
                proxy = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
            if proxy:
                proxy = requests.utils.prepend_scheme_if_needed(proxy, "http")
                if not urlsplit(proxy).hostname:
                    raise ProxyError(
                        "Please check proxy URL. It is malformed and could be missing the host.",
                        ValueError(proxy),
                    )
            manager = self._manager(proxy)
            tls: dict[str, Any] = {}
            if parts.scheme == "https":
                tls = {"ssl_context": self._ssl_context(), "cert_reqs": "CERT_REQUIRED"}
            pool = manager.connection_from_host(
                parts.hostname or "", parts.port, parts.scheme, pool_kwargs=tls
            )
            socks = proxy is not None and proxy.lower().startswith("socks")
            route = Route(pool, absolute=bool(proxy) and parts.scheme != "https" and not socks)
            self._routes[scheme, origin] = route
            return route

    def _manager(self, proxy: str | None) -> PoolManager:
        manager = self._managers.get(proxy)
        if manager is not None:
            return manager
        sizes: dict[str, Any] = {"num_pools": _MANAGER_POOLS, "maxsize": self._pool_size}
        if self._timeout is not None:
            sizes["timeout"] = self._timeout
        if proxy is None:
            manager = PoolManager(**sizes)
        elif proxy.lower().startswith("socks"):
            manager = _socks_manager(proxy, sizes)
        else:
            username, password = requests.utils.get_auth_from_url(proxy)
            headers = {}
            if username:  # what requests' HTTPAdapter.proxy_headers adds
                auth = make_headers(proxy_basic_auth=f"{username}:{password}")
                headers["Proxy-Authorization"] = auth["proxy-authorization"]
            manager = proxy_from_url(proxy, proxy_headers=headers, **sizes)
        # A SOCKS proxy brings its own connection classes: those keep only the read timeout.
        if manager.pool_classes_by_scheme.get("http") is HTTPConnectionPool:
            manager.pool_classes_by_scheme = dict(WATCHED_POOLS)
        self._managers[proxy] = manager
        return manager

    def _ssl_context(self) -> ssl.SSLContext:
        bundle = None
        if self._trust_env:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        bundle = bundle or requests.utils.DEFAULT_CA_BUNDLE_PATH
        context = self._contexts.get(bundle)
        if context is None:
            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            context.sslsocket_class = SteadySSLSocket
            try:
                if os.path.isdir(bundle):
                    context.load_verify_locations(capath=bundle)
                else:
                    context.load_verify_locations(cafile=bundle)
            except (OSError, ssl.SSLError) as exc:
                raise SSLError(
                    f"Could not find a suitable TLS CA certificate bundle, invalid path: {bundle}"
                    f" ({exc})"
                ) from exc
            self._contexts[bundle] = context
        return context


def _socks_manager(proxy: str, sizes: dict[str, Any]) -> PoolManager:
    try:
        from urllib3.contrib.socks import SOCKSProxyManager
    except ImportError as exc:  # PySocks is missing
        raise ProxyError("Missing dependencies for SOCKS support.", exc) from exc
    username, password = requests.utils.get_auth_from_url(proxy)
    return SOCKSProxyManager(proxy, username=username, password=password, **sizes)
