"""Charts as inline SVG (server-rendered, no script, nothing fetched): horizontal bars with their values."""
from __future__ import annotations

from html import escape

from markupsafe import Markup

BAR_HEIGHT = 18
GAP = 6
LABEL_WIDTH = 220
BAR_WIDTH = 360
COLOURS = ("#2b6cb0", "#c05621")


def bar_chart(title: str, bars: list[tuple[str, float]], second: list[float] | None = None,
              legend: tuple[str, str] = ("", "")) -> Markup:
    """Bars for (label, value); `second` draws a second series (same labels) under each first bar."""
    if not bars:
        return Markup(f'<p class="empty">{escape(title)}: nothing in this range.</p>')
    series = 2 if second is not None else 1
    top = max([value for _, value in bars] + (second or []) + [1])
    row = BAR_HEIGHT * series + GAP
    height = row * len(bars) + (24 if series == 2 else 4)
    parts = [f'<svg class="chart" role="img" width="{LABEL_WIDTH + BAR_WIDTH + 90}" height="{height}" '
             f'viewBox="0 0 {LABEL_WIDTH + BAR_WIDTH + 90} {height}" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(bars):
        y = i * row
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{y + BAR_HEIGHT - 5}" text-anchor="end">{escape(str(label))[:34]}</text>')
        values = [value] + ([second[i]] if second is not None else [])
        for j, amount in enumerate(values):
            width = max(1.0, BAR_WIDTH * amount / top) if amount else 0
            yy = y + j * BAR_HEIGHT
            parts.append(f'<rect x="{LABEL_WIDTH}" y="{yy}" width="{width:.1f}" height="{BAR_HEIGHT - 2}" fill="{COLOURS[j]}">'
                         f"<title>{escape(str(label))}: {_number(amount)}</title></rect>")
            parts.append(f'<text x="{LABEL_WIDTH + width + 4:.1f}" y="{yy + BAR_HEIGHT - 5}">{_number(amount)}</text>')
    if series == 2:
        y = row * len(bars) + 14
        for j, name in enumerate(legend):
            x = LABEL_WIDTH + j * 160
            parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{COLOURS[j]}"/>'
                         f'<text x="{x + 16}" y="{y}">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
