"""The pieces report.html is built of: escaped text, tables, and the SVG bar chart.

Every value passes through ``text`` (``html.escape``, quotes included) before
it reaches the page: a file name, a cell or a server message is data, and a
``<script>`` in it must show as those characters, never run.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

NONE = "none"  # what an empty or missing part of the report shows

# the chart's geometry, in SVG user units (the picture scales with the page)
LABEL_WIDTH = 130
BAR_WIDTH = 360
BAR_HEIGHT = 22
ROW_HEIGHT = 30
NUMBER_GAP = 8


def text(value: Any) -> str:
    """``value`` as page text: escaped, with None shown as a dash."""
    if value is None:
        return "&#8212;"  # an em dash: no value, said without a word that could be data
    if isinstance(value, bool):
        return "yes" if value else "no"
    return html.escape(str(value), quote=True)


def table(table_id: str, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A table of escaped cells; ``none`` instead of a table without rows."""
    body = ["<tr>" + "".join(f"<td>{text(cell)}</td>" for cell in row) + "</tr>" for row in rows]
    if not body:
        return f'<p class="none" id="{text(table_id)}">{NONE}</p>'
    head = "<tr>" + "".join(f"<th>{text(h)}</th>" for h in headers) + "</tr>"
    return (
        f'<table id="{text(table_id)}"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'
    )


def facts(table_id: str, pairs: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of names and values (the input, the mapping)."""
    rows = "".join(f"<tr><th>{text(name)}</th><td>{text(value)}</td></tr>" for name, value in pairs)
    return f'<table class="facts" id="{text(table_id)}"><tbody>{rows}</tbody></table>'


def bar_chart(chart_id: str, title: str, bars: Sequence[tuple[str, int, str]]) -> str:
    """A horizontal bar chart as inline SVG: one (label, count, css class) per bar.

    Each bar's count is written beside it as text, so the numbers can be read
    (and copied) without measuring bars; a zero draws no bar but keeps its line.
    """
    top = max((count for _, count, _ in bars), default=0)
    height = ROW_HEIGHT * len(bars)
    width = LABEL_WIDTH + BAR_WIDTH + 80
    lines = [
        # inline SVG in HTML needs no namespace: the page names no address at all
        f'<svg id="{text(chart_id)}" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}">',
        f"<title>{text(title)}</title>",
    ]
    for i, (label, count, css) in enumerate(bars):
        y = i * ROW_HEIGHT
        length = round(BAR_WIDTH * count / top) if top else 0
        middle = y + BAR_HEIGHT // 2 + 5  # text sits on its baseline: this centres it
        lines += [
            f'<text class="label" x="{LABEL_WIDTH - NUMBER_GAP}" y="{middle}" '
            f'text-anchor="end">{text(label)}</text>',
            f'<rect class="{text(css)}" x="{LABEL_WIDTH}" y="{y}" width="{length}" '
            f'height="{BAR_HEIGHT}"/>',
            f'<text class="count" x="{LABEL_WIDTH + length + NUMBER_GAP}" '
            f'y="{middle}">{text(count)}</text>',
        ]
    lines.append("</svg>")
    return "\n".join(lines)
