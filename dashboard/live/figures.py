"""The figures' own task: KPIs each second and panels every few seconds, when something arrived;
and the heartbeat every two seconds, which also drops screens too slow to keep up.

Building figures scans the state (the panels of eleven watched scopes took a second); in the
bridge's loop that held every step back meanwhile. Here the lock is taken per scope, so the
bridge applies and sends between two scopes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from flask_socketio import SocketIO

from dashboard.live.backlog import Backlog
from dashboard.live.health import BridgeHealth, Guarded
from dashboard.live.livestate import LiveState
from dashboard.live.outbound import Beat, Emit, Kpis
from dashboard.live.rooms import Rooms, area_room
from dashboard.live.throttle import Coalesce, Every
from dashboard.views import panels
from dashboard.views.kpis import headline, yesterday

log = logging.getLogger(__name__)

KPIS_EVERY_S = 1.0
PANELS_EVERY_S = 5.0  # charts and lists: fresh enough for a wall, cheap enough for many rooms
BEAT_EVERY_S = 2.0

Send = Callable[[list[Emit]], None]


class Figures:
    def __init__(
        self, socketio: SocketIO, live: LiveState, rooms: Rooms, send: Send, health: BridgeHealth
    ) -> None:
        self.socketio = socketio
        self.live = live
        self.rooms = rooms
        self.send = send
        self.health = health
        self.kpis_due = Coalesce(KPIS_EVERY_S)  # any entry moves a figure
        self.panels_due = Coalesce(PANELS_EVERY_S)  # only event steps move a chart
        self._guarded = Guarded(health, log, "live figures")

    def arrived(self, entries: bool, steps: bool) -> None:
        """The bridge applied something: the figures are due again."""
        if entries:
            self.kpis_due.mark()
        if steps:
            self.panels_due.mark()

    def run(self) -> None:
        while True:
            self.socketio.sleep(0.2)
            now = time.monotonic()
            if self.kpis_due.due(now):
                self._guarded("kpis", self._send_kpis)
            if self.panels_due.due(now):
                self._guarded("panels", self._send_panels)

    def kpis(self, scope: str, now: datetime) -> Kpis:
        """The headline figures of ``scope``; called under the state's lock."""
        state = self.live.state
        return {
            "kpis": headline(state, scope, now),
            "yesterday": yesterday(state, scope, now),  # the same time yesterday
            "history": state.history(),  # None, or where a trimmed log begins
            **self.beat(now),
        }

    def beat(self, now: datetime) -> Beat:  # no lock needed: reads two fields
        newest = self.live.newest_ts
        return {
            "now": now.isoformat(),
            "newest": newest.isoformat() if newest else None,
            "bridge": self.health.status(),
        }

    def _send_kpis(self) -> None:
        for scope in self.rooms.watched():
            now = datetime.now(UTC)
            with self.live.lock:
                data = self.kpis(scope, now)
            self.send([("kpis", data, area_room(scope))])

    def _send_panels(self) -> None:
        for scope in self.rooms.watched():
            now = datetime.now(UTC)
            with self.live.lock:
                data = panels.cached(self.live.state, scope, now)
            self.send([("panels", data, area_room(scope))])


class Heartbeat:
    """Every room hears a beat (the time, the newest data, the bridge's health) so a wall turns
    red when its server lost the feed; screens whose send queue overflows are dropped."""

    def __init__(
        self, socketio: SocketIO, figures: Figures, rooms: Rooms, send: Send, backlog: Backlog
    ) -> None:
        self.socketio = socketio
        self.figures = figures
        self.rooms = rooms
        self.send = send
        self.backlog = backlog

    def run(self) -> None:
        beat = Every(BEAT_EVERY_S)
        while True:
            self.socketio.sleep(1.0)
            try:
                self.backlog.sweep()
                if beat.due(time.monotonic()):
                    data = self.figures.beat(datetime.now(UTC))
                    self.send([("beat", data, area_room(s)) for s in self.rooms.watched()])
            except Exception:
                log.exception("heartbeat failed")
