"""/tablet: the leader's view of the whole city in one hand, for touch and a weak network.

Like the wall, a static frame filled by ``assets/onemap-60-tablet.js`` from the live socket:
headline KPIs, the three-colour map (tap an area to drill in, pinch to zoom, "返回上级" to go
back up), the top risks now (red areas, overdue incidents, early warnings) each opening a
compact card, trends over 7 and 30 days drawn as inline SVG (no Plotly: it would be most of the
first load), the ranking, and the latest events. Leaders can put a wall into follow mode and
write a 批示 on an incident; duty officers can send them a view. Every control is a real
button of at least 44 px, and nothing is told only on hover.

The layout is responsive in CSS alone (``assets/tablet.css``, scoped by ``.tablet``): portrait
puts the map over a tabbed panel; landscape puts the panel beside the map, and wide landscape
(1366×1024) adds the trend chart under the map.
"""

from __future__ import annotations

import json
import math
from typing import Any

import dash_leaflet as dl
import flask
from dash import html

from dashboard.access.auth import Access, Principal
from dashboard.access.store import Kiosk
from dashboard.config import Settings
from dashboard.views.geo_api import area_map, focus_of
from dashboard.views.kpis import CAPTIONS
from dashboard.views.walls import drivable
from feeds.geo import Geography, load_geography
from layouts import ids
from layouts.basemap import tile_layers
from layouts.history import history_note
from layouts.typed import data, register_page

KPI_TILES = [
    ("reported", "今日上报", ""),
    ("open", "在办事件", ""),
    ("overdue", "超期事件", ""),
    ("closed", "今日办结", ""),
    ("on_time_rate", "按期办结率", "%"),
    ("online", "在线网格员", ""),
]
TABS = [("risks", "风险"), ("trends", "趋势"), ("ranking", "排名"), ("feed", "动态")]
LEADS = frozenset({"leader", "admin"})  # who may put a wall into follow mode and write 批示


def layout(area: str | None = None, **_query: str) -> html.Div:
    geo = load_geography()
    settings: Settings = flask.current_app.config["ONEMAP_SETTINGS"]
    access: Access = flask.current_app.config["ONEMAP_ACCESS"]
    who = access.current()
    area = access.page_scope(area)
    if area is None or who is None:
        return html.Div("无权查看该区域", className="access-refused", **data(refused="scope"))
    scope, _grid = focus_of(geo, area)
    return html.Div(
        [
            _header(geo, scope, who),
            html.Div(id=ids.TABLET_STALE, className="tablet-stale", hidden=True, role="alert"),
            html.Div(id=ids.TABLET_INBOX, className="tablet-inbox", hidden=True, role="status"),
            _kpis(),
            _map(geo, settings),
            _tabs(),
            _risks(),
            _trends(),
            _ranking(),
            _feed(),
            _card(who),
            _follow_sheet(
                geo, who, access.store.list_kiosks() if who.role in LEADS else [], settings
            ),
        ],
        id=ids.TABLET_ROOT,
        className="tablet",
        **data(
            scope=scope,
            home=who.scope,
            role=who.role,
            user=who.name,
            tab="risks",
            view="tablet",
            stale_after=str(settings.stale_after_s),
        ),
    )


def inline_map() -> str:
    """The page's area map (what ``/geo/<code>.json`` returns) as a JSON script element for
    the index page: it arrives with the page instead of a round trip after the scripts."""
    access: Access = flask.current_app.config["ONEMAP_ACCESS"]
    area = access.page_scope(flask.request.args.get("area"))
    if area is None:
        return ""
    geo = load_geography()
    scope = focus_of(geo, area)[0]
    data = json.dumps(coarse(area_map(geo, scope)), ensure_ascii=False)
    safe = data.replace("</", "<\\/")  # nothing in it may close the element
    # data-code: the page's area, for the hello the page sends before its layout has come
    return f'<script type="application/json" id="tablet-geo" data-code="{scope}">{safe}</script>'


SHOWN_STEPS = 1000  # the map's first view: its coordinates to 1/1000 of its width or finer


def coarse(area: dict[str, Any]) -> dict[str, Any]:
    """``area`` (an ``area_map``) with its shapes' coordinates rounded to what the tablet's
    first view can show (~1/3 of a pixel; ~100 m for the city, ~10 m for a county) and the
    points that then repeat dropped: the city's map is 22 KB gzipped instead of 39. Shared
    borders stay shared (the same point rounds the same way in both areas); a drill fetches
    the full shapes from ``/geo``."""
    (south, west), (north, east) = area["bounds"]
    width = max(north - south, east - west, 1e-6)
    digits = max(0, math.ceil(math.log10(SHOWN_STEPS / width)))
    features = []
    for feature in area["shapes"]["features"]:
        shape = feature["geometry"]
        shape = {**shape, "coordinates": _rounded(shape["coordinates"], digits)}
        features.append({**feature, "geometry": shape})
    return {**area, "shapes": {**area["shapes"], "features": features}}


