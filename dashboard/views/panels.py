"""The wall's slower panels for one jurisdiction: charts and lists, as JSON-ready data.

Built every few seconds per watched area (not per message) by scanning the state once; the
browser swaps them in. Figures are plain dicts in the wall's template so no Plotly object model
runs on the server.
"""

from __future__ import annotations

import statistics
import time
import weakref
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from dashboard.state import CLOSED, Incident, State
from dashboard.views import flow_bars
from dashboard.views.chart_theme import MUTED, PLATFORM_COLOURS, WALL_TEMPLATE
from dashboard.views.ranking import governance, ranking
from feeds.catalogue import CATEGORIES, LEVELS, PLATFORMS
from feeds.schema import CHINA_TZ


def in_scope(incident: Incident, scope: str, city: str) -> bool:
    return scope in (city, incident.area.county, incident.area.town)


def reported_at(incident: Incident) -> datetime:
    return min(step.ts for step in incident.steps.values())


MAX_AGE_S = 5.0  # a cached build is reused this long while no event step arrives

# state → scope → (the last event id it was built at, when, the panels)
_built: weakref.WeakKeyDictionary[State, dict[str, tuple[str, float, dict[str, Any]]]] = (
    weakref.WeakKeyDictionary()
)


def cached(state: State, scope: str, now: datetime, max_age_s: float = MAX_AGE_S) -> dict[str, Any]:
    """``build``, reused for ``scope`` while no event step was applied and it is fresh enough.

    Every page's hello and every room's refresh asks for it; without new steps only the clock
    moves the panels (waits, the index's time terms), which ``max_age_s`` bounds. Call it under
    the lock that guards ``state``.
    """
    version = state.last_sid["events"]
    per_scope = _built.setdefault(state, {})
    hit = per_scope.get(scope)
    if hit is not None and hit[0] == version and time.monotonic() - hit[1] < max_age_s:
        return hit[2]
    panels = build(state, scope, now)
    per_scope[scope] = (version, time.monotonic(), panels)
    return panels


def build(state: State, scope: str, now: datetime) -> dict[str, Any]:
    city = state.geo.city.code
    incidents = [i for i in state.incidents.values() if in_scope(i, scope, city)]
    midnight = now.astimezone(CHINA_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    reported = {i.id: reported_at(i) for i in incidents}  # once each: it scans the steps
    today = [i for i in incidents if reported[i.id] >= midnight]
    index = governance(state, scope, now)
    return {
        "trend": trend_figure(incidents, midnight, now, reported),
        "categories": category_figure(today),
        "flow": flow_figure(today),
        "ladder": ladder(incidents, now),
        "index": index,
        "ranking": ranking(state, index),
    }


def hourly(
    incidents: list[Incident],
    start: datetime,
    hours: int,
    reported: dict[str, datetime] | None = None,
) -> list[int]:
    counts = [0] * hours
    for incident in incidents:
        at = reported[incident.id] if reported is not None else reported_at(incident)
        hour = int((at - start) / timedelta(hours=1))
        if 0 <= hour < hours:
            counts[hour] += 1
    return counts


PACE_AFTER_S = 600  # the current hour's pace is drawn once this much of it has passed


def trend_figure(
    incidents: list[Incident],
    midnight: datetime,
    now: datetime,
    reported: dict[str, datetime] | None = None,
) -> dict[str, Any]:
    """Reports per hour, today's against yesterday's. Today's line ends at the last whole
    hour; the hour under way is not a point on it (a quarter of an hour's reports would read
    as a drop), but a dashed step to its pace so far, scaled to the hour, with what it holds
    ("已 38 件"), once ``PACE_AFTER_S`` of it has passed."""
    hour = now.astimezone(CHINA_TZ).hour
    counts = hourly(incidents, midnight, hour + 1, reported)
    yesterday = hourly(incidents, midnight - timedelta(days=1), 24, reported)
    x = list(range(24))
    traces: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "x": x,
            "y": yesterday,
            "name": "昨日",
            "mode": "lines",
            "line": {"color": MUTED, "width": 2, "dash": "dot"},
        },
        {
            "type": "scatter",
            "x": x[:hour],
            "y": counts[:hour],
            "name": "今日",
            "mode": "lines+markers",
            "line": {"color": "#38c6ff", "width": 3, "shape": "spline"},
            "marker": {"size": 6},
            "fill": "tozeroy",
            "fillcolor": "rgba(56,198,255,0.15)",
        },
    ]
    pace = hour_pace(counts[hour], now)
    if pace is not None:
        traces.append(_pace_trace(counts, hour, pace))
    return _figure(
        traces,
        {
            "xaxis": {
                "tickvals": [0, 6, 12, 18, 23],
                "ticktext": ["0时", "6时", "12时", "18时", "23时"],
                "range": [-0.3, 23.3],
            },
            "yaxis": {"rangemode": "tozero"},
            # the legend above the plot, clear of its top tick, on one line in the narrowest
            # panel (28.5rem at 1080p, assets/wall.css)
            "margin": {"t": 34, "l": 44},
            "legend": {"x": 0, "y": 1.0, "yanchor": "bottom"},
        },
    )


