"""An answer's head read without the email parser is the head the email parser reads."""

from __future__ import annotations

import email.parser
import http.client
import io

import pytest

from importer.send.http_head import QuickHeadersResponse, quick_parse_headers
from importer.send.http_routes import Routes

# The example answer of RFC 7230, section 2.1 (and RFC 9110's), as a server sends it.
RFC_7230_HEAD = (
    b"Date: Mon, 27 Jul 2009 12:28:53 GMT\r\n"
    b"Server: Apache\r\n"
    b"Last-Modified: Wed, 22 Jul 2009 19:15:56 GMT\r\n"
    b'ETag: "34aa387-d-1568eb00"\r\n'
    b"Accept-Ranges: bytes\r\n"
    b"Content-Length: 51\r\n"
    b"Vary: Accept-Encoding\r\n"
    b"Content-Type: text/plain\r\n"
)
HEADS = {
    "rfc 7230": RFC_7230_HEAD,
    # two cookies, an empty value, spaces and tabs around a value, a value with colons
    "repeated and odd values": (
        b"Set-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\nX-Empty:\r\n"
        b"X-Spaced: \t padded \t\r\nLocation: https://api.example.com:443/x\r\n"
    ),
    "latin-1 value": "X-Note: caf\xe9\r\n".encode("iso-8859-1"),
    "bare line ends": b"Content-Type: application/json\nContent-Length: 2\n",
    # what the email parser alone reads: left to it
    "folded value (obs-fold, RFC 7230 section 3.2.4)": b"X-Folded: one\r\n two\r\nX-After: 1\r\n",
    "space before the colon": b"Content-Type : text/plain\r\nX-After: 1\r\n",
    "line without a colon": b"Content-Type: text/plain\r\nnot a header\r\nX-After: 1\r\n",
}


@pytest.mark.parametrize("head", list(HEADS.values()), ids=list(HEADS))
def test_the_head_is_the_one_the_email_parser_reads(head: bytes) -> None:
    body = b"the body, left where it was"
    quick_fp, plain_fp = io.BytesIO(head + b"\r\n" + body), io.BytesIO(head + b"\r\n" + body)

    quick = quick_parse_headers(quick_fp)
    plain = http.client.parse_headers(plain_fp)

    assert quick.items() == plain.items()
    assert quick.get_all("Set-Cookie") == plain.get_all("Set-Cookie")
    assert quick.get("content-length") == plain.get("content-length")  # names ignore case
    assert quick_fp.read() == plain_fp.read() == body


def test_a_plain_head_is_read_without_the_email_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parser(*args: object, **kwargs: object) -> None:
        raise AssertionError("the email parser was asked")

    monkeypatch.setattr(email.parser, "Parser", no_parser)
    quick = quick_parse_headers(io.BytesIO(RFC_7230_HEAD + b"\r\n"))
    assert quick["Server"] == "Apache" and len(quick.items()) == 8
    with pytest.raises(AssertionError, match="the email parser was asked"):
        quick_parse_headers(io.BytesIO(HEADS["line without a colon"] + b"\r\n"))


def test_too_many_header_lines_are_refused_as_http_client_refuses_them() -> None:
    head = b"".join(b"X-%d: 1\r\n" % n for n in range(http.client._MAXHEADERS + 1))  # type: ignore[attr-defined]
    with pytest.raises(http.client.HTTPException, match="got more than"):
        quick_parse_headers(io.BytesIO(head + b"\r\n"))


def test_an_answer_read_with_the_quick_head_is_read_whole() -> None:
    """Status, chunked body and keep-alive: everything but the head is http.client's own."""
    answer = (
        b"HTTP/1.1 201 Created\r\n" + RFC_7230_HEAD.replace(b"Content-Length: 51\r\n", b"")
        + b"Transfer-Encoding: chunked\r\n\r\n" + b"7\r\n{\"id\":1\r\n1\r\n}\r\n0\r\n\r\n"
    )  # fmt: skip

    class Socket:
        def makefile(self, mode: str) -> io.BytesIO:
            return io.BytesIO(answer)

    response = QuickHeadersResponse(Socket(), method="POST")  # type: ignore[arg-type]
    response.begin()
    assert (response.status, response.reason) == (201, "Created")
    assert response.headers["ETag"] == '"34aa387-d-1568eb00"'
    assert response.read() == b'{"id":1}'
    assert not response.will_close


def test_the_clients_connections_read_heads_with_it() -> None:
    routes = Routes(1, trust_env=False)
    for url in ("http://127.0.0.1:9/rest", "https://127.0.0.1:9/rest"):
        pool, _ = routes.for_url(url)
        assert pool.ConnectionCls.response_class is QuickHeadersResponse
    routes.close()


@pytest.mark.parametrize("head", list(HEADS.values()), ids=list(HEADS))
def test_names_are_looked_up_as_the_email_package_looks_them_up(head: bytes) -> None:
    """The index behind ``get`` and ``in`` finds what ``Message`` finds, whatever the case."""
    quick = quick_parse_headers(io.BytesIO(head + b"\r\n"))
    plain = http.client.parse_headers(io.BytesIO(head + b"\r\n"))
    for name in {name for name, _ in plain.items()} | {"X-Missing"}:
        for spelled in (name, name.lower(), name.upper()):
            assert quick.get(spelled) == plain.get(spelled)
            assert quick.get(spelled, "none") == plain.get(spelled, "none")
            assert quick[spelled] == plain[spelled]
            assert (spelled in quick) == (spelled in plain)


def test_a_changed_head_is_looked_up_as_it_now_is() -> None:
    quick = quick_parse_headers(io.BytesIO(RFC_7230_HEAD + b"\r\n"))
    quick["X-Added"] = "1"
    assert quick.get("x-added") == "1" and "X-ADDED" in quick
    del quick["Server"]
    assert quick.get("server") is None and "server" not in quick
    quick.replace_header("ETag", '"changed"')
    assert quick.get("etag") == '"changed"'
