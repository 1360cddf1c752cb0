"""Running a sandbox: in a background thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import signal
import sys
import threading
import uuid
from collections.abc import Iterable
from dataclasses import replace
from types import FrameType, TracebackType
from typing import Any, TextIO

from importer.sandbox.config import SandboxConfig
from importer.sandbox.server import SandboxHTTPServer
from importer.sandbox.users import UserDirectory, check_users


class Sandbox:
    """A running sandbox; ``stop`` (or leaving a ``with`` block) shuts it down."""

    def __init__(self, server: SandboxHTTPServer) -> None:
        self._server = server
        self.config: SandboxConfig = server.app.config
        self.port: int = server.server_port
        host = self.config.host
        self.root_url = (
            f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        )
        self.url = self.root_url + "/rest"
        self._thread: threading.Thread | None = None
        self._stop_lock = threading.Lock()
        self._stopped = False

    def leads(self, site: str) -> list[dict[str, Any]]:
        """The stored leads of ``site`` (same data as GET /_sandbox/sites/{site}/leads)."""
        return self._server.app.store.leads(str(uuid.UUID(site)))

    def stats(self) -> dict[str, Any]:
        """Status counts per route, fault counts and the total (GET /_sandbox/stats)."""
        return self._server.app.recorder.stats()

    def requests_log(self) -> list[dict[str, Any]]:
        """The API requests in arrival order (GET /_sandbox/requests)."""
        return self._server.app.recorder.requests()

    def seed_users(self, users: Iterable[Any]) -> None:
        """Replace the users GET /sites/{site}/users lists (dicts or dataclasses, as
        ``SandboxConfig.users``); ConfigError for a bad one."""
        self._server.app.users = UserDirectory(check_users(users))

    def reset(self) -> None:
        """Forget leads, stats and the request log (POST /_sandbox/reset)."""
        self._server.app.reset()

    def serve_forever(self) -> None:
        """Serve in the calling thread until ``stop`` (or ``request_stop``) is called."""
        self._server.serve_until_stopped()

    def request_stop(self) -> None:
        """Ask ``serve_forever`` to return; safe from a signal handler."""
        self._server.request_stop()

    def stop(self) -> None:
        """Stop listening, drop open connections and close the store; idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        server = self._server
        server.request_stop()
        if self._thread is not None:
            self._thread.join()
        server.server_close()
        server.close_connections()
        server.app.store.close()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Sandbox(url={self.url!r})"


def start_sandbox(config: SandboxConfig | None = None, **overrides: Any) -> Sandbox:
    """Start a sandbox in a background daemon thread; return it once it listens.

    ``overrides`` replace fields of ``config`` (default ``SandboxConfig()``).
    Raises ConfigError for a bad setting, a busy port or an unusable store.
    """
    config = replace(config or SandboxConfig(), **overrides)
    sandbox = Sandbox(SandboxHTTPServer(config))
    sandbox._start_thread()
    return sandbox


def serve(config: SandboxConfig, out: TextIO = sys.stdout) -> None:
    """Serve in the foreground until SIGINT or SIGTERM, then return cleanly.

    The first line written to ``out`` is "Sandbox listening on <url>".
    Raises ConfigError when the server cannot start.
    """
    sandbox = Sandbox(SandboxHTTPServer(config))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        sandbox.request_stop()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            previous[stop_signal] = signal.signal(stop_signal, on_signal)
    try:
        out.write(f"Sandbox listening on {sandbox.url}\n")
        out.flush()
        out.write(_describe(config) + "\n")
        out.flush()
        sandbox.serve_forever()
    except KeyboardInterrupt:  # only when serve() runs off the main thread's handlers
        pass
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)
        sandbox.stop()


def _describe(config: SandboxConfig) -> str:
    """One line on how the sandbox is set up; never the password."""
    faults = (
        f"{config.fault_rate:.0%} ({', '.join(config.faults)})" if config.fault_rate else "none"
    )
    parts = [
        f"user {config.username}",
        f"sites {', '.join(config.sites) if config.sites else 'any'}",
        f"faults {faults}",
        f"latency {config.latency_ms:g} ms",
        f"rate limit {f'{config.rate_limit:g}/s' if config.rate_limit else 'none'}",
        f"store {config.store or 'memory'}",
        f"users {'default' if config.users is None else len(config.users)}",  # type: ignore[arg-type]
    ]
    return "; ".join(parts) + ". Ctrl-C stops."
