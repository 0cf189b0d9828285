"""/wall: the command-centre wall. Dark, no mouse, readable from across the room.

The layout is a static frame: panels, an empty map and empty charts. Everything live arrives
over Socket.IO and is applied in place by ``assets/onemap-*.js`` (areas, index colours, markers,
workers, ticker, KPIs, charts), so nothing is re-rendered by the server per message. The
requested area (``?area=<code>``) is where the wall starts; ``?tour=1`` makes it cycle through
the counties and back to the city on its own. ``?density=`` and ``?window=`` say which
incidents the map counts (platforms or categories, and a time window; docs/wall.md): at city
scale it draws their density, elsewhere their markers.

One page fits walls of any shape (docs/operations.md, "Wall shapes"): ``?layout=`` picks the
arrangement, ``standard`` (16:9, 3x3 grids of 16:9 screens) or ``wide`` (32:9, 48:9: panels
left and right of the map); ``auto`` (the default) lets ``assets/onemap-12-shape.js`` choose
from the window's aspect ratio. Everything is sized in rem and the root font follows the
screen's height (wall.css), so a 4K or 3x3 wall is the 1080p design, larger.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import dash_leaflet as dl
import flask
from dash import dcc, html

from dashboard.config import Settings
from dashboard.views.chart_theme import empty_figure
from dashboard.views.geo_api import focus_of
from dashboard.views.kpis import CAPTIONS
from feeds.catalogue import CATEGORIES, LEVELS, PLATFORMS
from feeds.deadlines import DUE_SOON
from feeds.geo import load_geography
from feeds.schema import CHINA_TZ
from layouts import ids, vendor
from layouts.basemap import tile_layers
from layouts.history import history_note
from layouts.typed import Children, data, register_page

KPI_TILES = [
    ("reported", "今日上报", ""),
    ("patrol_workers", "今日巡查", "人"),  # who patrolled today; 在线网格员 is who is out now
    ("open", "在办事件", ""),
    ("overdue", "超期事件", ""),
    ("disposal_rate", "处置率", "%"),
    ("on_time_rate", "按期办结率", "%"),
    ("self_closure_rate", "网格自结率", "%"),
    ("online", "在线网格员", "人"),
]
# ?layout= values; "auto" chooses from the window's aspect ratio (assets/onemap-12-shape.js)
LAYOUTS = ("auto", "standard", "wide")
WEEKDAYS = "一二三四五六日"
INDEX_COLOURS = [("green", "良好"), ("yellow", "关注"), ("red", "预警")]
GRAPH_CONFIG: dcc.Graph.Config = {"staticPlot": True, "displayModeBar": False, "responsive": True}
# ?window= besides hours ("1h" to "24h"): open incidents (the default), or reported today
WINDOWS = {"open": "在办", "today": "今日"}
HOURS = re.compile(r"([1-9]|1[0-9]|2[0-4])h")
# the two ends of the density key (its ramp: wall.css .legend-ramp)
DENSITY_LEGEND = ("少", "多")


def density_query(density: str | None, window: str | None) -> tuple[str, str, str]:
    """``?density=`` and ``?window=`` as the page takes them: (codes, window, filter caption).

    codes: "all", "off" (markers at every scale) or known platform and category codes,
    comma-separated; window: a key of WINDOWS or hours ("24h"). Anything else is the default,
    so a mistyped link still shows a wall."""
    asked = [c.strip() for c in (density or "").lower().split(",")]
    codes = [c for c in asked if c in PLATFORMS or c in CATEGORIES]
    names = [PLATFORMS[c] if c in PLATFORMS else CATEGORIES[c].name for c in codes]
    caption = "、".join(names[:2]) + (f" 等{len(names)}项" if len(names) > 2 else "")
    chosen = ",".join(codes) or ("off" if asked == ["off"] else "all")
    window = window or "open"
    return chosen, window if window in WINDOWS or HOURS.fullmatch(window) else "open", caption


def window_name(window: str) -> str:
    return WINDOWS.get(window) or f"近{window[:-1]}小时"


def use_plotly_basic() -> None:
    """Serve Plotly's basic bundle (scatter, bar, pie) next to the full one.

    The wall is the only page with charts and draws scatter and bar traces only; the full
    bundle was 72 % of the wall's first-visit bytes and its evaluation the largest single cost
    of the first render (docs/benchmarks.md, "First full render"). Listing it as a dynamic
    resource of dash_core_components, as Dash lists the full one, makes Dash serve it without
    putting it in the page; dcc.Graph fetches plotly.js from ``window._dashPlotlyJSURL``, which
    ``assets/onemap-40-panels.js`` points at it (the full bundle stays servable, as a fallback
    should that fail). Idempotent.
    """
    basic: dict[str, object] = {  # the type of dcc._js_dist's entries
        "relative_package_path": vendor.PLOTLY_BASIC,
        "namespace": vendor.__name__,
        "async": "eager",  # dynamic: served, not a script tag (as Dash lists the full bundle)
    }
    if basic not in dcc._js_dist:
        dcc._js_dist.append(basic)


use_plotly_basic()


def layout(
    area: str | None = None,
    tour: str | None = None,
    layout: str | None = None,
    density: str | None = None,
    window: str | None = None,
    **_query: str,
) -> html.Div:
    geo = load_geography()
    settings: Settings = flask.current_app.config["ONEMAP_SETTINGS"]
    area = flask.current_app.config["ONEMAP_ACCESS"].page_scope(area)  # no area: the user's own
    if area is None:  # outside the signed-in user's jurisdiction: show nothing of it
        return html.Div("无权查看该区域", className="access-refused", **data(refused="scope"))
    scope, highlight = focus_of(geo, area)
    shown = geo.area(scope)
    assert shown is not None  # focus_of answers a known area (the city if asked for none)
    codes, window, caption = density_query(density, window)
    legend = _legend(window_name(window), caption)
    return html.Div(
        [
            _header(shown.name),
            _kpis(),
            html.Main(
                [_left(), _map(settings, legend, shown.level), _right()],
                className="wall-body",
            ),
            _outage(),
        ],
        id=ids.WALL_ROOT,
        className="wall",
        **data(
            scope=scope,
            highlight=highlight or "",
            tour="1" if tour in ("1", "true", "yes") else "",
            layout=layout if layout in LAYOUTS else "auto",
            shape=layout if layout in LAYOUTS[1:] else "standard",  # auto: set by the page
            view="wall",
            health="connecting",
            stale_after=str(settings.stale_after_s),
            dwell=str(settings.tour_dwell_s),
            max_heap_mb=str(settings.max_heap_mb),
            density=codes,
            window=window,
            categories=json.dumps([[c.code, c.colour] for c in CATEGORIES.values()]),
            due_soon_s=str(int(DUE_SOON.total_seconds())),
        ),
    )


def _header(scope_name: str) -> html.Header:
    return html.Header(
        [
            html.Div(
                [
                    html.Span("宁波市", className="wall-city"),
                    html.Span("基层治理 · 一图统览", className="wall-title"),
                ],
                className="wall-brand",
            ),
            html.Div(scope_name, id=ids.WALL_SCOPE, className="wall-scope"),
            html.Div(
                [
                    history_note("wall"),
                    html.Div(
                        [
                            html.Span(className="health-dot"),
                            html.Span("连接中", id=ids.WALL_HEALTH_TEXT),
                        ],
                        id=ids.WALL_HEALTH,
                        className="wall-health",
                        **data(state="connecting"),
                    ),
                    html.Div(chinese_date(), id=ids.WALL_DATE, className="wall-date"),
                    html.Div("--:--:--", id=ids.WALL_CLOCK, className="wall-clock"),
                ],
                className="wall-status",
            ),
        ],
        className="wall-header",
    )


def chinese_date(now: datetime | None = None) -> str:
    """Today in China as a wall says it: "2026年12月5日 星期六" (the page keeps it current,
    assets/onemap-90-wall.js)."""
    day = (now or datetime.now(CHINA_TZ)).astimezone(CHINA_TZ)
    return f"{day.year}年{day.month}月{day.day}日 星期{WEEKDAYS[day.weekday()]}"


def _outage() -> html.Div:
    """The banner over a dimmed wall while its data is not live (filled by onemap-90-wall.js)."""
    return html.Div(
        [
            html.Div(
                [html.Span(className="outage-title"), html.Span(className="outage-status")],
                className="outage-head",
            ),
            html.Div(className="outage-age"),
            html.Div(className="outage-note"),
        ],
        className="wall-outage",
        role="alert",
        hidden=True,
    )


def _kpis() -> html.Section:
    return html.Section(
        [
            html.Div(
                [
                    html.Div([html.Span(label), *_caption(key)], className="kpi-label"),
                    html.Div(
                        [
                            html.Span("—", className="kpi-value"),
                            html.Span(unit, className="kpi-unit"),
                        ],
                        className="kpi-figure",
                    ),
                    html.Div("", className="kpi-delta"),
                ],
                className=f"kpi kpi-{key}",
                **data(kpi=key),
            )
            for key, label, unit in KPI_TILES
        ],
        className="wall-kpis",
    )


def _caption(key: str) -> list[html.Span]:
    """A rate's population, "应办结 5,582" (the count filled in by onemap-40-panels.js)."""
    if key not in CAPTIONS:
        return []
    text, base = CAPTIONS[key]
    return [html.Span(text, className="kpi-caption", **data(text=text, base=base))]


