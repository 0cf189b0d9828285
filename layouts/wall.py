"""/wall: the command-centre wall. Dark, no mouse, readable from across the room.

The layout is static: the base map (our own county/town GeoJSON, no tiles) and empty panels.
Everything live arrives over Socket.IO and is applied by ``assets/onemap.js`` in place, so the
server never re-renders anything per message.
"""

from __future__ import annotations

import json

import dash
import dash_leaflet as dl
from dash import html

from dashboard import ids
from feeds.catalogue import PLATFORMS
from feeds.geo import load_geography

KPI_LABELS = [
    ("reported", "今日上报"),
    ("open", "在办事件"),
    ("closed", "今日办结"),
    ("overdue", "超期"),
    ("online", "在线网格员"),
]


def layout(area: str | None = None, **_query: str) -> html.Div:
    geo = load_geography()
    scope = geo.area(area) if area else None
    if scope is None or scope.level not in ("city", "county", "town"):
        scope = geo.city
    return html.Div(
        [
            _header(scope.name),
            _kpis(),
            html.Main([_map(scope.code), _ticker()], className="wall-main"),
        ],
        id=ids.WALL_ROOT,
        className="wall",
        **{"data-scope": scope.code, "data-view": "wall"},
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
                [html.Span(className="health-dot"), html.Span("连接中", id=ids.WALL_HEALTH_TEXT)],
                id=ids.WALL_HEALTH,
                className="wall-health",
                **{"data-state": "connecting"},
            ),
            html.Div("--:--:--", id=ids.WALL_CLOCK, className="wall-clock"),
        ],
        className="wall-header",
    )


def _kpis() -> html.Section:
    return html.Section(
        [
            html.Div(
                [
                    html.Div(label, className="kpi-label"),
                    html.Div("—", className="kpi-value", **{"data-kpi": key}),
                ],
                className=f"kpi kpi-{key}",
            )
            for key, label in KPI_LABELS
        ],
        className="wall-kpis",
    )


def _map(scope: str) -> html.Div:
    geo = load_geography()
    level = "county" if scope == geo.city.code else "town" if len(scope) == 6 else "grid"
    shapes = geo.geojson(level, parent=scope)
    return html.Div(
        [
            dl.Map(
                [dl.GeoJSON(data=shapes, id=ids.WALL_AREAS, style=_AREA_STYLE)],
                id=ids.WALL_MAP,
                bounds=_bounds(shapes),
                center=[geo.area(scope).lat, geo.area(scope).lon],  # dash-leaflet needs both
                zoom=9,
                zoomControl=False,
                attributionControl=False,
                zoomSnap=0.1,
                className="wall-map",
            ),
            _legend(),
        ],
        className="wall-map-panel",
        **{
            "data-labels": json.dumps(_labels(shapes), ensure_ascii=False),
            "data-bounds": json.dumps(_bounds(shapes)),
        },
    )


def _bounds(shapes: dict) -> list[list[float]]:
    xs, ys = [], []
    for feature in shapes["features"]:
        for lon, lat in _coordinates(feature["geometry"]["coordinates"]):
            xs.append(lon)
            ys.append(lat)
    return [[min(ys), min(xs)], [max(ys), max(xs)]]


def _coordinates(nested: list) -> list[tuple[float, float]]:
    if nested and isinstance(nested[0], (int, float)):
        return [(nested[0], nested[1])]
    return [pair for part in nested for pair in _coordinates(part)]


_AREA_STYLE = {"color": "#5fb3ff", "weight": 1.5, "fillColor": "#12304f", "fillOpacity": 0.55}


def _labels(shapes: dict) -> list[dict[str, object]]:
    geo = load_geography()
    labels = []
    for feature in shapes["features"]:
        area = geo.area(feature["properties"]["code"])
        if area is not None:
            labels.append({"code": area.code, "text": area.short, "lat": area.lat, "lon": area.lon})
    return labels


def _legend() -> html.Div:
    return html.Div(
        [html.Div("平台", className="legend-title")]
        + [
            html.Div(
                [html.Span(className=f"legend-swatch platform-{key}"), name], className="legend-row"
            )
            for key, name in PLATFORMS.items()
        ],
        className="wall-legend",
    )


def _ticker() -> html.Aside:
    return html.Aside(
        [html.H2("实时事件"), html.Ol(id=ids.WALL_TICKER, className="ticker")],
        className="wall-ticker",
    )


dash.register_page(__name__, path="/wall", title="OneMap 指挥大屏", name="wall", layout=layout)
