"""Process plumbing for the benchmark: timed subprocesses, a sandbox process, data files.

Nothing here knows what is being measured; ``bench.measures`` does.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import platform
import re
import selectors
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import urlsplit

from bench import proctree

ROOT = Path(__file__).resolve().parents[1]
SANDBOX_USER = "sandbox"
SANDBOX_PASSWORD = "sandbox"
_LISTENING = re.compile(r"Sandbox listening on (\S+)")


def cli_command(python: str = sys.executable) -> tuple[str, ...]:
    """The argv prefix that runs the installed CLI: ``rg-import`` next to ``python`` if present."""
    script = Path(python).with_name("rg-import")
    if script.is_file() and os.access(script, os.X_OK):
        return (str(script),)
    return (python, "-m", "importer")


def compile_package(root: Path = ROOT) -> bool:
    """Compile ``importer`` to bytecode, as installing a wheel does.

    The editable install would otherwise compile every module on every timed
    command wherever ``PYTHONDONTWRITEBYTECODE`` is set (about 0.1 s of each
    start-up), a cost no installed copy pays. Returns True when all compiled.
    """
    import compileall

    return bool(compileall.compile_dir(root / "importer", quiet=1, force=False))


def child_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for CLI children: ``base`` without any RG_* setting, plus sandbox credentials.

    Dropping the caller's RG_* variables keeps a developer's real site, ledger or
    base URL out of the benchmark; every option the bench needs is passed as a flag.
    """
    env = {
        k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("RG_")
    }
    env["RG_USERNAME"] = SANDBOX_USER
    env["RG_PASSWORD"] = SANDBOX_PASSWORD
    return env


@dataclass(frozen=True, slots=True)
class Finished:
    """A subprocess that ran to its end: exit status, wall clock, CPU, peak memory and output.

    ``cpu_s`` is user + system CPU of the process and of every child it waited
    for (``os.wait4`` reports them together); ``tree`` is the memory of its whole
    process tree sampled while it ran (``bench.proctree``), when asked for.
    """

    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    cpu_s: float = 0.0
    tree: dict[str, Any] | None = None
    own_cpu_s: float | None = None  # the command's own process alone, when sampled
    # (time.perf_counter(), own CPU, whole tree's CPU) readings, when sampled (proctree.cpu_between)
    cpu_trace: tuple[tuple[float, float, float], ...] = ()

    def json(self) -> Any:
        """The child's stdout parsed as JSON; raises ``ValueError`` if it is not JSON."""
        return json.loads(self.stdout)


def _maxrss_mb(kilo_or_bytes: int) -> float:
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS
    return kilo_or_bytes / (1024 * 1024 if sys.platform == "darwin" else 1024)


def _forget_own_peak() -> None:
    """Lower this process's peak-memory mark to its present size (Linux; elsewhere nothing).

    A child started by subprocess (vfork, then exec) begins with the peak of the
    process that started it as its own ``ru_maxrss``: once the benchmark had held
    600 MB, every command it timed reported at least 600 MB. Writing 5 to
    ``/proc/self/clear_refs`` resets the mark, so what a child inherits is only the
    benchmark's present size, far under any plan's.
    """
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as marks:
        marks.write("5")


def _with_exit(
    trace: list[tuple[float, float, float]], at: float, usage: Any
) -> tuple[tuple[float, float, float], ...]:
    """The CPU readings of a command and a last one at its exit, from ``os.wait4``.

    At exit the whole tree's CPU is known exactly (the command's own and that of every
    child it reaped); the time since the last reading is counted as its own process's,
    where nearly all of it is spent (its children have ended by then). Without it a
    send window ending in the last reading's interval could not be read off.
    """
    if not trace:
        return ()
    last_at, last_own, last_tree = trace[-1]
    tree = usage.ru_utime + usage.ru_stime
    if at <= last_at or tree < last_tree:
        return tuple(trace)
    return (*trace, (at, last_own + tree - last_tree, tree))


