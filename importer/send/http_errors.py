"""Reading the server's answers: ``Retry-After``, a one-line reason, success bodies.

Error bodies come in every shape: the API's JSON, a proxy's HTML page, plain
text or nothing at all. ``readable_error`` turns any of them into one short
line for messages and reports; ``parse_retry_after`` reads the wait a 429 or
503 asks for; ``unexpected_body`` says what a 2xx carried when it is not the
JSON object the API answers. Pure functions of the answer's parts, so no HTTP
library is needed here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from http import HTTPStatus

MAX_MESSAGE = 120  # characters of a reason kept; longer ones end in "…"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date).

    Returns None when the header is absent or unreadable, 0.0 for a date in the past.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" dates parse as naive; HTTP dates are GMT
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)


def readable_error(status: int, reason: str | None, content_type: str, body: bytes) -> str:
    """The server's reason for an error answer, as one short line.

    A JSON body gives its ``error`` string; an HTML page (typically from a proxy)
    is reduced to its visible text; anything else is cut to a readable length.
    """
    phrase = _status_line(status, reason)
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return phrase
    if "json" in content_type.lower() or text[:1] in "{[":
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            for key in ("error", "message", "detail"):
                if isinstance(parsed.get(key), str) and parsed[key].strip():
                    return _cut(parsed[key])
    if "html" in content_type.lower() or text[:1] == "<":
        visible = _visible_text(text)
        return f'{phrase} (HTML error page from a proxy: "{_cut(visible)}")' if visible else phrase
    return f"{phrase}: {_cut(text)}"


def unexpected_body(content_type: str, body: bytes, *, expected: type = dict) -> str | None:
    """None for a JSON object (the API answers ``{}``; a JSON list when ``expected``
    is ``list``, as for the users); else what came back, in a few words.

    A captive portal or single sign-on proxy answers 200 with its login page,
    so a 2xx alone does not prove the API got the request. The content type is
    not required to say JSON: the body decides.
    """
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return "an empty body"
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = _NOT_JSON
    if isinstance(parsed, expected):
        return None
    if "html" in content_type.lower() or text[:1] == "<":
        visible = _visible_text(text)
        return f'an HTML page ("{_cut(visible)}")' if visible else "an HTML page"
    if parsed is not _NOT_JSON:
        shape = "a list" if expected is list else "an object"
        return f"JSON that is not {shape} ({_cut(text)})"
    printable = "".join(c if c.isprintable() else " " for c in text[: MAX_MESSAGE * 2])
    return f'a body that is not JSON ("{_cut(printable)}")'


_NOT_JSON = object()


def _status_line(status: int, reason: str | None) -> str:
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}".strip()


def _cut(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 1].rstrip() + "…"


class _VisibleText(HTMLParser):
    """Collects the text a browser would show; the title only as a fallback."""

    HIDDEN = frozenset({"head", "title", "script", "style", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.shown: list[str] = []
        self.hidden: list[str] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._depth += tag in self.HIDDEN

    def handle_endtag(self, tag: str) -> None:
        self._depth -= bool(tag in self.HIDDEN and self._depth)

    def handle_data(self, data: str) -> None:
        (self.hidden if self._depth else self.shown).append(data)


def _visible_text(page: str) -> str:
    parser = _VisibleText()
    parser.feed(page)
    parser.close()
    return " ".join(" ".join(parser.shown).split()) or " ".join(" ".join(parser.hidden).split())
