"""The only Redis → Socket.IO bridge: fold the feed into the state and push it to rooms.

One supervised background task per server process rebuilds the state from the log, then
follows the streams with XREAD (lossless and resumable: after a Redis outage it continues from
the last id it applied) and emits:

* ``steps``: every new event step, at once, to the rooms of its city, county and town;
* ``positions``: coalesced, at most one frame per ``position_interval_ms`` per room, only the
  workers that moved since the last frame;
* ``warnings``: early warnings (dashboard.analytics) of the room's area, once each, as found;
* ``kpis``: the headline figures of each watched room, at most once a second and only when
  something arrived; ``panels`` every few seconds when steps arrived.

A second task beats every two seconds (``beat``: the time, the newest data, and whether the
bridge is healthy, so a wall turns red when its server lost the feed) and drops screens too
slow to keep up (dashboard.live.backlog).

The state is guarded by ``lock``; payloads are built under it, and sent after it is released:
engine.io may run a socket's disconnect handler inside a send, on the sending thread. An
entry that cannot be decoded or applied is logged, counted and skipped, never the stream; a
failure of the loop itself restarts it from the last applied id.

Emits are local to this process (``ignore_queue``): every server process runs its own bridge
for its own sockets, so a Socket.IO message queue, when configured for emits from other
processes, must not multiply these. Hellos: dashboard.live.hello.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import request
from flask_socketio import SocketIO

from dashboard.access.auth import SocketGuard
from dashboard.analytics.outbox import payload as warning_payload
from dashboard.analytics.outbox import rooms_of
from dashboard.config import Settings
from dashboard.live.actions import ActionBook, action_payload, command_payload, command_rooms
from dashboard.live.backlog import Backlog
from dashboard.live.hello import Greeter
from dashboard.live.outbound import position_row, step_payload
from dashboard.live.rebuild import rebuild
from dashboard.live.rooms import Rooms, area_room, user_room
from dashboard.state import Applied, State
from dashboard.views import panels
from dashboard.views.kpis import headline, yesterday
from feeds.bus import ACTIONS, Bus, decode_entry
from feeds.outage import RETRYABLE, Outage
from feeds.schema import ActionMessage, EventMessage, PositionMessage, Rejection

log = logging.getLogger(__name__)

PANELS_EVERY_S = 5.0  # charts and lists: fresh enough for a wall, cheap enough for many rooms
BEAT_EVERY_S = 2.0
STALLED_AFTER_S = 5.0  # a bridge that has not read for this long is down (a healthy one: ≤ 1 s)
WARNING_FRESH = timedelta(hours=1)  # older warnings (found replaying the log) are not pushed
HELLO_WAIT_S = 20.0  # a hello during the rebuild waits this long, then is asked to retry
HELLO_EVERY_S = 1.0  # one socket's hellos begin at most this often (a loop of them is paced)

Emit = tuple[str, dict[str, Any], str]  # event, payload, room


class Every:
    """True at most once per ``seconds`` (a throttle, not a timer: it is asked, never fires)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.last = 0.0

    def due(self, now: float) -> bool:
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


@dataclass
class BridgeHealth:
    """What /healthz and every beat say about the bridge."""

    state: str = "rebuilding"  # rebuilding, ok, down (Redis away), restarting (after a bug)
    last_read: float = 0.0  # monotonic time of the last successful read from Redis
    last_step: float = 0.0  # monotonic time the last event step was applied
    errors: int = 0  # entries skipped, and housekeeping rounds that failed
    restarts: int = 0

    def status(self) -> str:
        if self.state == "ok" and time.monotonic() - self.last_read > STALLED_AFTER_S:
            return "down"  # a read that hangs (a stalled Redis) before its timeout says so
        return self.state

    def report(self) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "state": self.status(),
            "last_read_age_s": round(now - self.last_read, 3) if self.last_read else None,
            "last_step_age_s": round(now - self.last_step, 3) if self.last_step else None,
            "errors": self.errors,
            "restarts": self.restarts,
        }