def run_timed(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float | None = None,
    ok_codes: Sequence[int] = (0,),
    tree_interval_s: float | None = None,
    own_cpu: bool = False,
) -> Finished:
    """Run ``argv`` to its end; returns its wall-clock time, CPU, peak RSS and output.

    With ``own_cpu`` (and ``/proc``), the CPU of its own process alone is sampled
    too (``Finished.own_cpu_s``), apart from the children it reaps.

    The peak RSS is the child's own (``os.wait4`` on its pid), not the maximum over
    every child this process ever waited for, which ``getrusage(RUSAGE_CHILDREN)``
    would give. With ``tree_interval_s`` (and ``/proc``), the memory of the whole
    process tree is sampled that often (``Finished.tree``). Raises ``RuntimeError``
    if the exit status is not in ``ok_codes`` (the message carries the end of
    stderr) or if ``timeout_s`` passes.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        _forget_own_peak()
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env, cwd=cwd)
        watchdog = threading.Timer(timeout_s, proc.kill) if timeout_s else None
        if watchdog:
            watchdog.start()
        sampling = tree_interval_s is not None and proctree.available()
        sampler = proctree.TreeSampler(proc.pid, interval_s=tree_interval_s or 0.1)
        own = proctree.OwnCpuSampler(proc.pid)
        try:
            with (
                sampler if sampling else contextlib.nullcontext(),
                own if own_cpu and proctree.available() else contextlib.nullcontext(),
            ):
                _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            if watchdog:
                watchdog.cancel()
        wall_end = time.perf_counter()
        wall = wall_end - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    if proc.returncode not in ok_codes:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}:\n{tail}")
    return Finished(
        tuple(argv), proc.returncode, wall, _maxrss_mb(usage.ru_maxrss), stdout, stderr,
        cpu_s=usage.ru_utime + usage.ru_stime, tree=sampler.result() if sampling else None,
        own_cpu_s=own.seconds, cpu_trace=_with_exit(own.trace, wall_end, usage),
    )  # fmt: skip


class Inspector:
    """A keep-alive client for the sandbox's /_sandbox routes (one per thread)."""

    def __init__(self, root_url: str, *, timeout_s: float = 30.0) -> None:
        parts = urlsplit(root_url)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"not a sandbox root URL: {root_url!r}")
        self._conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
        token = base64.b64encode(f"{SANDBOX_USER}:{SANDBOX_PASSWORD}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}

    def call(self, method: str, path: str) -> Any:
        """``method`` on ``/_sandbox/<path>``; returns the parsed JSON answer.

        Raises ``RuntimeError`` on a non-2xx answer and ``OSError`` if the sandbox is gone.
        """
        try:
            answer = self._ask(method, path)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # the sandbox closes a keep-alive connection idle for 2 minutes (a long run
            # between two resets): ask again on a new one (these calls are all safe to repeat)
            self._conn.close()
            answer = self._ask(method, path)
        body = answer.read()
        if not 200 <= answer.status < 300:
            raise RuntimeError(
                f"{method} /_sandbox/{path} answered {answer.status}: {body[:200]!r}"
            )
        return json.loads(body)

    def _ask(self, method: str, path: str) -> http.client.HTTPResponse:
        self._conn.request(method, f"/_sandbox/{path}", headers=self._headers)
        return self._conn.getresponse()

    def total(self) -> int:
        """How many API requests the sandbox has answered (or is about to) since its last reset."""
        return int(self.call("GET", "stats")["total"])

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


class SandboxProcess:
    """``rg-import sandbox --port 0`` as a child process, for the length of a ``with`` block.

    ``extra_args`` are more ``rg-import sandbox`` options (faults, for instance).

    Its own process, so the sandbox never competes for the sender's GIL.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        latency_ms: float = 0.0,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout_s: float = 60.0,
    ) -> None:
        self._argv = [
            *command, "sandbox", "--port", "0", "--latency-ms", f"{latency_ms:g}", *extra_args
        ]  # fmt: skip
        self._env, self._cwd, self._start_timeout_s = env, cwd, start_timeout_s
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self.url = ""
        self.root_url = ""
        self._inspector: Inspector | None = None

    def __enter__(self) -> SandboxProcess:
        # stderr goes to a file, read only to explain a sandbox that failed to start
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            self._argv, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
            env=self._env, cwd=self._cwd,
        )  # fmt: skip
        try:
            self.url = _read_listening_url(self._proc, self._start_timeout_s)
        except RuntimeError as exc:
            self._stderr.seek(0)
            tail = self._stderr.read().decode("utf-8", "replace").strip()[-2000:]
            self._stop()
            raise RuntimeError(f"{exc}; its stderr:\n{tail}") from None
        except BaseException:
            self._stop()
            raise
        self.root_url = self.url.removesuffix("/rest")
        self._inspector = Inspector(self.root_url)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    @property
    def inspector(self) -> Inspector:
        """The inspection client of this sandbox (for the calling thread only)."""
        if self._inspector is None:
            raise RuntimeError("the sandbox is not running")
        return self._inspector

    def reset(self) -> None:
        """Forget leads, stats and the request log."""
        self.inspector.call("POST", "reset")

    def _stop(self) -> None:
        if self._inspector is not None:
            self._inspector.close()
            self._inspector = None
        proc, self._proc = self._proc, None
        if proc is None:
            return
        stop_process(proc, timeout_s=15)
        if proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def stop_process(proc: subprocess.Popen[Any], *, timeout_s: float) -> None:
    """SIGTERM ``proc``, and SIGKILL it if it has not ended ``timeout_s`` later; reap it."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _read_listening_url(proc: subprocess.Popen[str], timeout_s: float) -> str:
    """The base URL from the sandbox's first stdout line; ``RuntimeError`` if it never comes."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            raise RuntimeError(f"the sandbox printed nothing within {timeout_s:g} s")
    line = proc.stdout.readline()
    match = _LISTENING.search(line)
    if match is None:
        raise RuntimeError(f"unexpected first line from the sandbox: {line!r}")
    return match.group(1)


class Poller:
    """Samples a counter in a background thread: ``(seconds, value)`` each time it changes.

    ``read`` is called every ``interval_s``; ``on_sample`` (if given) sees every
    reading, e.g. to print progress. Errors from ``read`` end the sampling quietly
    (the counter's source went away); ``samples`` keeps what was seen.
    """

    def __init__(
        self,
        read: Callable[[], int],
        *,
        interval_s: float = 0.01,
        clock: Callable[[], float] = time.perf_counter,
        on_sample: Callable[[float, int], None] | None = None,
    ) -> None:
        self._read, self._interval_s, self._clock, self._on_sample = (
            read,
            interval_s,
            clock,
            on_sample,
        )
        self.samples: list[tuple[float, int]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-poller", daemon=True)

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        last: int | None = None
        while True:
            try:
                value = self._read()
            except (OSError, RuntimeError, ValueError) as exc:
                self.error = exc
                return
            now = self._clock()
            if value != last:
                self.samples.append((now, value))
                last = value
            if self._on_sample is not None:
                self._on_sample(now, value)
            if self._stop.wait(self._interval_s):
                return


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of steady sending: ``requests`` counted between ``start_s`` and ``end_s``."""

    start_s: float
    end_s: float
    requests: int

    @property
    def seconds(self) -> float:
        """Length of the window."""
        return self.end_s - self.start_s

    @property
    def rate(self) -> float:
        """Requests per second over the window."""
        return self.requests / self.seconds


def send_window(samples: Sequence[tuple[float, int]]) -> Window | None:
    """The window from the first counted request to the last, from counter samples.

    Counts requests *after* the first sample that saw any, so the rate is
    (requests in the window) / (window length) with no start-up in it. Returns
    None when the samples cannot give a window (fewer than two distinct counts).
    """
    first = next(((t, n) for t, n in samples if n > 0), None)
    if first is None:
        return None
    final = max(n for _, n in samples)
    last = next((t, n) for t, n in samples if n == final)
    if last[1] <= first[1] or last[0] <= first[0]:
        return None
    return Window(first[0], last[0], last[1] - first[1])


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def machine_info() -> dict[str, Any]:
    """CPU count, Python, platform, time, load average and git commit of this checkout."""
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "timestamp": now_iso(),
        "load_average": load_average(),
        "git_commit": _git_commit(),
    }


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the system has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            timeout=10, check=True,
        )  # fmt: skip
        return done.stdout.strip() or None
    return None


@contextlib.contextmanager
def scratch_dir(parent: Path | None = None) -> Iterator[Path]:
    """A temporary directory for run outputs (plans of 1M rows are big), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="rg-bench-", dir=parent) as name:
        yield Path(name)
