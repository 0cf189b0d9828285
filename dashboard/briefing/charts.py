"""The briefing's charts as plain inline SVG: nothing to load or run when Chromium prints it,
and text the PDF keeps as text. Light background, the palette of the printed page."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

REPORTED = "#3b6fb6"
CLOSED = "#5aa469"
GRID = "#d9dde3"
INK = "#333a44"
MUTED = "#7a8391"
COLOURS = {"green": "#4f9d5d", "yellow": "#e0a526", "red": "#d0453b"}
_FONT = 'font-family="Noto Sans CJK SC, sans-serif"'


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" {_FONT} aria-label="{escape(title)}">'
        + "".join(body)
        + "</svg>"
    )


def _text(x: float, y: float, text: str, size: int = 11, anchor: str = "middle",
          colour: str = INK) -> str:  # fmt: skip
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'fill="{colour}">{escape(text)}</text>'
    )


def _ceiling(value: float) -> float:
    """A round top for an axis: 1, 2 or 5 times a power of ten, at least ``value``."""
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 5, 10):
        if factor * step >= value:
            return float(factor * step)
    return float(10 * step)


def daily_bars(series: Sequence[dict[str, object]], title: str) -> str:
    """Reports and closures per day, side by side, each bar labelled; a day with no data
    is left empty and marked 无数据."""
    width, height, left, bottom, top = 720, 230, 44, 36, 30
    values = [v for row in series for v in (row.get("reported"), row.get("closed"))]
    numbers = [float(v) for v in values if isinstance(v, int | float)]
    high = _ceiling(max(numbers, default=0))
    plot_h = height - bottom - top
    slot = (width - left - 10) / max(1, len(series))
    body = _axis(width, height, left, bottom, top, high)
    for n, row in enumerate(series):
        x0 = left + n * slot + slot * 0.15
        bar = slot * 0.33
        for k, (key, colour) in enumerate((("reported", REPORTED), ("closed", CLOSED))):
            value = row.get(key)
            x = x0 + k * (bar + 2)
            if not isinstance(value, int | float):
                body.append(_text(x0 + bar, height - bottom - 6, "无数据", 10, colour=MUTED))
                break
            h = plot_h * float(value) / high
            y = height - bottom - h
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{colour}"/>'
            )
            body.append(_text(x + bar / 2, y - 3, f"{int(value):,}", 9, colour=INK))
        day = str(row.get("day", ""))
        body.append(
            _text(left + n * slot + slot / 2, height - bottom + 15, day[5:].replace("-", "/"))
        )
    body += _legend(width - 170, 14, (("上报", REPORTED), ("办结", CLOSED)))
    return _svg(width, height, body, title)


def hour_bars(hours: Sequence[int], title: str) -> str:
    width, height, left, bottom, top = 720, 170, 44, 28, 16
    high = _ceiling(max(hours, default=0))
    plot_h = height - bottom - top
    slot = (width - left - 10) / 24
    body = _axis(width, height, left, bottom, top, high)
    for hour, value in enumerate(hours):
        h = plot_h * value / high
        x = left + hour * slot + slot * 0.15
        y = height - bottom - h
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{REPORTED}"/>'
        )
        if hour % 2 == 0:
            body.append(_text(left + hour * slot + slot / 2, height - bottom + 14, f"{hour}时", 10))
    return _svg(width, height, body, title)


def index_bars(rows: Sequence[tuple[str, float | None, str | None]], title: str) -> str:
    """Each area's governance index as a horizontal bar in its colour, on a 60-100 scale
    (the colours' thresholds are 75 and 85: below 60 the bar is simply short)."""
    row_h = 22 if len(rows) <= 12 else 15  # a county's 25 towns still fit beside the text
    left, right, size = 150, 60, 11 if len(rows) <= 12 else 10
    width = 720
    height = row_h * len(rows) + 30
    low, high = 60.0, 100.0
    span = width - left - right
    body = []
    for mark in (60, 70, 75, 80, 85, 90, 100):
        x = left + span * (mark - low) / (high - low)
        dash = ' stroke-dasharray="3,3"' if mark in (75, 85) else ""
        body.append(
            f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 22}" stroke="{GRID}"{dash}/>'
        )
        body.append(_text(x, height - 8, str(mark), 10, colour=MUTED))
    for n, (name, score, colour) in enumerate(rows):
        y = 6 + n * row_h
        base = y + row_h * 0.62
        body.append(_text(left - 8, base, name, size, "end"))
        if score is None:
            body.append(_text(left + 4, base, "无数据", 10, "start", MUTED))
            continue
        w = max(1.0, span * (min(high, max(low, score)) - low) / (high - low))
        fill = COLOURS.get(colour or "", MUTED)
        body.append(
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row_h - 5}" fill="{fill}"/>'
        )
        body.append(_text(left + w + 5, base, f"{score:.1f}", size, "start"))
    return _svg(width, height, body, title)


def _axis(width: int, height: int, left: int, bottom: int, top: int, high: float) -> list[str]:
    plot_h = height - bottom - top
    body = []
    for k in range(5):
        value = high * k / 4
        y = height - bottom - plot_h * k / 4
        body.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="{GRID}"/>'
        )
        body.append(_text(left - 6, y + 4, f"{value:,.0f}", 10, "end", MUTED))
    return body


def _legend(x: float, y: float, items: Sequence[tuple[str, str]]) -> list[str]:
    body = []
    for n, (label, colour) in enumerate(items):
        at = x + n * 80
        body.append(f'<rect x="{at:.1f}" y="{y - 9}" width="12" height="12" fill="{colour}"/>')
        body.append(_text(at + 17, y + 1, label, 11, "start"))
    return body
