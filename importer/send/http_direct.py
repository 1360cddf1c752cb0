"""One try sent straight through a pooled connection, without ``urlopen``'s layers.

``urlopen`` wraps every try in retry and redirect machinery (both turned off by
us) and every answer in urllib3's own ``HTTPResponse`` (a header dict copied
from http.client's, a decoder, a protocol to hand the connection back): at 16
threads that was about 150 µs of CPU per try, a fifth of what a lead cost to
send. ``exchange`` does what is left: it takes a connection from the same
urllib3 pool (which still checks that a kept-alive connection was not dropped,
and still connects, with TLS verified, through urllib3's connection classes),
sends the request, reads the whole answer with http.client, and puts the
connection back. The request is written as http.client writes it, head and body
in one write; its header lines are made once per headers mapping (``_Head``),
where http.client's ``request`` built and checked every line of every request.

It raises what ``urlopen`` raises for the same fault, so
``importer.send.transport`` reads both the same way:

- connecting: urllib3's ``NewConnectionError`` / ``ConnectTimeoutError`` as
  they come; a TLS handshake that fails ``SSLError``, one that times out
  ``ReadTimeoutError`` (as urllib3 has it);
- sending and waiting for the head: a timeout ``ReadTimeoutError``, a TLS error
  ``SSLError``, any other socket or protocol error ``ProtocolError("Connection
  aborted.")``; a broken pipe or a reset while sending is let pass, since the
  server may have answered before closing (the answer is then read, or fails);
- reading the body: ``ProtocolError("Connection broken: ...")``, also for a
  timeout (``importer.send.transport`` says the same of urllib3's).

Pools that reach the origin through a proxy, and odd request targets that
urllib3 would percent-encode, go through ``urlopen`` as before (``serves``).
"""

from __future__ import annotations

import errno
import http.client
import io
import re
import socket
from ssl import CertificateError
from ssl import SSLError as BaseSSLError
from typing import Any

from urllib3 import HTTPHeaderDict, HTTPResponse
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.exceptions import ProtocolError, ReadTimeoutError, SSLError

from importer.send.http_deadline import WATCHED_POOLS, attach_to_watch

__all__ = ["exchange", "serves"]

# A request target urllib3 sends as it is: RFC 3986 path and query characters,
# percent-encodings in upper case (urllib3 would encode anything else).
_PLAIN_TARGET = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-F]{2})*")
_WATCHED = tuple(WATCHED_POOLS.values())
# what a non-blocking read that timed out raises instead of socket.timeout (urllib3's list)
_BLOCKING = {errno.EAGAIN, errno.EWOULDBLOCK}
# methods for which http.client sends ``Content-Length: 0`` when they have no body
_EXPECTING_BODY = frozenset({"PATCH", "POST", "PUT"})


def serves(pool: HTTPConnectionPool, target: str) -> bool:
    """Whether ``exchange`` can send this try: a watched pool, no proxy, a plain target."""
    return (
        isinstance(pool, _WATCHED)
        and pool.proxy is None
        and _PLAIN_TARGET.fullmatch(target) is not None
    )


def exchange(
    pool: HTTPConnectionPool,
    method: str,
    target: str,
    body: bytes,
    headers: dict[str, str],
    timeouts: tuple[float | None, float | None],
) -> tuple[http.client.HTTPResponse, bytes]:
    """Send one request through ``pool`` and read its whole answer (decoded).

    ``timeouts`` are the connect and read timeouts in seconds (None: none).
    The connection goes back to the pool after a whole answer; after anything
    else it is closed and its place given back empty, as ``urlopen`` does.
    """
    conn: Any = pool._get_conn()
    try:
        reply = _send(pool, conn, method, target, body, headers, timeouts)
        content = _read(reply)
    except BaseException:
        conn.close()
        pool._put_conn(None)
        raise
    pool._put_conn(conn)
    return reply, content


