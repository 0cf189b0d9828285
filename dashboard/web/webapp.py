"""The installable tablet and a light first load: web app manifest, icons, gzip.

* ``/manifest.webmanifest``, ``/icons/<name>.png`` (committed PNGs, 192 and 512 px) and
  ``/favicon.ico`` (the 32 px one) are public: browsers fetch a manifest and its icons
  without the session cookie, and they hold nothing but the app's name and colours. The
  manifest starts at ``/tablet`` in full screen.
* ``GzipStatic`` compresses the static files (Dash's bundles, ``/assets/``), the map data
  (``/geo/``), Dash's own JSON and the tablet's page for clients that accept gzip: on a mobile
  link the JavaScript, sent as is, would take most of the first load. Compressed bundles are
  kept in memory by path and ETag.
* ``trim_indexes``: Dash puts every component library and every asset on every page. The
  tablet's page lists only what the tablet runs (Dash's core, Leaflet, the live client and its
  own script and style): no data grid, table, wall or duty code, and no favicon request. On a
  link with 562 ms of latency each request saved is worth more than its bytes. The wall's
  page goes without the duty desk's data grid and the duty and tablet code.
* ``serve_tablet_layout``: with pages, Dash's first ``/_dash-layout`` is an empty page container,
  and the page itself comes one round trip later from the pages callback. Asked for by the
  tablet's page, it answers with the tablet's layout at once, without the container's
  ``dcc.Location``: no pages callback, and no ``dcc`` bundle (115 KiB) on the tablet's page.
"""

from __future__ import annotations

import base64
import gzip
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import dash
from dash import html
from flask import Flask, Response, jsonify, request, send_from_directory

if TYPE_CHECKING:  # typeshed's WSGI protocols exist for the type checker only
    from _typeshed import OptExcInfo
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

ICONS = Path(__file__).resolve().parents[2] / "assets" / "icons"
ICON_SIZES = (192, 512)
PUBLIC = (
    "/manifest.webmanifest",
    "/favicon.ico",
    *(f"/icons/tablet-{n}.png" for n in ICON_SIZES),
)
THEME = "#06152b"
MANIFEST_LINK = '<link rel="manifest" href="/manifest.webmanifest">'
META_TAGS = [
    {"name": "theme-color", "content": THEME},
    {"name": "mobile-web-app-capable", "content": "yes"},
    {"name": "apple-mobile-web-app-capable", "content": "yes"},
    {"name": "apple-mobile-web-app-status-bar-style", "content": "black-translucent"},
]


def manifest() -> dict[str, Any]:
    return {
        "name": "OneMap 一图统览 · 领导平板",
        "short_name": "一图统览",
        "lang": "zh-CN",
        "start_url": "/tablet",
        "scope": "/",
        "display": "fullscreen",
        "display_override": ["fullscreen", "standalone"],
        "orientation": "any",
        "background_color": THEME,
        "theme_color": THEME,
        "icons": [
            {
                "src": f"/icons/tablet-{n}.png",
                "sizes": f"{n}x{n}",
                "type": "image/png",
                "purpose": "any maskable",
            }
            for n in ICON_SIZES
        ],
    }


def install(server: Flask) -> None:
    @server.get("/manifest.webmanifest")
    def web_manifest() -> Response:
        response = jsonify(manifest())
        response.mimetype = "application/manifest+json"
        return response

    @server.get("/icons/<name>.png")
    def icon(name: str) -> Response:
        return send_from_directory(ICONS, f"{name}.png", max_age=86_400)

    @server.get("/favicon.ico")
    def favicon() -> Response:
        # Browsers ask for it on every page without an icon link (the login page among
        # them): public, as a login page's 401 in the console is noise. A PNG serves here.
        return send_from_directory(ICONS, "tablet-32.png", mimetype="image/png", max_age=86_400)