def _panel(title: str, body: Children, name: str) -> html.Section:
    return html.Section(
        [html.H2(title, className="panel-title"), html.Div(body, className="panel-body")],
        className=f"panel panel-{name}",
    )


def _graph(graph_id: str) -> dcc.Graph:
    return dcc.Graph(
        id=graph_id, figure=empty_figure(), config=GRAPH_CONFIG, className="wall-graph"
    )


def _left() -> html.Div:
    return html.Div(
        [
            _panel("今日上报趋势 · 对比昨日", _graph(ids.WALL_TREND), "trend"),
            _panel("四平台 · 事件类别", _graph(ids.WALL_CATEGORIES), "categories"),
            _panel("办结层级流向", _graph(ids.WALL_FLOW), "flow"),
        ],
        className="wall-column wall-left",
    )


def _map(settings: Settings, legend: html.Div, level: str) -> html.Div:
    geo = load_geography()
    tiles = tile_layers(settings, opacity=0.35)  # faint on the dark wall (docs/maps.md)
    return html.Div(
        [
            dl.Map(
                tiles,
                id=ids.WALL_MAP,
                center=[geo.city.lat, geo.city.lon],
                zoom=9,
                zoomControl=False,
                attributionControl=False,
                zoomSnap=0.1,
                dragging=False,
                scrollWheelZoom=False,
                doubleClickZoom=False,
                keyboard=False,
                className="wall-map",
            ),
            html.Div(id=ids.WALL_BREADCRUMB, className="map-breadcrumb"),
            html.Div(id=ids.WALL_TOUR, className="map-tour"),
            legend,
        ],
        className="wall-map-panel",
        **data(level=level, incidents="markers"),  # kept current by onemap-20-map.js
    )


