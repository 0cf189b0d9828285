"""The app factory: Flask server, Dash pages and Socket.IO push, built from Settings."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass
from pathlib import Path

import dash
import redis
from flask import Flask, jsonify, redirect
from flask.typing import ResponseReturnValue
from flask_socketio import SocketIO
from werkzeug.serving import BaseWSGIServer

from dashboard.access.auth import Access, SocketGuard
from dashboard.access.store import UserStore
from dashboard.cold import arrow_on_system_allocator
from dashboard.config import Settings
from dashboard.live.hub import LiveHub
from dashboard.state import State
from dashboard.views import geo_api, risks
from dashboard.views.act import Actions
from dashboard.views.desk import DutyDesk
from dashboard.views.detail import Details
from dashboard.views.trends import Trends, archive_at
from dashboard.web import webapp
from dashboard.web.security import DashScriptHashes, SecurityHeaders
from feeds.bus import Bus
from feeds.geo import Geography, load_geography
from feeds.outage import connect, until_ok

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class OneMap:
    """Everything a running dashboard holds; tests and the CLI reach the parts from here."""

    settings: Settings
    server: Flask
    dash_app: dash.Dash
    socketio: SocketIO
    bus: Bus
    state: State
    hub: LiveHub
    geo: Geography
    access: Access

    def run(self) -> None:
        # Werkzeug queues 128 connections; a storm of walls reconnecting at once (a server
        # restart) overflowed it and came back in waves (bench.connect). Until the production
        # server replaces it, a deeper queue: the kernel caps it at somaxconn.
        BaseWSGIServer.request_queue_size = 4096
        signal.signal(signal.SIGTERM, self._terminated)
        self.hub.start()
        self.socketio.run(
            self.server,
            host=self.settings.host,
            port=self.settings.port,
            allow_unsafe_werkzeug=True,
            use_reloader=False,
            log_output=False,
        )


    def _terminated(self, signum: int, frame: object) -> None:
        """SIGTERM (a deploy, systemd, a test's teardown): write a checkpoint, then exit."""
        log.info("SIGTERM: writing a checkpoint, then stopping")
        try:
            self.hub.stop()
        finally:
            raise SystemExit(0)


def create_app(settings: Settings) -> OneMap:
    if not settings.redis_url:
        raise ValueError("ONEMAP_REDIS_URL is empty: start Redis first (`onemap demo` does)")
    arrow_on_system_allocator()
    geo = load_geography()
    server = Flask(__name__)
    server.config["ONEMAP_SETTINGS"] = settings
    client = connect(settings.redis_url, "onemap-dashboard")
    store = UserStore(client, settings.prefix)
    secret = settings.secret_key or until_ok(log, "session key", store.shared_secret)
    server.config["SECRET_KEY"] = secret
    access = Access(store, settings, geo.city.code)
    server.config["ONEMAP_ACCESS"] = access  # pages ask it for the signed-in user's scope
    bus = Bus(
        client,
        prefix=settings.prefix,
        events_maxlen=settings.events_maxlen,
        positions_maxlen=settings.positions_maxlen,
        deadletter_maxlen=settings.deadletter_maxlen,
    )
    state = State(geo, recent_size=max(500, settings.ticker_size))
    socketio = SocketIO(
        server,
        async_mode="threading",
        message_queue=settings.message_queue or None,
        max_http_buffer_size=1_000_000,
        cors_allowed_origins=sorted(access.origins) or None,  # None: same origin only
    )
    dash_app = _dash_app(server)
    access.install(server)
    guard = SocketGuard(access, socketio)
    hub = LiveHub(socketio, bus, state, settings, guard, access.audit_refused)
    hub.install()
    live, api = hub.live, hub.api
    Details(access, live, hub.cold).install(server, api)
    Actions(access, bus, live).install(api)
    DutyDesk(access, live, hub.cold, settings.hot_days).install(server, api)
    risks.install(api, live)
    Trends(live, archive_at(settings.data_dir)).install(api)
    webapp.install(server)
    # /healthz must answer at once while Redis stalls: its own client, with a short deadline.
    probe = Bus(connect(settings.redis_url, "onemap-health", socket_timeout=1.0), settings.prefix)
    _routes(server, probe, hub, access)
    # The headers outermost, so Socket.IO's own responses and error pages carry them too.
    policy = DashScriptHashes(dash_app, settings.tile_url).policy
    wrapped = SecurityHeaders(
        webapp.GzipStatic(server.wsgi_app), policy, hsts=settings.cookie_secure
    )
    server.wsgi_app = wrapped  # type: ignore[method-assign]  # Flask's documented middleware hook
    return OneMap(settings, server, dash_app, socketio, bus, state, hub, geo, access)


def _dash_app(server: Flask) -> dash.Dash:
    app = dash.Dash(
        __name__,
        server=server,  # type: ignore[arg-type]  # documented; Dash annotates bool | Callable
        use_pages=True,
        pages_folder="",
        assets_folder=str(ROOT / "assets"),
        title="OneMap 一图统览",
        update_title="",  # no "Updating..." in the title of a wall (Dash: None or "")
        suppress_callback_exceptions=True,
        meta_tags=webapp.META_TAGS,
    )
    app.index_string = webapp.with_manifest_link(app.index_string)
    from layouts import duty, tablet, wall  # noqa: F401  (registers the pages and their callbacks)
    webapp.trim_indexes(app, tablet.inline_map)

    app.layout = dash.html.Div(dash.page_container, className="onemap-root")
    return app


def _routes(server: Flask, bus: Bus, hub: LiveHub, access: Access) -> None:
    @server.get("/")
    def index() -> ResponseReturnValue:
        return redirect("/wall")

    @server.get("/geo/<code>.json")
    def area_map(code: str) -> ResponseReturnValue:
        if not access.allows(code):
            return jsonify(error="unknown area"), 404
        try:
            return jsonify(geo_api.area_map(hub.live.geo, code))
        except KeyError:
            return jsonify(error="unknown area"), 404

    @server.get("/healthz")
    def healthz() -> ResponseReturnValue:
        try:
            stats: dict[str, int] | None = bus.stats()
        except redis.RedisError:
            stats = None  # Redis is away: the bridge's state says so too
        state = hub.live.state
        return jsonify(
            ready=hub.live.ready.is_set(),
            bridge=hub.health.report(),
            screens=hub.rooms.screens(),
            dropped_screens=hub.backlog.dropped,
            deepest_queue=hub.backlog.deepest(),
            incidents=len(state.incidents),
            history={
                **hub.keeper.health.report(hub.archive.watermark()),
                "recall_failures": hub.cold.failures,
                "recalled": len(state.recalled),
            },
            workers=len(state.positions),
            last=dict(hub.bridge.position or state.last_sid),
            stats=stats,
        )
