"""The head of an HTTP answer read without the email package's parser.

``http.client`` parses every answer's header lines with ``email.parser``, a
feed parser built for mail messages: on a run at 0 ms latency that was a tenth
of a sending thread's time. ``QuickHeadersResponse`` is ``http.client``'s own
``HTTPResponse`` whose ``begin`` finds a quicker ``parse_headers`` among its
globals: the same code (status line, 100 Continue, chunked, length, keep-alive),
one name changed, so nothing else of reading an answer differs.

``quick_parse_headers`` reads the lines as ``http.client`` does (its own
``_read_headers``, with its limits on the count and length of lines) and stores
each ``name: value`` as the email parser would (the value without the spaces
after the colon and the line end). A head it cannot read that simply (a line
folded onto the next, a line without a colon) goes to the email parser, as
before.

Their headers are an ``IndexedMessage``: ``get`` and ``in`` look a name up in a
dict made once, where the email package's ``Message`` lowers every name it holds
on every look-up (http.client looks up four or five per answer, and so do we).
"""

from __future__ import annotations

import email.parser
import http.client
import re
import types
from typing import Any

__all__ = ["IndexedMessage", "QuickHeadersResponse", "quick_parse_headers"]

# what the email parser takes for a header's name: printable ASCII but the colon
_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")


class IndexedMessage(http.client.HTTPMessage):
    """An answer's headers whose ``get`` and ``in`` use an index of the names, once made.

    ``index`` is made by ``quick_parse_headers`` once every line is in: each
    lower-cased name with its first value, what ``Message.get`` finds (values
    read as ISO-8859-1 come back from it unchanged). A message changed since
    (no code of ours changes an answer's headers) is looked up as before.
    """

    _headers: list[tuple[str, Any]]  # email.message.Message's list of (name, value)
    _index: tuple[list[tuple[str, Any]], int, dict[str, str]] | None = None

    def index(self) -> None:
        first: dict[str, str] = {}
        for name, value in self._headers:
            first.setdefault(name.lower(), value)
        self._index = (self._headers, len(self._headers), first)

    def _first(self) -> dict[str, str] | None:
        index = self._index
        if index is None or index[0] is not self._headers or index[1] != len(index[0]):
            return None
        return index[2]

    def get(self, name: str, failobj: Any = None) -> Any:
        first = self._first()
        if first is None:
            return super().get(name, failobj)
        return first.get(name.lower(), failobj)

    def __contains__(self, name: object) -> bool:
        first = self._first()
        if first is None or not isinstance(name, str):
            return super().__contains__(name)  # type: ignore[operator]
        return name.lower() in first

    def replace_header(self, _name: str, _value: Any) -> None:
        self._index = None  # changes a value in place
        super().replace_header(_name, _value)


def quick_parse_headers(
    fp: Any, _class: type[http.client.HTTPMessage] = IndexedMessage
) -> http.client.HTTPMessage:
    """``http.client.parse_headers``, without the email parser for plain ``name: value`` lines."""
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]
    message = _class()
    for raw in lines:
        if raw in (b"\r\n", b"\n", b""):  # the blank line that ends the head (read with it)
            break
        line = raw.decode("iso-8859-1")
        name, colon, value = line.partition(":")
        if not colon or not _NAME.fullmatch(name):
            return email.parser.Parser(_class=_class).parsestr(b"".join(lines).decode("iso-8859-1"))
        message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
    if isinstance(message, IndexedMessage):
        message.index()
    return message


def _with_quick_headers(begin: Any) -> Any:
    """``begin`` run with ``quick_parse_headers`` as its ``parse_headers``."""
    namespace = dict(begin.__globals__, parse_headers=quick_parse_headers)
    return types.FunctionType(
        begin.__code__, namespace, begin.__name__, begin.__defaults__, begin.__closure__
    )


class QuickHeadersResponse(http.client.HTTPResponse):
    """``http.client.HTTPResponse`` reading its head with ``quick_parse_headers``."""

    begin = _with_quick_headers(http.client.HTTPResponse.begin)
