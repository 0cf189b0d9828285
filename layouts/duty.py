"""/duty: the duty officer's desk. Find any incident, read its whole story, act on it.

A static frame like the wall: filters, a KPI strip, the incident table (AG Grid, infinite row
model: the server filters, sorts and hands out blocks), a map beside it and a detail drawer.
``assets/onemap-55-duty.js`` drives it all over the page's one socket. The filter lives in the
URL (``/duty?area=330212&cat=zf02&q=井盖``) so a view can be shared; the layout only reads it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dash
import dash_ag_grid as dag
import dash_leaflet as dl
import flask
from dash import ClientsideFunction, Input, Output, dcc, html

from dashboard.access.auth import DETAIL_ROLES
from dashboard.config import Settings
from dashboard.views.search import FLAGS, RATES, SETS, Filter
from feeds.catalogue import CATEGORIES, LEVELS, PLATFORMS, SOURCES
from feeds.geo import Geography, contains, load_geography
from feeds.schema import CHINA_TZ
from layouts import ids
from layouts.basemap import tile_layers
from layouts.history import history_note
from layouts.typed import data, register_page

WEEKDAYS = "一二三四五六日"
KPI_TILES = [
    ("reported", "今日上报", ""),
    ("open", "在办", ""),
    ("overdue", "超期", ""),
    ("due_soon", "临期", ""),
    ("closed", "今日办结", ""),
    ("disposal_rate", "办结率", "%"),
    ("on_time_rate", "按期办结率", "%"),
    ("self_closure_rate", "网格自办结率", "%"),
]
PERIOD_OPTIONS = [
    {"label": "今日上报", "value": "today"},
    {"label": "近24小时", "value": "24h"},
    {"label": "近7天", "value": "7d"},
]
FILTER_IDS = [
    ids.DUTY_AREA,
    ids.DUTY_CATEGORY,
    ids.DUTY_PLATFORM,
    ids.DUTY_LEVEL,
    ids.DUTY_STATUS,
    ids.DUTY_SOURCE,
    ids.DUTY_FLAG,
    ids.DUTY_PERIOD,
    ids.DUTY_SET,
]


def layout(**query: str) -> html.Div:
    access = flask.current_app.config["ONEMAP_ACCESS"]
    settings: Settings = flask.current_app.config["ONEMAP_SETTINGS"]
    who = access.current()
    if who is None or who.role not in DETAIL_ROLES:
        return html.Div("值班台仅限值班员和领导使用", className="access-refused")
    geo = load_geography()
    f = Filter.parse(query)
    if f.area and not contains(who.scope, f.area):
        return html.Div("无权查看该区域", className="access-refused", **data(refused="scope"))
    home = geo.area(who.scope)
    scope_name = home.name if home is not None else who.scope
    return html.Div(
        [
            _header(scope_name, who.display or who.name),
            _filters(geo, who.scope, f),
            html.Div(id=ids.DUTY_EXPLAIN, className="duty-explain", hidden=True),
            html.Main(
                [_table(), _map(geo, settings), _detail()],
                className="duty-body",
            ),
            dcc.Store(id=ids.DUTY_SINK),
            dcc.Store(id=ids.DUTY_ROWS_SINK),
        ],
        id=ids.DUTY_ROOT,
        className="duty",
        **data(
            scope=who.scope,
            role=who.role,
            user=who.name,
            view="duty",
            filter=json.dumps(f.query(), ensure_ascii=False),
            sort=query.get("sort", ""),
            open=query.get("open", "")[:64],
            rates=json.dumps(RATES),
            sets=json.dumps({k: v[0] for k, v in SETS.items()}, ensure_ascii=False),
        ),
    )


def _header(scope_name: str, user: str) -> html.Header:
    tiles = [
        html.Button(
            [
                html.Span(label, className="dkpi-label"),
                html.Span([html.B("—", className="dkpi-value"), unit], className="dkpi-figure"),
            ],
            className="dkpi",
            type="button",
            title=f"点击查看{label}对应的事件",
            **data(kpi=key),
        )
        for key, label, unit in KPI_TILES
    ]
    return html.Header(
        [
            html.Div(
                [html.Span("宁波市基层治理", className="duty-brand"), html.Span("值班台")],
                className="duty-title",
            ),
            html.Div(scope_name, className="duty-scope"),
            html.Div(tiles, className="duty-kpis"),
            history_note("duty"),
            html.Div(
                [html.Span(className="health-dot"), html.Span("连接中", className="duty-age")],
                className="duty-health",
                **data(state="down"),
            ),
            _clock(datetime.now(UTC)),
            # Other parts of the desk add their buttons here (日报, 交接班: their own scripts).
            html.Div(className="duty-header-tools"),
            html.Div(
                [
                    html.Span(user, className="duty-user-name"),
                    html.Button("退出", className="duty-signout", type="button", title="退出登录"),
                ],
                className="duty-user",
            ),
        ],
        className="duty-head",
    )


def _clock(now: datetime) -> html.Div:
    """The desk clock in China time; the page script keeps it ticking."""
    local = now.astimezone(CHINA_TZ)
    day = f"{local.year}年{local.month}月{local.day}日 星期{WEEKDAYS[local.weekday()]}"
    return html.Div(
        [
            html.Span(day, className="clock-date"),
            html.Span(local.strftime("%H:%M:%S"), className="clock-time"),
        ],
        className="duty-clock",
    )


def _options(items: dict[str, str]) -> list[dict[str, str]]:
    return [{"label": name, "value": code} for code, name in items.items()]


def _area_options(geo: Geography, scope: str) -> list[dict[str, str]]:
    areas = [a for a in (*geo.counties.values(), *geo.towns.values(), *geo.villages.values())]
    return [
        {"label": geo.label(a.code), "value": a.code}
        for a in sorted(areas, key=lambda a: a.code)
        if contains(scope, a.code) and a.code != scope
    ]


def _dropdown(
    id_: str,
    placeholder: str,
    options: list[dict[str, str]],
    value: str | list[str] | None,
    multi: bool,
) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=id_,
        options=options,
        value=value,
        multi=multi,
        placeholder=placeholder,
        clearable=True,
        searchable=True,
        className="duty-dropdown",
        optionHeight=32,
        maxHeight=360,
    )


def _filters(geo: Geography, scope: str, f: Filter) -> html.Div:
    area_options = _area_options(geo, scope)
    if f.area and f.area not in {o["value"] for o in area_options} and geo.area(f.area):
        area_options.insert(0, {"label": geo.label(f.area), "value": f.area})  # a grid
    categories = {c.code: f"{c.name}（{PLATFORMS[c.platform]}）" for c in CATEGORIES.values()}
    return html.Div(
        [
            dcc.Input(
                id=ids.DUTY_SEARCH,
                type="search",
                value=f.q,
                debounce=False,  # the page script debounces; a debounced input drops keys
                placeholder="搜索标题·详情·拼音（/）",
                className="duty-search",
                autoComplete="off",
            ),
            _dropdown(ids.DUTY_AREA, "区域", area_options, f.area or None, False),
            _dropdown(ids.DUTY_CATEGORY, "类别", _options(categories), list(f.cat), True),
            _dropdown(ids.DUTY_PLATFORM, "平台", _options(PLATFORMS), list(f.platform), True),
            _dropdown(
                ids.DUTY_LEVEL,
                "层级",
                _options({str(k): v for k, v in LEVELS.items()}),
                [str(n) for n in f.level],
                True,
            ),
            _dropdown(
                ids.DUTY_STATUS,
                "状态",
                _options({"open": "办理中", "closed": "已办结"}),
                f.status or None,
                False,
            ),
            _dropdown(ids.DUTY_SOURCE, "来源", _options(SOURCES), list(f.source), True),
            _dropdown(ids.DUTY_FLAG, "标记", _options(FLAGS), f.flag or None, False),
            _dropdown(ids.DUTY_PERIOD, "时间", PERIOD_OPTIONS, f.period or None, False),
            _dropdown(
                ids.DUTY_SET,
                "指标",
                _options({k: v[0] for k, v in SETS.items()}),
                f.set or None,
                False,
            ),
            html.Button("重置", id=ids.DUTY_RESET, className="duty-button", type="button"),
            html.Span("—", id=ids.DUTY_COUNT, className="duty-count"),
            html.A("导出CSV", className="duty-button duty-export", **data(format="csv")),
            html.A("导出Excel", className="duty-button duty-export", **data(format="xlsx")),
        ],
        className="duty-filters",
    )


def _table() -> html.Section:
    return html.Section(
        [_table_bar(), _grid()],
        className="duty-table",
    )


def _table_bar() -> html.Div:
    """Above the table, always the same height (rows below it never shift): the updates that
    wait while the officer works in the table, and whether they come in by themselves."""
    return html.Div(
        [
            html.Button(
                "0 条更新 · 点击刷新", className="duty-updates", type="button", tabIndex=-1
            ),
            html.Span(className="duty-updates-note"),
            html.Div(
                [
                    html.Span("更新", className="duty-mode-label"),
                    html.Button(
                        "自动",
                        type="button",
                        title="鼠标离开表格且无焦点时自动刷新",
                        **data(mode="auto"),
                    ),
                    html.Button(
                        "暂停", type="button", title="只在点击更新条时刷新", **data(mode="pause")
                    ),
                ],
                className="duty-mode",
                role="group",
            ),
        ],
        className="duty-tablebar",
    )


def _grid() -> dag.AgGrid:
    return dag.AgGrid(
        id=ids.DUTY_GRID,
        rowModelType="infinite",
        getRowId="params.data.id",  # rows keep their identity across refreshes and updates
        columnDefs=[],  # set by the page script, with renderers that build DOM nodes
        # no unsorted state: the server always sorts, and the header should say by what
        defaultColDef={"resizable": True, "sortable": True, "sortingOrder": ["asc", "desc"]},
        dashGridOptions={
            "rowSelection": {
                "mode": "singleRow",
                "checkboxes": False,
                "enableClickSelection": True,
            },
            "cacheBlockSize": 100,
            "maxConcurrentDatasourceRequests": 1,
            "maxBlocksInCache": 20,
            "infiniteInitialRowCount": 1,
            "rowHeight": 34,
            "headerHeight": 36,
            "animateRows": False,
            "suppressCellFocus": False,
            "enableBrowserTooltips": True,  # a cut title or place in full, as a title
            "localeText": {"loadingOoo": "加载中…", "noRowsToShow": "没有符合条件的事件"},
        },
        className="duty-grid",
        style={"height": "100%", "width": "100%"},
    )


def _map(geo: Geography, settings: Settings) -> html.Section:
    tiles = tile_layers(settings)  # docs/maps.md
    return html.Section(
        [
            dl.Map(
                tiles,
                id=ids.DUTY_MAP,
                center=[geo.city.lat, geo.city.lon],
                zoom=9,
                zoomSnap=0.25,
                zoomControl=False,
                attributionControl=False,
                className="duty-map",
            ),
            html.Div(className="duty-crumbs"),
        ],
        className="duty-map-panel",
    )


def _detail() -> html.Aside:
    return html.Aside(id=ids.DUTY_DETAIL, className="duty-detail", hidden=True)


# The table's blocks are answered by the page script over the socket (duty_rows).
dash.clientside_callback(
    ClientsideFunction(namespace="onemap_duty", function_name="getRows"),
    Output(ids.DUTY_ROWS_SINK, "data"),
    Input(ids.DUTY_GRID, "getRowsRequest"),
    prevent_initial_call=True,
)

# Every filter control reports to the page script, which owns the query and the URL.
dash.clientside_callback(
    ClientsideFunction(namespace="onemap_duty", function_name="filterChanged"),
    Output(ids.DUTY_SINK, "data"),
    Input(ids.DUTY_SEARCH, "value"),
    *[Input(id_, "value") for id_ in FILTER_IDS],
    prevent_initial_call=True,
)

register_page(__name__, path="/duty", title="OneMap 值班台", name="duty", layout=layout)