class Pusher:
    def __init__(
        self, socketio: SocketIO, bus: Bus, state: State, settings: Settings, guard: SocketGuard
    ) -> None:
        self.socketio = socketio
        self.guard = guard  # who holds each socket, and which scopes they may watch
        self.bus = bus
        self.state = state
        self.settings = settings
        self.lock = threading.Lock()  # guards state and actions; never held while sending
        self.rooms = Rooms(socketio)
        self.backlog = Backlog(socketio, settings.send_queue_max)
        self.actions = ActionBook()  # operators' actions, read back from their stream
        self.greeter = Greeter(state, self.lock, bus, settings.ticker_size, self._kpis)
        self.health = BridgeHealth()
        self.ready = threading.Event()
        self.newest_ts: datetime | None = None
        self.position: dict[str, str] = {}  # stream → the last id applied
        self.moved: dict[str, PositionMessage] = {}
        self._frames = Every(settings.position_interval_ms / 1000)
        self._kpi_every = Every(1.0)
        self._panel_every = Every(PANELS_EVERY_S)
        self._warn_every = Every(1.0)
        self._dirty = True
        self._panels_dirty = True
        self._failing: set[str] = set()  # housekeeping jobs whose failure is already logged

    # -- lifecycle -------------------------------------------------------------------------
    def install(self) -> None:
        self.socketio.on_event("connect", self.on_connect)
        self.socketio.on_event("hello", self.on_hello)
        self.socketio.on_event("disconnect", self.on_disconnect)

    def start(self) -> None:
        self.socketio.start_background_task(self._supervise)
        self.socketio.start_background_task(self._figures)
        self.socketio.start_background_task(self._heartbeat)
        self.guard.start()  # disconnects sockets whose session is revoked or expired

    def _supervise(self) -> None:
        """Run the bridge forever: a bug in it is logged and the loop restarts where it was."""
        while True:
            try:
                if not self.ready.is_set():
                    self._rebuild()
                self._follow()
            except Exception:
                self.health.state = "restarting"
                self.health.restarts += 1
                log.exception("live bridge failed; restarting after %s", self.position)
                time.sleep(1.0)

    def _rebuild(self) -> None:
        self.health.state = "rebuilding"
        self.newest_ts = rebuild(self.bus, self.state, self.actions)
        self.position = {**self.state.last_sid, ACTIONS: self.actions.last_sid}
        # The detectors' first round after a fold is long (thousands of warnings, pruning):
        # paid here, before any page is answered, not in the live loop's first seconds.
        self._guarded("warnings", self._warnings)
        self.health.state = "ok"
        self.health.last_read = time.monotonic()
        self.ready.set()

    def _follow(self) -> None:
        outage = Outage(log, "live bridge")
        # Steps go out as soon as XREAD returns them; the block only paces position frames
        # and housekeeping when the feed is quiet.
        block_ms = self.settings.position_interval_ms
        while True:
            try:
                batch = self.bus.read_raw(self.position, block_ms=block_ms)
            except RETRYABLE as exc:
                self.health.state = "down"
                outage.failed(exc)
                continue
            outage.ok()
            self.health.state = "ok"
            self.health.last_read = time.monotonic()
            self._send(self._apply(batch))
            self._housekeeping()

    # -- folding ---------------------------------------------------------------------------
    def _apply(self, batch: list[tuple[str, str, bytes]]) -> list[Emit]:
        """Fold a batch into the state; returns what to send (built under the lock)."""
        applied: list[Applied] = []
        acted: list[tuple[str, ActionMessage]] = []
        failed: list[tuple[str, str, bytes, Exception]] = []
        with self.lock:
            for stream, sid, raw in batch:
                try:
                    self._apply_one(stream, sid, raw, applied, acted)
                except Exception as exc:  # one bad entry is skipped, never the stream
                    failed.append((stream, sid, raw, exc))
                self.position[stream] = sid
            self._dirty = self._dirty or bool(batch)
            self._panels_dirty = self._panels_dirty or bool(applied)
            out = self._step_emits(applied) + self._action_emits(acted)
        for stream, sid, raw, exc in failed:
            self._skipped(stream, sid, raw, exc)
        return out

    def _apply_one(
        self,
        stream: str,
        sid: str,
        raw: bytes,
        applied: list[Applied],
        acted: list[tuple[str, ActionMessage]],
    ) -> None:
        message = decode_entry(stream, raw)
        if isinstance(message, ActionMessage):
            self.actions.apply(sid, message)
            acted.append((sid, message))
            return
        if self.newest_ts is None or message.ts > self.newest_ts:
            self.newest_ts = message.ts  # how fresh the feed is, for the health light
        if isinstance(message, EventMessage):
            step = self.state.apply_event(sid, message)
            if step is not None:
                applied.append(step)
                self.health.last_step = time.monotonic()
        elif self.state.apply_position(sid, message):
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
    def _send(self, emits: list[Emit], skip: list[str] | None = None) -> None:
        for event, data, room in emits:
            self.socketio.emit(event, data, to=room, skip_sid=skip, ignore_queue=True)

    def _chain(self, county: str, town: str) -> tuple[str, ...]:
        return (self.state.geo.city.code, county, town)

    def _step_emits(self, applied: list[Applied]) -> list[Emit]:
        watched = set(self.rooms.watched())
        by_scope: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for step in applied:
            area = step.message.area
            payload = step_payload(step, self.state.geo)
            for code in self._chain(area.county, area.town):
                if code in watched:
                    by_scope[code].append(payload)
        return [("steps", {"steps": steps}, area_room(code)) for code, steps in by_scope.items()]

    def _action_emits(self, acted: list[tuple[str, ActionMessage]]) -> list[Emit]:
        """Each action to the pages of its area; what walls and tablets must do, to them."""
        now = datetime.now(UTC)
        watched = set(self.rooms.watched())
        out: list[Emit] = []
        for sid, action in acted:
            data = action_payload(sid, action, self.state, reveal=False)
            a = action.area
            for code in dict.fromkeys(self._chain(a[:6], a[:9])):
                if code in watched:
                    out.append(("actions", {"actions": [data]}, area_room(code)))
            for name in command_rooms(action, self.state):
                out.append(("command", command_payload(action, self.state, now), name))
        return out

    def _housekeeping(self) -> None:
        now = time.monotonic()
        jobs = [
            ("positions", self._frames.due(now), self._positions),
            ("warnings", self._warn_every.due(now), self._warnings),
        ]
        for name, due, job in jobs:
            if due:
                self._guarded(name, job)

    def _guarded(self, name: str, job: Any) -> None:
        """A failing job is logged once (until it works again), counted, and skipped."""
        try:
            job()
        except Exception:
            self.health.errors += 1
            if name not in self._failing:
                self._failing.add(name)
                log.exception("live bridge: %s failed (logged once until it recovers)", name)
            return
        self._failing.discard(name)

    def _positions(self) -> None:
        with self.lock:
            moved, self.moved = self.moved, {}
        watched = set(self.rooms.watched())
        by_scope: dict[str, list[list[object]]] = defaultdict(list)
        for p in moved.values():  # immutable messages: safe outside the lock
            row = position_row(p)
            for code in self._chain(p.grid[:6], p.grid[:9]):
                if code in watched:
                    by_scope[code].append(row)
        emits = [("positions", {"p": rows}, area_room(code)) for code, rows in by_scope.items()]
        self._send(emits, skip=self.rooms.lite() or None)

    # -- the figures' own task: built scope by scope, off the bridge's path -------------------
    def _figures(self) -> None:
        """KPIs each second and panels every few seconds, when something arrived.

        Building them scans the state (the panels of eleven watched scopes took a second);
        in the bridge's loop that held every step back meanwhile. Here the lock is taken per
        scope, so the bridge applies and sends between two scopes.
        """
        while True:
            self.socketio.sleep(0.2)
            now = time.monotonic()
            if self._dirty and self._kpi_every.due(now):
                self._guarded("kpis", self._kpi_emits)
            if self._panels_dirty and self._panel_every.due(now):
                self._guarded("panels", self._panel_emits)

    def _kpi_emits(self) -> None:
        self._dirty = False
        for scope in self.rooms.watched():
            now = datetime.now(UTC)
            with self.lock:
                data = self._kpis(scope, now)
            self._send([("kpis", data, area_room(scope))])

    def _panel_emits(self) -> None:
        self._panels_dirty = False
        for scope in self.rooms.watched():
            now = datetime.now(UTC)
            with self.lock:
                data = panels.cached(self.state, scope, now)
            self._send([("panels", data, area_room(scope))])

    def _warnings(self) -> None:
        """Run the clock-driven detectors, then publish and push every new warning.

        Each server process detects the same warnings from the same log; the bus publishes an
        id once. Warnings found while replaying old steps are published but not pushed.
        """
        now = datetime.now(UTC)
        with self.lock:
            warnings = self.state.metrics.tick(now)
        city = self.state.geo.city.code
        watched = set(self.rooms.watched())
        emits: list[Emit] = []
        try:
            self.bus.publish_warnings(warnings)
        except redis.RedisError as exc:  # the stream misses them; the walls still show them
            log.warning("%d warning(s) not published: %s", len(warnings), exc)
        for warning in warnings:
            if now - warning.ts > WARNING_FRESH:
                continue
            data = warning_payload(warning, self.state.geo.label(warning.area))
            for code in rooms_of(warning.area, city):
                if code in watched:
                    emits.append(("warnings", {"warnings": [data]}, area_room(code)))
        self._send(emits)

    def _kpis(self, scope: str, now: datetime) -> dict[str, Any]:
        """Called under the lock."""
        return {
            "kpis": headline(self.state, scope, now),
            "yesterday": yesterday(self.state, scope, now),  # the same time yesterday
            "history": self.state.history(),  # None, or where a trimmed log begins
            **self._beat(now),
        }

    def _beat(self, now: datetime) -> dict[str, Any]:  # no lock needed: reads two fields
        newest = self.newest_ts
        return {
            "now": now.isoformat(),
            "newest": newest.isoformat() if newest else None,
            "bridge": self.health.status(),
        }

    # -- the second task: heartbeat and slow screens ------------------------------------------
    def _heartbeat(self) -> None:
        beat = Every(BEAT_EVERY_S)
        while True:
            self.socketio.sleep(1.0)
            try:
                self.backlog.sweep()
                if beat.due(time.monotonic()):
                    data = self._beat(datetime.now(UTC))
                    self._send([("beat", data, area_room(s)) for s in self.rooms.watched()])
            except Exception:
                log.exception("heartbeat failed")

    # -- pages -----------------------------------------------------------------------------
    def on_connect(self, auth: object = None) -> None:
        """Only a signed-in session from an allowed origin gets a socket (raises otherwise)."""
        self.guard.admit(request.sid)  # type: ignore[attr-defined]

    def on_hello(self, data: object) -> dict[str, Any]:
        """A page announces its scope and the last id it applied; returns how it went."""
        sid: str = request.sid  # type: ignore[attr-defined]
        asked = data if isinstance(data, dict) else {}
        holder = self.guard.principal(sid)
        scope = str(asked.get("scope") or (holder.scope if holder else ""))
        after = asked.get("after")
        geo = self.state.geo
        if scope != geo.city.code and scope not in geo.counties and scope not in geo.towns:
            return {"ok": False, "error": "unknown scope"}
        if not self.guard.allows(sid, scope):
            return {"ok": False, "error": "scope not allowed"}
        if not self.ready.wait(timeout=HELLO_WAIT_S):
            return {"ok": False, "error": "starting", "retry": 2}
        pause = self.rooms.begin_hello(sid, HELLO_EVERY_S)
        if pause is None:
            return {"ok": False, "error": "busy", "retry": 1}
        try:
            if pause > 0:
                self.socketio.sleep(pause)
            lite = bool(asked.get("lite"))
            # Into the room first: from now on every applied step reaches this socket live,
            # and the reply covers what was applied before (the page buffers until the reply).
            self.rooms.watch(sid, scope, lite)
            if holder is not None:
                self.rooms.enter(sid, user_room(holder.name))  # views sent to this person
            reply = self.greeter.reply(scope, str(after) if after else None, lite)
            reply["following"] = self._join_home(sid, str(asked.get("home") or ""))
            return reply
        finally:
            self.rooms.end_hello(sid)

    def _join_home(self, sid: str, home: str) -> dict[str, Any] | None:
        """A wall page joins the room of its home scope once; returns what it must follow."""
        if home and self.guard.allows(sid, home) and self.state.geo.area(home) is not None:
            self.rooms.set_home(sid, home)
        home = self.rooms.home_of(sid)
        with self.lock:
            action = self.actions.following.get(home) if home else None
            return command_payload(action, self.state, datetime.now(UTC)) if action else None

    def on_disconnect(self, *args: object) -> None:
        sid: str = request.sid  # type: ignore[attr-defined]
        self.guard.forget(sid)
        self.rooms.forget(sid)