TABLET_PATH = "/tablet"
TABLET_SCRIPTS = (
    "/_dash-component-suites/dash/deps/",
    "/_dash-component-suites/dash/dash-renderer/",
    "/_dash-component-suites/dash/html/",
    "/_dash-component-suites/dash_leaflet/",
    "/assets/vendor/socket.io",
    "/assets/onemap-10-core.js",
    "/assets/onemap-21-basemap.js",  # base map and the city's own layers (docs/maps.md)
    "/assets/onemap-22-layers.js",
    "/assets/onemap-58-briefing.js",
    "/assets/onemap-60-tablet.js",
    "/assets/onemap-93-replay-desk.js",  # 复盘's dialog
)
TABLET_CSS = ("/assets/tablet.css", "/assets/replay.css", "/assets/places.css")
WALL_PATH = "/wall"
# What the wall never runs: the duty desk's data grid (352 KiB) and the other views' own code.
WALL_DROPS = (
    "/_dash-component-suites/dash_ag_grid/",
    "/assets/onemap-55-duty.js",
    "/assets/onemap-56-loop.js",
    "/assets/onemap-57-handover.js",
    "/assets/onemap-58-briefing.js",
    "/assets/onemap-60-tablet.js",
    "/assets/duty.css",
    "/assets/handover.css",
    "/assets/tablet.css",
)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.S)
_LINK = re.compile(r"<link\b[^>]*>")
_SRC = re.compile(r'(?:src|href)="([^"]*)"')


def _keep(html: str, pattern: re.Pattern[str], allowed: tuple[str, ...], drop: bool = False) -> str:
    """The tags of ``html`` without a URL (inline) or with one under ``allowed`` (with
    ``drop``: with one not under ``allowed``)."""
    kept = []
    for tag in pattern.findall(html):
        url = _SRC.search(tag.split(">", 1)[0])
        if url is None or url.group(1).startswith(allowed) != drop:
            kept.append(tag)
    return "\n".join(kept)


def trim_indexes(dash_app: Any, inline: Callable[[], str]) -> None:
    """Serve /wall without what only other pages run, and /tablet with only the scripts and
    styles the tablet runs (see the module doc),
    and with ``inline()``: data the page would otherwise fetch once its scripts have run (its
    area's map), as a JSON script element, so it loads with the page instead of a round trip
    later. (``<link rel=preload>`` cannot do it: the responses are ``no-store``, which the
    browser's preload cache does not keep.)"""
    interpolate = dash_app.interpolate_index
    icon = base64.b64encode((ICONS / "tablet-32.png").read_bytes()).decode()

    def interpolate_index(**parts: str) -> str:
        if request.path.rstrip("/") == TABLET_PATH:
            # The map's JSON after the script tags: the browser asks for the scripts first.
            scripts = _keep(parts.get("scripts", ""), _SCRIPT, TABLET_SCRIPTS)
            parts["scripts"] = scripts + inline()
            parts["css"] = _keep(parts.get("css", ""), _LINK, TABLET_CSS)
            # Our own requests (Dash's /_dash-layout) say which page asks: see
            # serve_tablet_layout. Other origins still get no referrer.
            parts["metas"] = parts.get("metas", "") + SAME_ORIGIN_REFERRER
            # the pages callback used to set it; it no longer runs on this page
            parts["title"] = str(_tablet_registry().get("title", parts.get("title", "")))
            parts["favicon"] = (
                f'<link rel="icon" type="image/png" href="data:image/png;base64,{icon}">'
            )
        elif request.path.rstrip("/") == WALL_PATH:
            parts["scripts"] = _keep(parts.get("scripts", ""), _SCRIPT, WALL_DROPS, drop=True)
            parts["css"] = _keep(parts.get("css", ""), _LINK, WALL_DROPS, drop=True)
        return str(interpolate(**parts))

    dash_app.interpolate_index = interpolate_index
    serve_tablet_layout(dash_app)


SAME_ORIGIN_REFERRER = '<meta name="referrer" content="same-origin">'


