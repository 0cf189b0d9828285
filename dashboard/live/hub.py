"""The live layer of one server process, assembled: who owns what, and the tasks it runs.

LiveState  the folded state, the actions book, the lock          dashboard.live.livestate
Rooms      which sockets watch which scope, walls' homes          dashboard.live.rooms
Bridge     the follow loop: log → state → rooms                   dashboard.live.bridge
Figures    KPIs and panels per watched scope; the heartbeat       dashboard.live.figures
Pages      connect, hello (snapshot or catch-up), disconnect      dashboard.live.pages
Follows    follows' leases; ends those whose tablet went or time is up dashboard.live.follows
Checkpoints the folded state on disk, for a quick restart        dashboard.live.checkpoint
Keeper     archive the log's days, trim it, let old incidents go  dashboard.cold.keeper
ColdStore  incidents that left memory: searched, recalled         dashboard.cold.store
SocketApi  every inbound event decoded and checked in one place  dashboard.live.inbound
Replays    a past moment, rebuilt and played forward (复盘)        dashboard.live.replay
TrackWriter worker fixes kept, thinned, for replay and tracks     dashboard.cold.tracks
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask_socketio import SocketIO

from dashboard.access.auth import SocketGuard
from dashboard.cold.keeper import ArchiveProcess, Keeper
from dashboard.cold.store import ColdStore
from dashboard.cold.tracks import TrackReader, TrackWriter
from dashboard.config import Settings
from dashboard.live.backlog import Backlog
from dashboard.live.bridge import Bridge, Sender
from dashboard.live.checkpoint import Checkpoints
from dashboard.live.figures import Figures, Heartbeat
from dashboard.live.follows import FollowKeeper
from dashboard.live.health import BridgeHealth
from dashboard.live.hello import Greeter
from dashboard.live.inbound import Audit, SocketApi
from dashboard.live.livestate import LiveState
from dashboard.live.pages import Pages
from dashboard.live.replay import Replays
from dashboard.live.rewind import Rewinder
from dashboard.live.rooms import Rooms
from dashboard.live.shelf import Shelf
from dashboard.state import State
from feeds.archive import Archive
from feeds.bus import Bus

log = logging.getLogger(__name__)

STOP_WRITE_S = 6.0  # of a 10 s stop budget (systemd's, a test's): the rest is for exiting


class LiveHub:
    def __init__(
        self,
        socketio: SocketIO,
        bus: Bus,
        state: State,
        settings: Settings,
        guard: SocketGuard,
        audit: Audit,
    ) -> None:
        self.socketio = socketio
        self.guard = guard  # who holds each socket, and which scopes they may watch
        self.live = LiveState(state)
        self.archive = Archive(settings.archive_dir)
        self.cold = ColdStore(self.archive)
        # a step of an incident that has left memory brings it back whole
        state.recall = self.cold.recall_or_none
        self.keeper = Keeper(
            self.live,
            bus,
            self.archive,
            settings.archive_every_s,
            settings.hot_days,
            settings.log_days,
            ArchiveProcess(
                bus, self.archive, settings.redis_url, settings.prefix, settings.data_dir
            ),
        )
        self.rooms = Rooms(socketio)
        self.backlog = Backlog(socketio, settings.send_queue_max)
        self.health = BridgeHealth()
        self.api = SocketApi(socketio, guard, state.geo, audit)
        send = Sender(socketio)
        self.figures = Figures(socketio, self.live, self.rooms, send, self.health)
        every = settings.checkpoint_every_s
        shelf = None
        if every and settings.replay_every_s:
            hours = settings.replay_hours
            shelf = Shelf(settings.checkpoint_dir, settings.prefix, settings.replay_every_s, hours)
        self.checkpoints = (
            Checkpoints(settings.checkpoint_dir, settings.prefix, shelf) if every else None
        )
        keep_days = settings.replay_hours // 24 + 1
        self.tracks = TrackWriter(
            settings.archive_dir, settings.track_every_s, keep_days, settings.track_flush_s
        )
        self.bridge = Bridge(
            self.live,
            bus,
            self.rooms,
            send,
            self.figures,
            settings.position_interval_ms,
            self.checkpoints,
            every,
            self.keeper.after_rebuild,
            self.tracks,
        )
        self.heartbeat = Heartbeat(socketio, self.figures, self.rooms, send, self.backlog)
        self.greeter = Greeter(self.live, bus, settings.ticker_size, self.figures.kpis)
        self.follows = FollowKeeper(
            self.live, bus, settings.follow_grace_s, settings.follow_max_s, guard.access.audit
        )
        self.pages = Pages(
            socketio, self.live, self.rooms, guard, self.greeter, self.health, self.follows
        )
        rewinder = Rewinder(
            bus,
            shelf,
            TrackReader(settings.archive_dir),
            functools.partial(self._fresh_state, state),
            settings.prefix,
            settings.replay_hours,
        )
        self.replays = Replays(rewinder, settings.ticker_size, settings.replay_sessions)
        self.pages.gone.append(self.replays.forget)
        # other jobs of a running server (the morning's briefings): started with the rest, so
        # an app built but not served (a test's, a command's) runs none of them
        self.jobs: list[Callable[[], None]] = []

    def install(self) -> None:
        self.pages.install(self.api)
        self.replays.install(self.api)

    def _fresh_state(self, like: State) -> State:
        """An empty state like the live one, for a replay to fold into."""
        fresh = State(like.geo, recent_size=like.recent.maxlen or 500)
        fresh.recall = self.cold.recall_or_none
        return fresh

    def stop(self) -> None:
        """A clean stop (SIGTERM): the state written now, so the next start folds nothing;
        waited for at most STOP_WRITE_S, so the stop ends in time."""
        self.keeper.stop()
        try:  # the last half-minute of fixes kept for replay
            self.bridge.flush_tracks()
        except Exception:  # Redis gone at the stop: they are lost, the stop goes on
            log.warning("the last worker fixes were not kept for replay", exc_info=True)
        if self.checkpoints is not None and self.live.ready.is_set():
            live = self.live
            self.checkpoints.write_within(live.state, live.actions, live.lock, STOP_WRITE_S)

    def start(self) -> None:
        self.socketio.start_background_task(self.bridge.run)
        self.socketio.start_background_task(self.figures.run)
        self.socketio.start_background_task(self.heartbeat.run)
        self.socketio.start_background_task(self.follows.run)
        if self.keeper.every_s > 0:
            self.socketio.start_background_task(self.keeper.run)
        for job in self.jobs:
            self.socketio.start_background_task(job)
        self.guard.start()  # disconnects sockets whose session is revoked or expired
