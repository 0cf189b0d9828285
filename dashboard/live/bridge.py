"""The only Redis → Socket.IO bridge: fold the feed into the live state and push it to rooms.

One supervised task per server process rebuilds the state from the log, then follows the
streams with XREAD (lossless and resumable: after a Redis outage it continues from the last id
it applied) and sends:

* ``steps``: every new event step, at once, to the rooms of its city, county and town;
* ``actions`` and ``command``: operators' actions to their area, commands to walls and people;
* ``positions``: coalesced, at most one frame per ``position_interval_ms`` per room, only the
  workers that moved since the last frame (not to lite screens);
* ``warnings``: early warnings (dashboard.analytics) of the room's area, once each, as found.

The figures (``kpis``, ``panels``) have their own task (dashboard.live.figures), told here when
something arrived. Payloads are built under the state's lock and sent after it is released. An
entry that cannot be decoded or applied is logged, counted, dead-lettered and skipped, never the
stream; a failure of the loop itself restarts it from the last applied id.

Emits are local to this process (``ignore_queue``): every server process runs its own bridge
for its own sockets, so a Socket.IO message queue, when configured for emits from other
processes, must not multiply these.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis
from flask_socketio import SocketIO

from dashboard.analytics.outbox import payload as warning_payload
from dashboard.cold.tracks import TrackWriter
from dashboard.live.actions import action_payload, command_payload
from dashboard.live.checkpoint import Checkpoints, Header
from dashboard.live.fanout import by_scope, command_rooms, to_rooms
from dashboard.live.figures import Figures
from dashboard.live.health import Guarded
from dashboard.live.livestate import LiveState
from dashboard.live.outbound import Emit, position_row, step_payload
from dashboard.live.rebuild import Progress, rebuild
from dashboard.live.rooms import Rooms
from dashboard.live.throttle import Every
from dashboard.state import Applied
from feeds.bus import ACTIONS, EVENTS, Bus, decode_entry
from feeds.outage import RETRYABLE, Outage
from feeds.schema import CHINA_TZ, ActionMessage, EventMessage, PositionMessage, Rejection

log = logging.getLogger(__name__)

WARNING_FRESH = timedelta(hours=1)  # older warnings (found replaying the log) are not pushed
Acted = tuple[str, ActionMessage]


class Sender:
    """Sends to rooms of this process only (see the module's docstring)."""

    def __init__(self, socketio: SocketIO) -> None:
        self.socketio = socketio

    def __call__(self, emits: list[Emit], skip: list[str] | None = None) -> None:
        for event, data, room in emits:
            self.socketio.emit(event, data, to=room, skip_sid=skip, ignore_queue=True)


class Bridge:
    def __init__(
        self,
        live: LiveState,
        bus: Bus,
        rooms: Rooms,
        send: Sender,
        figures: Figures,
        position_interval_ms: int,
        checkpoints: Checkpoints | None = None,
        checkpoint_every_s: float = 0,
        after_rebuild: Callable[[bool], None] | None = None,
        tracks: TrackWriter | None = None,
    ) -> None:
        self.live = live
        self.bus = bus
        self.rooms = rooms
        self.send = send
        self.figures = figures
        self.health = figures.health
        self.block_ms = position_interval_ms
        self.position: dict[str, str] = {}  # stream → the last id applied
        self.moved: dict[str, PositionMessage] = {}  # worker → newest fix since the last frame
        self.frames = Every(position_interval_ms / 1000)
        self.warn_every = Every(1.0)
        self.checkpoints = checkpoints
        self.checkpoint_every = Every(checkpoint_every_s) if checkpoints else None
        self.guarded = Guarded(self.health, log, "live bridge")
        # the history job's part of a rebuild (dashboard.cold.keeper): before ready
        self.after_rebuild = after_rebuild
        self.tracks = tracks  # the fixes kept for replay (dashboard.cold.tracks)
        self.holder = f"{socket.gethostname()}-{os.getpid()}"

    # -- lifecycle -------------------------------------------------------------------------
    def run(self) -> None:
        """Run forever: a bug in the loop is logged and it restarts where it was."""
        while True:
            try:
                if not self.live.ready.is_set():
                    self.rebuild()
                self.follow()
            except Exception:
                self.health.state = "restarting"
                self.health.restarts += 1
                log.exception("live bridge failed; restarting after %s", self.position)
                time.sleep(1.0)

    def rebuild(self) -> None:
        self.health.state = "rebuilding"
        state, book = self.live.state, self.live.actions
        fresh = state.last_sid[EVENTS] == "0-0" and book.last_sid == "0-0"
        restored = None
        if self.checkpoints is not None and fresh:  # not after a rebuild that failed halfway
            restored = self.checkpoints.restore(state, book, accept=self._log_holds)
        self.health.progress = Progress()
        self.live.newest_ts = rebuild(self.bus, state, book, self.health.progress)
        if self.after_rebuild is not None:  # told whether the checkpoint counted the past
            after, was_restored = self.after_rebuild, restored is not None
            self.guarded("history", lambda: after(was_restored))
        self.position = {**state.last_sid, ACTIONS: book.last_sid}
        # The detectors' first round after a fold is long (thousands of warnings, pruning):
        # paid here, before any page is answered, not in the live loop's first seconds.
        self.guarded("warnings", self.warnings)
        self.health.state = "ok"
        self.health.last_read = time.monotonic()
        if self.checkpoint_every is not None and restored is not None:
            self.checkpoint_every.last = time.monotonic()  # else one now: the fold was long
        self.live.ready.set()

    def _log_holds(self, header: Header) -> str | None:
        """Why a checkpoint does not belong to this log (None: it does). The last ids it
        covers must still be in the log: a Redis emptied or replaced since has other ones."""
        for stream in (EVENTS, ACTIONS):
            sid = header.last.get(stream, "0-0")
            if sid != "0-0" and not self.bus.holds(stream, sid):
                return f"the {stream} log no longer holds {sid}"
        return None

    def follow(self) -> None:
        outage = Outage(log, "live bridge")
        # Steps go out as soon as XREAD returns them; the block only paces position frames
        # and housekeeping when the feed is quiet.
        while True:
            try:
                batch = self.bus.read_raw(self.position, block_ms=self.block_ms)
            except RETRYABLE as exc:
                self.health.state = "down"
                outage.failed(exc)
                continue
            outage.ok()
            self.health.state = "ok"
            self.health.last_read = time.monotonic()
            self.send(self.apply(batch))
            self.housekeeping()

    # -- folding ---------------------------------------------------------------------------
    def apply(self, batch: list[tuple[str, str, bytes]]) -> list[Emit]:
        """Fold a batch into the state; returns what to send (built under the lock)."""
        applied: list[Applied] = []
        acted: list[Acted] = []
        failed: list[tuple[str, str, bytes, Exception]] = []
        with self.live.lock:
            for stream, sid, raw in batch:
                try:
                    self._apply_one(stream, sid, raw, applied, acted)
                except Exception as exc:  # one bad entry is skipped, never the stream
                    failed.append((stream, sid, raw, exc))
                self.position[stream] = sid
            out = self._step_emits(applied) + self._action_emits(acted)
        self.figures.arrived(entries=bool(batch), steps=bool(applied))
        for stream, sid, raw, error in failed:
            self._skipped(stream, sid, raw, error)
        return out

    def _apply_one(
        self, stream: str, sid: str, raw: bytes, applied: list[Applied], acted: list[Acted]
    ) -> None:
        message = decode_entry(stream, raw)
        if isinstance(message, ActionMessage):
            self.live.actions.apply(sid, message)
            acted.append((sid, message))
            return
        newest = self.live.newest_ts
        if newest is None or message.ts > newest:
            self.live.newest_ts = message.ts  # how fresh the feed is, for the health light
        if isinstance(message, EventMessage):
            step = self.live.state.apply_event(sid, message)
            if step is not None:
                applied.append(step)
                self.health.last_step = time.monotonic()
        else:
            if self.tracks is not None:
                self.tracks.offer(sid, message)
            if self.live.state.apply_position(sid, message):
                self.moved[message.worker] = message

    def _skipped(self, stream: str, sid: str, raw: bytes, exc: Exception) -> None:
        """Log, count and dead-letter an entry the bridge could not apply."""
        self.health.errors += 1
        log.error("skipped %s entry %s: %s: %s", stream, sid, type(exc).__name__, exc)
        reason = Rejection("apply_failed", f"{stream} {sid}: {type(exc).__name__}: {exc}")
        try:
            self.bus.dead_letter(raw, reason)
        except redis.RedisError as error:
            log.warning("could not dead-letter %s: %s", sid, error)

    # -- what goes out ---------------------------------------------------------------------
    def _step_emits(self, applied: list[Applied]) -> list[Emit]:
        geo = self.live.geo
        grouped = by_scope(applied, lambda a: a.message.area.town, set(self.rooms.watched()))
        payloads = {id(a): step_payload(a, geo) for group in grouped.values() for a in group}
        steps = {s: [payloads[id(a)] for a in group] for s, group in grouped.items()}
        return to_rooms("steps", "steps", steps)

    def _action_emits(self, acted: list[Acted]) -> list[Emit]:
        """Each action to the pages of its area; what walls and tablets must do, to them."""
        now = datetime.now(UTC)
        state = self.live.state
        grouped = by_scope(acted, lambda a: a[1].area, set(self.rooms.watched()))
        data = {sid: action_payload(sid, action, state, reveal=False) for sid, action in acted}
        actions = {s: [data[sid] for sid, _ in group] for s, group in grouped.items()}
        out = to_rooms("actions", "actions", actions)
        for _sid, action in acted:
            command = command_payload(action, state, now)
            out += [("command", command, room) for room in command_rooms(action)]
        return out

    def housekeeping(self) -> None:
        now = time.monotonic()
        if self.frames.due(now):
            self.guarded("positions", self.positions)
        if self.warn_every.due(now):
            self.guarded("warnings", self.warnings)
        if self.tracks is not None and self.tracks.due(now):
            self.guarded("tracks", self.flush_tracks)
        if self.checkpoints is not None:
            self.checkpoints.reap()
            if self.checkpoint_every is not None and self.checkpoint_every.due(now):
                self.guarded("checkpoint", self.checkpoint)

    def flush_tracks(self) -> None:
        """Write the kept fixes, if this process is the one of the replicas that writes them."""
        assert self.tracks is not None
        ttl = max(10, int(3 * self.tracks.flush_s))
        self.tracks.flush(allowed=self.bus.hold("tracks", self.holder, ttl))
        self.tracks.prune(datetime.now(CHINA_TZ).date())

    def checkpoint(self) -> None:
        """A checkpoint from a forked child: the fork is the only part under the lock."""
        assert self.checkpoints is not None
        with self.live.lock:
            self.checkpoints.write_forked(self.live.state, self.live.actions)

    def positions(self) -> None:
        with self.live.lock:
            moved, self.moved = self.moved, {}
        # immutable messages: safe outside the lock
        grouped = by_scope(moved.values(), lambda p: p.grid, set(self.rooms.watched()))
        rows = {s: [position_row(p) for p in group] for s, group in grouped.items()}
        self.send(to_rooms("positions", "p", rows), skip=self.rooms.lite() or None)

    def warnings(self) -> None:
        """Run the clock-driven detectors, then publish and push every new warning.

        Each server process detects the same warnings from the same log; the bus publishes an
        id once. Warnings found while replaying old steps are published but not pushed.
        """
        now = datetime.now(UTC)
        with self.live.lock:
            found = self.live.state.metrics.tick(now)
        try:
            self.bus.publish_warnings(found)
        except redis.RedisError as exc:  # the stream misses them; the walls still show them
            log.warning("%d warning(s) not published: %s", len(found), exc)
        fresh = [w for w in found if now - w.ts <= WARNING_FRESH]
        grouped = by_scope(fresh, lambda w: w.area, set(self.rooms.watched()))
        label = self.live.geo.label
        data = {s: [warning_payload(w, label(w.area)) for w in g] for s, g in grouped.items()}
        self.send(to_rooms("warnings", "warnings", data))