def serve_tablet_layout(dash_app: Any) -> None:
    """``/_dash-layout`` asked for by the tablet's page (its ``Referer``, which the page sends
    to its own origin only) is the tablet's layout itself, as the pages callback would have
    made it for that URL, in place of the page container: one round trip less, and no
    ``dcc`` needed. Any other request gets Dash's own layout."""
    get_layout = dash_app.get_layout

    def layout() -> Any:
        page = _tablet_page() if request.path.endswith("/_dash-layout") else None
        if page is None:
            return get_layout()
        query = dict(parse_qsl(urlsplit(request.referrer or "").query))
        return html.Div(html.Div(page(**query), id="_pages_content"), className="onemap-root")

    dash_app.get_layout = layout


def _tablet_page() -> Callable[..., Any] | None:
    """The tablet page's layout function if the tablet's page is the one asking."""
    url = urlsplit(request.referrer or "")
    if url.netloc != request.host or url.path.rstrip("/") != TABLET_PATH:
        return None
    return _tablet_registry().get("layout")


def _tablet_registry() -> dict[str, Any]:
    """The tablet's entry in Dash's page registry (its layout function and title)."""
    for page in dash.page_registry.values():
        if page["path"] == TABLET_PATH:
            return dict(page)
    return {}


def with_manifest_link(index_string: str) -> str:
    """Dash's index page with the manifest linked (every page: the wall ignores it)."""
    return index_string.replace("{%favicon%}", "{%favicon%}\n        " + MANIFEST_LINK, 1)


COMPRESSIBLE = ("javascript", "json", "css", "text/", "svg")


class GzipStatic:
    """WSGI middleware: gzip the static and map responses for clients that accept it."""

    def __init__(
        self,
        app: WSGIApplication,
        prefixes: tuple[str, ...] = (
            "/_dash-component-suites/",
            "/assets/",
            "/geo/",
            "/_dash-layout",
            "/_dash-dependencies",
            "/_dash-update-component",
            TABLET_PATH,
        ),
        min_size: int = 1024,
    ) -> None:
        self.app = app
        self.prefixes = prefixes
        self.min_size = min_size
        self.cache: dict[tuple[str, str], bytes] = {}
        self.lock = threading.Lock()

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (
            environ.get("REQUEST_METHOD") not in ("GET", "POST")
            or not path.startswith(self.prefixes)
            or "gzip" not in environ.get("HTTP_ACCEPT_ENCODING", "")
        ):
            return self.app(environ, start_response)
        seen: list[tuple[str, list[tuple[str, str]], OptExcInfo | None]] = []

        def capture(
            status: str, headers: list[tuple[str, str]], exc_info: OptExcInfo | None = None
        ) -> Callable[[bytes], object]:
            seen.append((status, headers, exc_info))  # the last call is the one that counts
            return lambda data: None  # nobody writes through this in Flask

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        status, headers, exc_info = seen[-1]
        names = {k.lower(): v for k, v in headers}
        if (
            not status.startswith("200")
            or "content-encoding" in names
            or len(body) < self.min_size
            or not any(kind in names.get("content-type", "") for kind in COMPRESSIBLE)
        ):
            start_response(status, headers, exc_info)
            return [body]
        packed = self._compress(path, names.get("etag", ""), body)
        headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "vary")]
        vary = ", ".join(filter(None, [names.get("vary", ""), "Accept-Encoding"]))
        headers += [
            ("Content-Encoding", "gzip"),
            ("Content-Length", str(len(packed))),
            ("Vary", vary),
        ]
        start_response(status, headers, exc_info)
        return [packed]

    def _compress(self, path: str, etag: str, body: bytes) -> bytes:
        if not etag:  # generated per request (pages, data): compress it each time
            return gzip.compress(body, compresslevel=6, mtime=0)
        key = (path, etag)
        with self.lock:
            packed = self.cache.get(key)
        if packed is None:
            packed = gzip.compress(body, compresslevel=9, mtime=0)
            with self.lock:
                self.cache[key] = packed
        return packed