def _send(
    pool: HTTPConnectionPool,
    conn: Any,
    method: str,
    target: str,
    body: bytes,
    headers: dict[str, str],
    timeouts: tuple[float | None, float | None],
) -> http.client.HTTPResponse:
    """The request sent, and the head of its answer read."""
    connect_timeout, read_timeout = timeouts
    attach_to_watch(conn)
    if conn.sock is None:
        conn.timeout = connect_timeout
        try:
            conn.connect()
        except (OSError, BaseSSLError, CertificateError, http.client.HTTPException) as exc:
            raise _no_answer(pool, target, exc, connect_timeout) from exc
    # the read timeout from here on (a steady socket makes this no system call)
    conn.sock.settimeout(read_timeout)
    try:
        conn.sock.sendall(_request(pool, conn, method, target, headers, body))
    except BrokenPipeError:
        pass  # the server may have answered before it closed: read on
    except OSError as exc:
        if exc.errno != errno.ECONNRESET:
            raise _no_answer(pool, target, exc, read_timeout) from exc
    # what http.client's getresponse does, without its bookkeeping of a request
    # it did not send
    reply = conn.response_class(conn.sock, method=method)
    try:
        reply.begin()
    except (OSError, BaseSSLError, http.client.HTTPException) as exc:
        reply.close()
        raise _no_answer(pool, target, exc, read_timeout) from exc
    if reply.will_close:  # the answer is still read from its own file
        conn.close()
    return reply


def _request(
    pool: HTTPConnectionPool,
    conn: Any,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
) -> bytes:
    """The request's bytes, as http.client writes them, with the body in the same write.

    The request line, then ``_Head``'s lines (made once for the pool's headers),
    then the body's length (http.client's ``Content-Length: 0`` for a method
    that expects a body and has none comes before the headers, where it puts it).
    """
    head: _Head | None = getattr(pool, "_rg_head", None)
    if head is None or head.headers is not headers:
        head = pool._rg_head = _Head(conn, headers)  # type: ignore[attr-defined]
    line = b"%s %s HTTP/1.1\r\n" % (method.encode("ascii"), target.encode("ascii"))
    if body:
        return b"%s%s%sContent-Length: %d\r\n\r\n%s" % (
            line,
            head.host,
            head.lines,
            len(body),
            body,
        )
    if method in _EXPECTING_BODY:
        return b"%s%sContent-Length: 0\r\n%s\r\n" % (line, head.host, head.lines)
    return b"%s%s%s\r\n" % (line, head.host, head.lines)


class _Head:
    """A pool's header lines for one headers mapping, made and checked by http.client.

    http.client's ``putrequest`` and ``putheader`` run once on a connection that
    is never opened: the same ``Host`` (and ``Accept-Encoding: identity`` when
    the mapping names none), the same checks of names and values (a value with
    a line break raises ValueError, as there). Per request that was about 50 µs
    of CPU at 16 threads, a tenth of a lead's.
    """

    __slots__ = ("headers", "host", "lines")

    def __init__(self, conn: Any, headers: dict[str, str]) -> None:
        self.headers = headers
        named = {name.lower() for name in headers}
        probe = http.client.HTTPConnection(conn.host, conn.port)
        probe.default_port = conn.default_port  # 443 for https
        probe.putrequest(
            "GET", "/", skip_host="host" in named, skip_accept_encoding="accept-encoding" in named
        )
        self.host = _lines(probe._buffer[1:])  # type: ignore[attr-defined]
        probe._buffer.clear()  # type: ignore[attr-defined]
        for name, value in headers.items():
            probe.putheader(name, value)
        self.lines = _lines(probe._buffer)  # type: ignore[attr-defined]


def _lines(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\r\n" for line in lines)


def _no_answer(
    pool: HTTPConnectionPool, target: str, exc: BaseException, timeout: Any
) -> Exception:
    """What ``urlopen`` raises for a try that failed before its answer's head came."""
    if isinstance(exc, socket.timeout) or getattr(exc, "errno", None) in _BLOCKING:
        return ReadTimeoutError(pool, target, f"Read timed out. (read timeout={timeout})")
    if isinstance(exc, BaseSSLError | CertificateError):
        return SSLError(exc)
    return ProtocolError("Connection aborted.", exc)


def _read(reply: http.client.HTTPResponse) -> bytes:
    """The answer's whole body, decoded as urllib3 would (gzip, deflate, ...)."""
    try:
        raw = reply.read()
    except TimeoutError as exc:  # checked first, as urllib3 does
        raise ProtocolError("Connection broken: the body timed out", exc) from exc
    except BaseSSLError as exc:
        raise SSLError(exc) from exc
    except (http.client.HTTPException, OSError) as exc:
        raise ProtocolError(f"Connection broken: {exc!r}", exc) from exc
    coding = reply.headers.get("Content-Encoding", "")
    if not coding or coding.strip().lower() == "identity":
        return raw
    # rare (the sandbox never compresses): urllib3's decoders, fed the bytes read
    decoding = HTTPResponse(
        body=io.BytesIO(raw),
        headers=HTTPHeaderDict(reply.headers.items()),
        status=reply.status,
        preload_content=False,
        decode_content=True,
    )
    return decoding.read()