def _pace_trace(counts: list[int], hour: int, pace: int) -> dict[str, Any]:
    """A dashed step from the last whole hour to the pace of the hour under way, the hollow
    point labelled with what the hour holds so far."""
    first = max(0, hour - 1)
    before = hour - first  # 0 at midnight's hour: the step has no start
    return {
        "type": "scatter",
        "x": list(range(first, hour + 1)),
        "y": [*counts[first:hour], pace],
        "name": "本小时(按当前速度)",
        "mode": "lines+markers+text",
        "line": {"color": "#38c6ff", "width": 2, "dash": "dash"},
        "marker": {"size": [6] * before + [9], "symbol": "circle-open"},
        "text": [""] * before + [f"已{counts[hour]}"],
        "textposition": "top center",
        "textfont": {"size": 18, "color": "#38c6ff"},
        "cliponaxis": False,
    }


def hour_pace(so_far: int, now: datetime) -> int | None:
    """The hour under way's reports scaled to a whole hour at the pace so far (None before
    ``PACE_AFTER_S``: too little of it to tell)."""
    local = now.astimezone(CHINA_TZ)
    elapsed = local.minute * 60 + local.second + local.microsecond / 1e6
    return round(so_far * 3600 / elapsed) if elapsed >= PACE_AFTER_S else None


def category_figure(today: list[Incident], top: int = 8) -> dict[str, Any]:
    counts = Counter(i.category for i in today).most_common(top)
    if not counts:
        return nothing_yet()
    counts.reverse()  # largest on top in a horizontal bar chart
    names = [CATEGORIES[code].name for code, _ in counts]
    colours = [PLATFORM_COLOURS[CATEGORIES[code].platform] for code, _ in counts]
    by_platform = Counter(CATEGORIES[i.category].platform for i in today)
    pairs = [f"{PLATFORMS[p]} {by_platform.get(p, 0)}" for p in PLATFORMS]
    caption = "<br>".join(" · ".join(pairs[i : i + 2]) for i in range(0, len(pairs), 2))
    return _figure(
        [
            {
                "type": "bar",
                "orientation": "h",
                "x": [n for _, n in counts],
                "y": names,
                "marker": {"color": colours},
                "text": [n for _, n in counts],
                "textposition": "outside",
                "cliponaxis": False,
                "textangle": 0,
                "constraintext": "none",
                "textfont": {"size": 18},
            }
        ],
        {
            "margin": {"l": 172, "r": 48, "t": 58, "b": 10},
            "xaxis": {"visible": False},
            "yaxis": {"tickfont": {"size": 18, "color": "#e6f1ff"}},
            "bargap": 0.3,
            "annotations": [
                {
                    "text": caption,
                    "x": 0,
                    "y": 1.0,
                    "xref": "paper",
                    "yref": "paper",
                    "xanchor": "left",
                    "yanchor": "bottom",
                    "showarrow": False,
                    "font": {"size": 18, "color": MUTED},
                    "xshift": -162,
                }
            ],
        },
    )


def flow_counts(
    today: list[Incident],
) -> tuple[Counter[tuple[int, int]], Counter[int], Counter[int]]:
    """Escalations between levels, closures per level and still-open per level."""
    up: Counter[tuple[int, int]] = Counter()
    closed: Counter[int] = Counter()
    still_open: Counter[int] = Counter()
    for incident in today:
        top = max(step.level for step in incident.steps.values())
        for level in range(1, top):
            up[(level, level + 1)] += 1
        (closed if incident.status == CLOSED else still_open)[incident.level] += 1
    return up, closed, still_open


