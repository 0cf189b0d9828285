"""The only Redis → Socket.IO bridge: fold the feed into the state and push it to rooms.

One background task per server process follows both streams with XREAD (lossless and
resumable: after a dropped Redis connection it continues from the last id it applied), folds
each entry into the state and emits:

* ``steps``: every new event step, at once, to the rooms of its city, county and town;
* ``positions``: coalesced, at most one frame per ``position_interval_ms`` per room, only the
  workers that moved since the last frame;
* ``warnings``: early warnings (dashboard.analytics) of the room's area, once each, as found;
* ``kpis``: the headline figures of each watched room, at most once a second and only when
  something arrived; otherwise a tiny ``beat`` every two seconds, so an idle screen costs
  next to nothing and still knows its connection is alive.

Emits are local to this process (``ignore_queue``): every server process runs its own bridge
for its own sockets, so a Socket.IO message queue, when configured for emits from other
processes, must not multiply these.

A page says ``hello`` with its scope and the last stream id it applied; it receives what it
missed, then joins its room, under the same lock the emitter holds, so nothing falls between
the catch-up and the live flow, and the page drops any id it has already applied.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from flask import request
from flask_socketio import SocketIO, join_room, leave_room

from dashboard import panels
from dashboard.actions import ActionBook, action_payload, command_payload, command_rooms
from dashboard.analytics.outbox import payload as warning_payload
from dashboard.analytics.outbox import rooms_of
from dashboard.auth import SocketGuard
from dashboard.config import Settings
from dashboard.kpis import headline, yesterday
from dashboard.state import OPEN, Applied, State
from dashboard.wire import incident_marker, position_row, sid_key, step_payload
from feeds.bus import ACTIONS, EVENTS, POSITIONS, Bus, Entry
from feeds.schema import CHINA_TZ, ActionMessage, EventMessage, PositionMessage

log = logging.getLogger(__name__)

MAX_CATCHUP = 20_000  # beyond this a page is better served by a fresh snapshot
LITE_STEPS = 30  # a lite snapshot's latest steps (the tablet's feed)
PANELS_EVERY_S = 5.0  # charts and lists: fresh enough for a wall, cheap enough for many rooms
WARNING_FRESH = timedelta(hours=1)  # older warnings (found replaying the log) are not pushed


def room(area: str) -> str:
    return f"area:{area}"


class Pusher:
    def __init__(
        self, socketio: SocketIO, bus: Bus, state: State, settings: Settings, guard: SocketGuard
    ) -> None:
        self.socketio = socketio
        self.guard = guard  # who holds each socket, and which scopes they may watch
        self.bus = bus
        self.state = state
        self.settings = settings
        self.lock = threading.Lock()
        self.watched: dict[str, int] = defaultdict(int)  # room → connected pages
        self.scope_of: dict[str, str] = {}  # socket id → scope
        self.home_of: dict[str, str] = {}  # socket id → the home scope of a wall page
        self.lite: set[str] = set()  # sockets that asked for no worker positions (tablets)
        self.actions = ActionBook()  # operators' actions, read back from their stream
        self.moved: dict[str, PositionMessage] = {}
        self.ready = threading.Event()
        self.newest_ts: datetime | None = None
        self._last_frame = 0.0
        self._last_kpis = 0.0
        self._last_beat = 0.0
        self._last_panels = 0.0
        self._last_warnings = 0.0
        self._dirty = True
        self._panels_dirty = True

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.socketio.on_event("connect", self.on_connect)
        self.socketio.on_event("hello", self.on_hello)
        self.socketio.on_event("disconnect", self.on_disconnect)
        self.socketio.start_background_task(self._run)
        self.guard.start()  # disconnects sockets whose session is revoked or expired

    def rebuild(self) -> None:
        """Today's state from the log: every event step, then the latest positions."""
        started = time.perf_counter()
        self.state.fold_log(self.bus.log_batches(EVENTS))  # raw batches: see State.fold_log
        self.state.last_sid[POSITIONS] = self.bus.last_ids()[POSITIONS]
        self.state.restore_positions(self.bus.latest_positions())
        today = datetime.now(CHINA_TZ).date()
        for day in (today - timedelta(days=1), today):  # the stream holds only half an hour
            self.state.restore_visits(self.bus.visits(day))
        for entry in self.bus.replay(ACTIONS):
            self.actions.apply(entry.sid, entry.message)  # type: ignore[arg-type]
        stamps = [self.state.recent[-1].message.ts] if self.state.recent else []
        stamps += [p.ts for p in self.state.positions.values()]
        self.newest_ts = max(stamps, default=None)
        # The rebuilt state lives as long as the server: out of the collector's sight, later
        # collections (every query, every emit makes garbage) no longer rescan it.
        gc.freeze()
        log.info(
            "rebuilt %d incidents from the log in %.2fs",
            len(self.state.incidents),
            time.perf_counter() - started,
        )

    def _run(self) -> None:
        try:
            self.rebuild()
        finally:
            self.ready.set()
        after = {**self.state.last_sid, ACTIONS: self.actions.last_sid}
        for batch in self.bus.follow(after, block_ms=self._block_ms()):
            self._apply(batch)
            self._housekeeping()

    def _block_ms(self) -> int:
        # Steps go out as soon as XREAD returns them; the block only paces position frames
        # and heartbeats when the feed is quiet.
        return self.settings.position_interval_ms

    def _emit(self, event: str, data: dict[str, Any], to: str) -> None:
        self.socketio.emit(event, data, to=to, ignore_queue=True)

    # -- folding and emitting --------------------------------------------------------------
    def _apply(self, batch: list[Entry]) -> None:
        applied: list[Applied] = []
        acted: list[tuple[str, ActionMessage]] = []
        self._dirty = self._dirty or bool(batch)
        with self.lock:
            for entry in batch:
                message = entry.message
                if isinstance(message, ActionMessage):
                    self.actions.apply(entry.sid, message)
                    acted.append((entry.sid, message))
                    continue
                if self.newest_ts is None or message.ts > self.newest_ts:
                    self.newest_ts = message.ts  # how fresh the feed is, for the health light
                if isinstance(message, EventMessage):
                    step = self.state.apply_event(entry.sid, message)
                    if step is not None:
                        applied.append(step)
                elif self.state.apply_position(entry.sid, message):
                    self.moved[message.worker] = message
            if applied:
                self._panels_dirty = True
                self._emit_steps(applied)
            if acted:
                self._emit_actions(acted)

    def _emit_actions(self, acted: list[tuple[str, ActionMessage]]) -> None:
        """Each action to the pages of its area; what walls and tablets must do, to them."""
        now = datetime.now(UTC)
        city = self.state.geo.city.code
        for sid, action in acted:
            data = action_payload(sid, action, self.state, reveal=False)
            for code in dict.fromkeys((city, action.area[:6], action.area[:9])):
                if self.watched.get(room(code)):
                    self._emit("actions", {"actions": [data]}, room(code))
            for name in command_rooms(action, self.state):
                self._emit("command", command_payload(action, self.state, now), name)

    def _emit_steps(self, applied: list[Applied]) -> None:
        by_room: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for step in applied:
            area = step.message.area
            payload = step_payload(step, self.state.geo)
            for code in (self.state.geo.city.code, area.county, area.town):
                if self.watched.get(room(code)):
                    by_room[room(code)].append(payload)
        for name, steps in by_room.items():
            self._emit("steps", {"steps": steps}, name)

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now - self._last_frame >= self.settings.position_interval_ms / 1000:
            self._last_frame = now
            self._emit_positions()
        if self._dirty and now - self._last_kpis >= 1.0:
            self._last_kpis = self._last_beat = now
            self._dirty = False
            self._emit_kpis()
        elif now - self._last_beat >= 2.0:
            self._last_beat = now
            self._emit_beat()
        if self._panels_dirty and now - self._last_panels >= PANELS_EVERY_S:
            self._last_panels = now
            self._panels_dirty = False
            self._emit_panels()
        if now - self._last_warnings >= 1.0:
            self._last_warnings = now
            self._emit_warnings()

    def _emit_warnings(self) -> None:
        """Run the clock-driven detectors, then publish and push every new warning.

        Each server process detects the same warnings from the same log; the bus publishes an
        id once. Warnings found while replaying old steps are published but not pushed.
        """
        now = datetime.now(UTC)
        with self.lock:
            warnings = self.state.metrics.tick(now)
        city = self.state.geo.city.code
        for warning in warnings:
            try:
                self.bus.publish_warning(warning)
            except redis.RedisError as exc:  # the stream misses it; the wall still shows it
                log.warning("warning %s not published: %s", warning.id, exc)
            if now - warning.ts > WARNING_FRESH:
                continue
            data = warning_payload(warning, self.state.geo.label(warning.area))
            for code in rooms_of(warning.area, city):
                if self.watched.get(room(code)):
                    self._emit("warnings", {"warnings": [data]}, room(code))

    def _emit_panels(self) -> None:
        now = datetime.now(UTC)
        with self.lock:
            for name in [name for name, n in self.watched.items() if n]:
                self._emit("panels", panels.cached(self.state, name.split(":", 1)[1], now), name)

    def _emit_positions(self) -> None:
        with self.lock:
            moved, self.moved = self.moved, {}
            by_room: dict[str, list[list[object]]] = defaultdict(list)
            city = self.state.geo.city.code
            for p in moved.values():
                row = position_row(p)
                for code in (city, p.grid[:6], p.grid[:9]):
                    if self.watched.get(room(code)):
                        by_room[room(code)].append(row)
            skip = list(self.lite) or None
            for name, rows in by_room.items():
                self.socketio.emit(
                    "positions", {"p": rows}, to=name, skip_sid=skip, ignore_queue=True
                )

    def _emit_kpis(self) -> None:
        now = datetime.now(UTC)
        with self.lock:
            rooms = [name for name, n in self.watched.items() if n]
            for name in rooms:
                self._emit("kpis", self._kpis(name.split(":", 1)[1], now), name)

    def _emit_beat(self) -> None:
        beat = {
            "now": datetime.now(UTC).isoformat(),
            "newest": self.newest_ts.isoformat() if self.newest_ts else None,
        }
        for name in [name for name, n in self.watched.items() if n]:
            self._emit("beat", beat, name)

    def _kpis(self, scope: str, now: datetime) -> dict[str, Any]:
        newest = self.newest_ts.isoformat() if self.newest_ts else None
        return {
            "kpis": headline(self.state, scope, now),
            "yesterday": yesterday(self.state, scope, now),  # the same time yesterday
            "now": now.isoformat(),
            "newest": newest,
        }

    # -- pages -----------------------------------------------------------------------------
    def on_connect(self, auth: object = None) -> None:
        """Only a signed-in session from an allowed origin gets a socket (raises otherwise)."""
        self.guard.admit(request.sid)  # type: ignore[attr-defined]

    def on_hello(self, data: dict[str, Any]) -> dict[str, Any]:
        """A page announces its scope and the last id it applied; returns how it went."""
        sid = request.sid  # type: ignore[attr-defined]
        holder = self.guard.principal(sid)
        scope = str((data or {}).get("scope") or (holder.scope if holder else ""))
        after = (data or {}).get("after")
        if (
            scope != self.state.geo.city.code
            and scope not in self.state.geo.counties
            and (scope not in self.state.geo.towns)
        ):
            return {"ok": False, "error": "unknown scope"}
        if not self.guard.allows(sid, scope):
            return {"ok": False, "error": "scope not allowed"}
        self.ready.wait(timeout=60)
        lite = bool((data or {}).get("lite"))
        with self.lock:
            self._leave(sid)
            (self.lite.add if lite else self.lite.discard)(sid)
            reply = self._catch_up(scope, after, lite) if after else self._snapshot(scope, lite)
            join_room(room(scope))
            self.watched[room(scope)] += 1
            self.scope_of[sid] = scope
            if holder is not None:
                join_room(f"user:{holder.name}")  # views a duty officer sends to this person
            reply["following"] = self._join_home(sid, str((data or {}).get("home") or ""))
        return reply

    def _join_home(self, sid: str, home: str) -> dict[str, Any] | None:
        """A wall page joins the room of its home scope once; returns what it must follow."""
        if not home or sid in self.home_of or not self.guard.allows(sid, home):
            home = self.home_of.get(sid, "")
        elif self.state.geo.area(home) is not None:
            join_room(f"home:{home}")
            self.home_of[sid] = home
        action = self.actions.following.get(home) if home else None
        return command_payload(action, self.state, datetime.now(UTC)) if action else None

    def on_disconnect(self, *args: object) -> None:
        self.guard.forget(request.sid)  # type: ignore[attr-defined]
        with self.lock:
            self._leave(request.sid)  # type: ignore[attr-defined]
            self.home_of.pop(request.sid, None)  # type: ignore[attr-defined]
            self.lite.discard(request.sid)  # type: ignore[attr-defined]

    def _leave(self, sid: str) -> None:
        scope = self.scope_of.pop(sid, None)
        if scope is not None:
            leave_room(room(scope), sid=sid)
            self.watched[room(scope)] -= 1

    def _snapshot(self, scope: str, lite: bool = False) -> dict[str, Any]:
        """What a page needs to start. ``lite`` (a tablet on a mobile link): no worker positions
        and no incident markers, the last ``LITE_STEPS`` steps only."""
        steps = [
            step_payload(a, self.state.geo)
            for a in self.state.recent
            if scope in (self.state.geo.city.code, a.message.area.county, a.message.area.town)
        ][-(LITE_STEPS if lite else self.settings.ticker_size) :]
        positions = [
            position_row(p)
            for p in ([] if lite else self.state.positions.values())
            if scope in (self.state.geo.city.code, p.grid[:6], p.grid[:9])
        ]
        now = datetime.now(UTC)
        city = self.state.geo.city.code
        markers = [
            incident_marker(incident, now)
            for incident in ([] if lite else self.state.incidents.values())
            if incident.status == OPEN and scope in (city, incident.area.county, incident.area.town)
        ]
        return {
            "ok": True,
            "mode": "snapshot",
            "scope": scope,
            "last": self.state.last_sid[EVENTS],
            "steps": steps,
            "positions": positions,
            "incidents": markers,
            "panels": panels.cached(self.state, scope, now),
            **self._kpis(scope, now),
        }

    def _catch_up(self, scope: str, after: str, lite: bool = False) -> dict[str, Any]:
        """Steps after ``after`` in scope, up to what the state has applied (and so emitted);
        a snapshot (``lite`` as asked) when that is no longer in the log, or too much."""
        last = self.state.last_sid[EVENTS]
        city = self.state.geo.city.code
        if not self._still_in_log(after):
            return self._snapshot(scope, lite)
        steps: list[dict[str, Any]] = []
        for entry in self.bus.replay(EVENTS, after=after):
            if sid_key(entry.sid) > sid_key(last):
                break
            m = entry.message
            assert isinstance(m, EventMessage)
            incident = self.state.incidents.get(m.id)
            if incident is None or scope not in (city, m.area.county, m.area.town):
                continue
            applied = incident.steps.get(m.seq)
            if applied is None or applied.sid != entry.sid:
                continue  # a repeat in the log: the state dropped it, so pages never saw it
            steps.append(step_payload(Applied(entry.sid, m, incident), self.state.geo))
            if len(steps) > MAX_CATCHUP:
                return self._snapshot(scope, lite)
        return {"ok": True, "mode": "catchup", "scope": scope, "last": last, "steps": steps}

    def _still_in_log(self, after: str) -> bool:
        first = self.bus.client.xrange(self.bus.keys[EVENTS], count=1)
        return not first or sid_key(first[0][0].decode()) <= sid_key(after) or after == "0-0"
