"""The app factory: Flask server, Dash pages and Socket.IO push, built from Settings."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dash
import redis
from flask import Flask, jsonify, redirect
from flask.typing import ResponseReturnValue
from flask_socketio import SocketIO
from werkzeug.middleware.proxy_fix import ProxyFix

from dashboard.access.auth import Access, SocketGuard
from dashboard.access.producers import ProducerStore
from dashboard.access.store import UserStore
from dashboard.briefing.install import install as install_briefing
from dashboard.cold import arrow_on_system_allocator
from dashboard.cold.tracks import TrackReader
from dashboard.config import Settings
from dashboard.live.hub import LiveHub
from dashboard.notify import ack as notify_ack
from dashboard.notify.ack import link_key
from dashboard.notify.store import NotifyStore
from dashboard.state import State
from dashboard.views import geo_api, risks
from dashboard.views.act import Actions
from dashboard.views.basemap import image_origins
from dashboard.views.contact import Contacts
from dashboard.views.desk import DutyDesk
from dashboard.views.detail import Details
from dashboard.views.handover import Handover
from dashboard.views.ingest_api import IngestApi, limits_of, memory_s
from dashboard.views.lifecycle import Lifecycle
from dashboard.views.open311 import Open311
from dashboard.views.patrol_track import PatrolTracks
from dashboard.views.places import Places
from dashboard.views.trends import Trends
from dashboard.web import webapp
from dashboard.web.security import DashScriptHashes, SecurityHeaders
from feeds.bus import Bus
from feeds.directory import Directory
from feeds.geo import Geography, load_geography
from feeds.outage import connect, until_ok

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

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

    draining: threading.Event = field(default_factory=threading.Event)

    def drain(self) -> None:
        """A stop (SIGTERM, Ctrl-C; ``onemap.server``): not ready from now on, every screen
        sent to reconnect (through a load balancer, to another replica), then the state
        written (a checkpoint) so the next start folds almost nothing."""
        self.draining.set()
        sockets = list(self.socketio.server.eio.sockets.values())
        log.info("stopping: %d screen(s) sent to reconnect, then the state written", len(sockets))
        for socket in sockets:
            # aborted, as a lost connection: clients (browser and python) reconnect at once;
            # an orderly close packet would make a python client stay away
            socket.close(wait=False, abort=True)
        self.hub.stop()


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
    contacts = Contacts(access, live, Directory(client, settings.prefix))
    contacts.install(api)
    PatrolTracks(access, live, TrackReader(settings.archive_dir)).install(api)
    places = Places.load(settings.layers_dir, settings.layers_near_m, settings.layers_on)
    places.install(server)  # the city's own map layers (docs/maps.md)
    Details(access, live, hub.cold, contacts, places).install(server, api)
    Actions(access, bus, live, hub.follows).install(api)
    Lifecycle(access, bus, live, hub.cold, limits_of(settings), memory_s(settings)).install(api)
    DutyDesk(access, live, hub.cold, settings.hot_days).install(server, api)
    Handover(access, bus, live).install(api)
    risks.install(api, live)
    Trends(live, hub.archive).install(api)
    webapp.install(server)
    notify_ack.install(server, access, NotifyStore(bus), link_key(secret))
    IngestApi(ProducerStore(client, settings.prefix), bus, geo, access, settings).install(server)
    Open311(ProducerStore(client, settings.prefix), bus, access, live, hub.cold, settings).install(
        server
    )
    # /healthz must answer at once while Redis stalls: its own client, with a short deadline.
    probe = Bus(connect(settings.redis_url, "onemap-health", socket_timeout=1.0), settings.prefix)
    onemap = OneMap(settings, server, dash_app, socketio, bus, state, hub, geo, access)
    _routes(server, probe, onemap)
    install_briefing(onemap)  # 日报: /reports, its downloads, the morning run
    # The headers outermost, so Socket.IO's own responses and error pages carry them too.
    policy = DashScriptHashes(dash_app, image_origins(settings)).policy
    wrapped = SecurityHeaders(
        webapp.GzipStatic(server.wsgi_app), policy, hsts=settings.cookie_secure
    )
    outermost: WSGIApplication = wrapped
    if settings.trusted_proxies:  # behind a balancer: the login throttle and the audit see clients
        n = settings.trusted_proxies
        outermost = ProxyFix(wrapped, x_for=n, x_proto=n)
    server.wsgi_app = outermost  # type: ignore[method-assign,assignment]  # Flask's documented middleware hook
    return onemap


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


def _routes(server: Flask, bus: Bus, onemap: OneMap) -> None:
    hub, access = onemap.hub, onemap.access

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

    @server.get("/livez")
    def livez() -> ResponseReturnValue:
        """The process answers (a load balancer's and systemd's liveness check)."""
        return jsonify(live=True)

    @server.get("/readyz")
    def readyz() -> ResponseReturnValue:
        """Whether to send screens here: the state is folded and the server is not stopping
        (a load balancer's health check; 503 while rebuilding or draining)."""
        ready = hub.live.ready.is_set() and not onemap.draining.is_set()
        return jsonify(ready=ready, draining=onemap.draining.is_set()), 200 if ready else 503

    @server.get("/healthz")
    def healthz() -> ResponseReturnValue:
        try:
            stats: dict[str, int] | None = bus.stats()
        except redis.RedisError:
            stats = None  # Redis is away: the bridge's state says so too
        state = hub.live.state
        return jsonify(
            ready=hub.live.ready.is_set(),
            draining=onemap.draining.is_set(),
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