def flow_figure(today: list[Incident]) -> dict[str, Any]:
    """Where today's incidents went at each level: closed there, still open there, or passed up.

    Stacked bars, one row per level, rather than a Sankey: the wall loads Plotly's basic bundle
    (scatter, bar, pie; a quarter of the full one), see ``layouts/wall.py``.
    """
    up, closed, still_open = flow_counts(today)
    if not today:
        return nothing_yet()
    levels = list(LEVELS)[::-1]  # the grid level on top
    names = [LEVELS[level] for level in levels]
    segments = [
        ("办结", [closed.get(lv, 0) for lv in levels], "#2bd67b"),
        ("在办", [still_open.get(lv, 0) for lv in levels], "#38c6ff"),
        ("上报上级", [up.get((lv, lv + 1), 0) for lv in levels], "#ffb020"),
    ]
    # every number level and 18 px, inside its segment or after its row (flow_bars.py)
    rows, axis = flow_bars.layout_rows([[c[i] for _, c, _ in segments] for i in range(len(levels))])
    return _figure(
        [
            {
                "type": "bar",
                "orientation": "h",
                "name": name,
                "x": [row.widths[s] for row in rows],
                "y": names,
                "marker": {"color": colour},
                "text": [row.inside[s] for row in rows],
                "textposition": "inside",
                "insidetextanchor": "middle",
                "textangle": 0,
                "constraintext": "none",
                "textfont": {"size": 18, "color": "#04101f"},
                "cliponaxis": False,
            }
            for s, (name, _, colour) in enumerate(segments)
        ],
        {
            "barmode": "stack",
            "bargap": 0.28,
            "margin": {"l": 48, "r": 10, "t": 34, "b": 8},
            "xaxis": {"visible": False, "range": [0, axis]},
            "yaxis": {"tickfont": {"size": 18, "color": "#e6f1ff"}},
            "legend": {"x": 0, "y": 1.0, "yanchor": "bottom", "traceorder": "normal"},
            "annotations": [
                _flow_outside(row, name, [colour for _, _, colour in segments])
                for row, name in zip(rows, names, strict=True)
                if row.outside
            ],
        },
    )


def _flow_outside(row: flow_bars.FlowRow, name: str, colours: list[str]) -> dict[str, Any]:
    """The numbers too wide for their segments, after the row's bar, each in its colour."""
    text = " · ".join(
        f'<span style="color:{colours[s]}">{flow_bars.label(row.counts[s])}</span>'
        for s in row.outside
    )
    return {
        "text": text,
        "x": row.end,
        "y": name,
        "xanchor": "left",
        "xshift": flow_bars.GAP_PX,
        "showarrow": False,
        "font": {"size": 18, "color": MUTED},
    }


def ladder(incidents: list[Incident], now: datetime) -> list[dict[str, Any]]:
    """Open incidents at each level and the median time they have waited at that level."""
    waits: dict[int, list[float]] = {level: [] for level in LEVELS}
    for incident in incidents:
        if incident.status == CLOSED or incident.latest is None:
            continue
        waits[incident.level].append((now - _arrived_at_level(incident)).total_seconds())
    return [
        {
            "level": level,
            "name": LEVELS[level],
            "open": len(w),
            "median_wait_s": statistics.median(w) if w else None,
        }
        for level, w in waits.items()
    ]


def _arrived_at_level(incident: Incident) -> datetime:
    """When the incident reached the level it sits at now (its first step at that level)."""
    level = incident.level
    steps = sorted(incident.steps.values(), key=lambda s: s.seq)
    arrived = steps[-1].ts
    for step in reversed(steps):
        if step.level != level:
            break
        arrived = step.ts
    return arrived


def nothing_yet() -> dict[str, Any]:
    return _figure(
        [],
        {
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [
                {
                    "text": "今日暂无事件",
                    "showarrow": False,
                    "font": {"size": 18, "color": MUTED},
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                }
            ],
        },
    )


def _figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    return {
        "data": data,
        "layout": {"template": WALL_TEMPLATE, "showlegend": len(data) > 1, **layout},
    }