def _rounded(nested: list[Any], digits: int) -> list[Any]:
    if nested and isinstance(nested[0], int | float):
        return [round(nested[0], digits), round(nested[1], digits)]
    parts = [_rounded(part, digits) for part in nested]
    if parts and parts[0] and isinstance(parts[0][0], int | float):  # a ring: drop repeats
        ring = parts[:1]
        ring.extend(p for p, before in zip(parts[1:], parts, strict=False) if p != before)
        return ring
    return parts


def _button(text: str | list[Any], cls: str, **attrs: Any) -> html.Button:
    return html.Button(text, className=f"t-btn {cls}", type="button", **attrs)


def _header(geo: Geography, scope: str, who: Principal) -> html.Header:
    area = geo.area(scope)
    assert area is not None  # focus_of answers a known area (the city if asked for none)
    tools = [_button("全屏", "tablet-fullscreen", id=ids.TABLET_FULLSCREEN)]
    if who.role in LEADS:
        tools.insert(
            0,
            _button("大屏跟随", "tablet-follow", id=ids.TABLET_FOLLOW, **{"aria-pressed": "false"}),
        )
    return html.Header(
        [
            html.Div(
                [
                    html.Span("宁波 · 一图统览", className="tablet-brand"),
                    html.H1(area.name, id=ids.TABLET_SCOPE),
                ],
                className="tablet-title",
            ),
            html.Div(
                [
                    html.Span(className="tablet-dot"),
                    html.Span("连接中", className="tablet-age-text"),
                ],
                id=ids.TABLET_AGE,
                className="tablet-age",
                **data(state="connecting"),
            ),
            history_note("tablet"),
            html.Div(tools, className="tablet-tools"),
        ],
        className="tablet-header",
    )


def _kpis() -> html.Section:
    return html.Section(
        [
            html.Div(
                [
                    html.Div([html.Span(label), *_caption(key)], className="tkpi-label"),
                    html.Div(
                        [
                            html.Span("—", className="tkpi-value"),
                            html.Span(unit, className="tkpi-unit"),
                        ],
                        className="tkpi-figure",
                    ),
                ],
                className=f"tkpi tkpi-{key}",
                **data(kpi=key),
            )
            for key, label, unit in KPI_TILES
        ],
        className="tablet-kpis",
    )


def _caption(key: str) -> list[html.Span]:
    """A rate's population, as on the wall (filled in by onemap-60-tablet.js)."""
    if key not in CAPTIONS:
        return []
    text, base = CAPTIONS[key]
    return [html.Span(text, className="tkpi-caption", **data(text=text, base=base))]


def _map(geo: Geography, settings: Settings) -> html.Section:
    return html.Section(
        [
            dl.Map(
                tile_layers(settings),  # docs/maps.md
                id=ids.TABLET_MAP,
                center=[geo.city.lat, geo.city.lon],
                zoom=8,
                zoomControl=False,
                attributionControl=False,
                zoomSnap=0.25,
                doubleClickZoom=False,  # a second tap is a second drill, not a zoom
                touchZoom=True,
                dragging=True,
                scrollWheelZoom=True,
                className="tablet-leaflet",
            ),
            html.Nav(
                [
                    _button("‹ 返回上级", "tablet-up", id=ids.TABLET_UP, disabled=True),
                    html.Div(id=ids.TABLET_CRUMBS, className="tablet-crumbs"),
                ],
                className="tablet-mapbar",
            ),
            html.Div(
                [
                    html.Span([html.I(className="swatch index-green"), "良好"]),
                    html.Span([html.I(className="swatch index-yellow"), "关注"]),
                    html.Span([html.I(className="swatch index-red"), "预警"]),
                    html.Span("点击区域下钻 · 双指缩放", className="tablet-hint"),
                ],
                className="tablet-legend",
            ),
        ],
        className="tablet-map",
    )


def _tabs() -> html.Nav:
    return html.Nav(
        [
            _button(name, f"tablet-tab tab-{key}", **{"data-tab": key, "role": "tab"})
            for key, name in TABS
        ],
        className="tablet-tabs",
        role="tablist",
    )


