"""A local, faithful stand-in for the Real Geeks Incoming Leads API.

The sandbox serves the API's routes under ``/rest`` with the same payload
rules, answers and error shape as the contract in ``importer.api_contract``, plus
inspection routes under ``/_sandbox`` and optional injected faults, latency and
rate limits. It is the default server of the demo and of every test that talks
HTTP. See docs/sandbox.md.

    >>> from importer.sandbox import start_sandbox
    >>> with start_sandbox(port=0) as sandbox:   # doctest: +SKIP
    ...     print(sandbox.url)
    http://127.0.0.1:54321/rest
"""

from importer.sandbox.config import FAULT_KINDS, SandboxConfig
from importer.sandbox.runner import Sandbox, serve, start_sandbox

__all__ = ["FAULT_KINDS", "Sandbox", "SandboxConfig", "serve", "start_sandbox"]