def _legend(window: str, caption: str) -> html.Div:
    """The map's key. Rows for one scale only are classed only-density / only-markers (the
    incidents as density or as markers) and only-city / not-city (workers counted or dotted);
    wall.css shows those that apply."""
    low, high = DENSITY_LEGEND
    return html.Div(
        [
            html.Div("治理指数", className="legend-title"),
            *[
                html.Div(
                    [html.Span(className=f"legend-swatch index-{key}"), name],
                    className="legend-row",
                )
                for key, name in INDEX_COLOURS
            ],
            html.Div(f"事件密度 · {window}", className="legend-title only-density"),
            html.Div(
                [html.Span(low), html.Span(className="legend-ramp"), html.Span(high)],
                className="legend-row legend-wide legend-density only-density",
            ),
            html.Div("事件平台", className="legend-title only-markers"),
            *[
                html.Div(
                    [html.Span(className=f"legend-dot platform-{key}"), name],
                    className="legend-row only-markers",
                )
                for key, name in PLATFORMS.items()
            ],
            html.Div(
                [html.Span(className="legend-dot legend-overdue"), "超期"],
                className="legend-row only-markers",
            ),
            html.Div("聚合 · 数字为件数", className="legend-title only-markers"),
            html.Div(
                [
                    html.Span(className="legend-cluster cluster-2"),
                    "超期",
                    html.Span(className="legend-cluster cluster-1"),
                    "临期",
                    html.Span(className="legend-cluster cluster-0"),
                    "在办",
                ],
                className="legend-row legend-wide legend-clusters only-markers",
            ),
            *([html.Div(f"仅 {caption}", className="legend-filter")] if caption else []),
            html.Div("网格员 · 在岗人数", className="legend-title only-city"),
            html.Div(
                [html.Span("12", className="legend-badge"), "按片区合计"],
                className="legend-row legend-wide only-city",
            ),
            html.Div("网格员", className="legend-title not-city"),
            html.Div(
                [
                    html.Span([html.Span(className="legend-worker status-0"), "巡查"]),
                    html.Span([html.Span(className="legend-worker status-1"), "处置"]),
                    html.Span([html.Span(className="legend-worker status-2"), "空闲"]),
                ],
                className="legend-row legend-workers not-city",
            ),
        ],
        className="wall-legend",
    )


def _right() -> html.Div:
    ladder = html.Ol(
        [
            html.Li(
                [
                    html.Span(name, className="ladder-name"),
                    html.Span(className="ladder-bar"),
                    html.Span("—", className="ladder-count"),
                    html.Span("", className="ladder-wait"),
                ],
                className="ladder-row",
                **data(level=str(level)),
            )
            for level, name in LEVELS.items()
        ],
        id=ids.WALL_LADDER,
        className="ladder",
    )
    return html.Div(
        [
            _panel(
                "实时事件",
                [
                    html.Ul(id=ids.WALL_PINNED, className="pinned"),
                    html.Ol(id=ids.WALL_TICKER, className="ticker"),
                ],
                "ticker",
            ),
            _panel("五级联动 · 在办分布", ladder, "ladder"),
            _panel("治理指数排名", html.Ol(id=ids.WALL_RANKING, className="ranking"), "ranking"),
        ],
        className="wall-column wall-right",
    )


register_page(__name__, path="/wall", title="OneMap 指挥大屏", name="wall", layout=layout)