def _panel(key: str, title: str, body: list[Any]) -> html.Section:
    return html.Section(
        [html.H2(title, className="tpanel-title"), *body],
        className=f"tpanel tpanel-{key}",
        **data(panel=key),
    )


def _risks() -> html.Section:
    return _panel(
        "risks",
        "当前风险",
        [
            html.Div(
                html.P("加载中…", className="tablet-empty"),
                id=ids.TABLET_RISKS,
                className="risk-list",
            )
        ],
    )


def _trends() -> html.Section:
    keys = (("lg-bar", "上报"), ("lg-line", "办结"), ("lg-then", "昨日此时"))
    legend = html.Span(
        [part for key, text in keys for part in (html.I(className=key), text)],
        className="trend-legend",
    )
    return _panel(
        "trends",
        "上报与办结趋势",
        [
            html.Div(
                [
                    _button("近7天", "trend-range", **{"data-days": "7", "aria-pressed": "true"}),
                    _button(
                        "近30天", "trend-range", **{"data-days": "30", "aria-pressed": "false"}
                    ),
                    legend,
                ],
                className="trend-ranges",
            ),
            html.Div(id=ids.TABLET_TREND, className="trend-chart"),
            html.Div("点击图表查看当日数字", id=ids.TABLET_TREND_NOTE, className="trend-note"),
        ],
    )


def _ranking() -> html.Section:
    return _panel(
        "ranking", "治理指数排名", [html.Ol(id=ids.TABLET_RANKING, className="rank-list")]
    )


def _feed() -> html.Section:
    return _panel("feed", "最新事件", [html.Ol(id=ids.TABLET_FEED, className="feed-list")])


def _card(who: Principal) -> html.Div:
    acts: list[Any] = [
        _button("督办", "card-act", **data(verb="supervise")),
        _button("投到大屏", "card-act", **data(verb="cast")),
    ]
    if who.role in LEADS:
        acts = [
            html.Textarea(
                id=ids.TABLET_INSTRUCT,
                className="card-text",
                maxLength=500,
                placeholder="批示（500字以内）",
                rows=2,
            ),
            _button("发送批示", "card-act card-primary", **data(verb="instruct")),
            *acts,
        ]
    return html.Div(
        html.Div(
            [
                html.Div(
                    [
                        html.H3("", className="card-title"),
                        _button("关闭", "card-close", **{"aria-label": "关闭"}),
                    ],
                    className="card-head",
                ),
                html.Div(className="card-body"),
                html.Div(acts, className="card-acts"),
                html.Div("", className="card-msg", role="status"),
            ],
            className="card-sheet",
            role="dialog",
        ),
        id=ids.TABLET_CARD,
        className="tablet-card",
        hidden=True,
    )


def _follow_sheet(
    geo: Geography, who: Principal, kiosks: list[Kiosk], settings: Settings
) -> html.Div:
    """The walls a leader may lead (dashboard.views.walls: registered, unexpired, inside the
    leader's jurisdiction), one button each with its display name; a tap asks to confirm
    (onemap-60-tablet.js) before the wall is taken over."""
    if who.role not in LEADS:
        return html.Div(id=ids.TABLET_FOLLOW_SHEET, hidden=True)
    options: list[Any] = [
        _button(
            [html.Span(kiosk.name), html.Small(geo.label(kiosk.scope))],
            "follow-target",
            **data(target=kiosk.id, name=kiosk.name),
        )
        for kiosk in drivable(who, kiosks, geo)
    ] or [html.P("辖区内暂无可跟随的大屏。", className="follow-none")]
    help_text = (
        f"所选大屏将显示本机正在查看的区域，直到结束跟随；平板断开超过 {settings.follow_grace_s} "
        f"秒或跟随满 {max(1, round(settings.follow_max_s / 60))} 分钟时自动结束。"
    )
    return html.Div(
        html.Div(
            [
                html.Div(
                    [
                        html.H3("让大屏跟随本机", className="card-title"),
                        _button("关闭", "card-close", **{"aria-label": "关闭"}),
                    ],
                    className="card-head",
                ),
                html.P(help_text, className="follow-help"),
                html.Div(options, className="follow-options"),
                html.Div(className="follow-confirm", hidden=True, role="alertdialog"),
            ],
            className="card-sheet",
            role="dialog",
        ),
        id=ids.TABLET_FOLLOW_SHEET,
        className="tablet-card",
        hidden=True,
    )


register_page(__name__, path="/tablet", title="OneMap 领导平板", name="tablet", layout=layout)
