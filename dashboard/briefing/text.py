"""How a briefing figure reads: counts with thousands separators, rates by the pages' rule.

Rates go through ``dashboard.analytics.percent`` (the rule of ``onemap.percent`` on the wall,
the desk and the tablet), so a briefing and the screen it summarises agree to the digit.
"""

from __future__ import annotations

from dashboard.analytics.percent import NONE, percent

Number = float | int | None


def count(value: Number) -> str:
    return NONE if value is None else f"{round(value):,}"


def mean(value: Number) -> str:
    """A mean of counts: one decimal, since 12.3 a day is not 12."""
    return NONE if value is None else f"{value:,.1f}"


def rate(value: Number) -> str:
    return NONE if value is None else f"{percent(value)}%"


def figure(kind: str, value: Number) -> str:
    return rate(value) if kind == "rate" else count(value)


def change(kind: str, now: Number, before: Number) -> str:
    """▲/▼ and the difference (percentage points for rates); "持平" when equal."""
    if now is None or before is None:
        return NONE
    diff = now - before
    if diff == 0:
        return "持平"
    arrow = "▲" if diff > 0 else "▼"
    if kind == "rate":
        return f"{arrow}{percent(abs(diff))}个百分点"
    return f"{arrow}{abs(diff):,}" if isinstance(diff, int) else f"{arrow}{abs(diff):,.1f}"


def score(value: float | None) -> str:
    return NONE if value is None else f"{value:.1f}"


def score_change(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return NONE
    diff = round(now - before, 1)
    return "持平" if diff == 0 else f"{'▲' if diff > 0 else '▼'}{abs(diff):.1f}"
