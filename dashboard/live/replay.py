"""Replay (复盘): a page asks for a past moment and plays forward from it (socket ``replay``).

``seek`` rebuilds the state at the moment (dashboard.live.rewind) and answers with a hello
snapshot of it, built by the same code as a live one with the moment as its clock; ``advance``
folds the logs on to a later moment and answers with what a live page would have been sent
meanwhile (the steps, the workers that moved, the figures; the panels at most every
``PANELS_EVERY_S``); ``stop`` lets the session go. The page drives the pace (×1 to ×60), so a
slow screen asks less often rather than falling behind, and the server keeps one session per
socket, at most ``max_sessions`` at once (each holds a whole state), dropped when its socket
goes or after ``IDLE_S`` without a request.

A session belongs to its socket and its scope: a page replays only its own jurisdiction, as
its hello would show it (the scope is checked like a hello's).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec

from dashboard.live.hello import Greeter, pinned_warnings
from dashboard.live.inbound import Caller, Reply, SocketApi, refusal
from dashboard.live.livestate import LiveState
from dashboard.live.outbound import Kpis, position_row, step_payload
from dashboard.live.rewind import (
    Changes,
    Rewinder,
    Rewound,
    collector_paused,
    moment_ms,
    ms_moment,
)
from dashboard.views import panels
from dashboard.views.kpis import headline, yesterday
from feeds.geo import contains
from feeds.outage import RETRYABLE

log = logging.getLogger(__name__)

IDLE_S = 300.0  # a session no page asked anything of for this long is let go
PANELS_EVERY_S = 3.0  # of real time, while playing: charts are the costly part of a frame
PIN_S = 600  # a warning stays pinned this long on a wall (hello.WARNING_PIN_S)


class ReplayAsk(msgspec.Struct, kw_only=True):
    op: Literal["seek", "advance", "stop"]
    scope: str = ""  # empty: the holder's own jurisdiction
    at: datetime | None = None  # the moment (ISO 8601 with its offset)
    lite: bool = False  # a tablet: no worker positions, no incident markers


@dataclass
class Session:
    scope: str
    lite: bool
    rewound: Rewound
    lock: threading.Lock = field(default_factory=threading.Lock)
    used: float = field(default_factory=time.monotonic)
    panels_sent: float = 0.0
    dirty: bool = False  # steps applied since the panels were last sent


class Replays:
    def __init__(self, rewinder: Rewinder, ticker_size: int, max_sessions: int) -> None:
        self.rewinder = rewinder
        self.ticker_size = ticker_size
        self.max_sessions = max_sessions
        self.sessions: dict[str, Session] = {}
        self.guard = threading.Lock()  # the sessions' table; each session has its own lock
        self.pending = 0  # seeks rebuilding their state

    def install(self, api: SocketApi) -> None:
        api.on("replay", ReplayAsk, scoped=True)(self.on_replay)

    def forget(self, sid: str) -> None:
        with self.guard:
            self.sessions.pop(sid, None)

    def on_replay(self, caller: Caller, asked: ReplayAsk) -> Reply:
        if asked.op == "stop":
            self.forget(caller.sid)
            return {"ok": True, "scope": caller.scope}
        if asked.at is None or asked.at.tzinfo is None:
            return refusal("malformed", detail="at: an ISO 8601 time with its offset")
        try:
            if asked.op == "seek":
                return self.seek(caller, asked)
            return self.advance(caller, asked)
        except RETRYABLE as exc:  # Redis away: the page asks again (its player pauses)
            log.warning("replay for %s: the log is unavailable: %s", caller.who.name, exc)
            self.forget(caller.sid)  # half-folded: a seek starts it afresh
            return refusal("unavailable", retry=5)

    # -- seek ------------------------------------------------------------------------------
    def seek(self, caller: Caller, asked: ReplayAsk) -> Reply:
        assert asked.at is not None
        now_ms = int(time.time() * 1000)
        earliest = self.rewinder.earliest_ms(now_ms)
        at_ms = moment_ms(asked.at)
        bounds = {
            "earliest": ms_moment(earliest).isoformat(),
            "latest": ms_moment(now_ms).isoformat(),
        }
        if not earliest <= at_ms <= now_ms:
            return refusal("out_of_range", **bounds)
        if not self._room_for(caller.sid):
            return refusal("busy", retry=30)
        try:
            rewound, reply = self.rebuild(at_ms, caller.scope, asked.lite)
        finally:
            with self.guard:
                self.pending -= 1
        session = Session(caller.scope, asked.lite, rewound, panels_sent=time.monotonic())
        with self.guard:
            self.sessions[caller.sid] = session
        moment = ms_moment(at_ms)
        return {**reply, "mode": "replay", "at": moment.isoformat(), **bounds}

    def rebuild(self, at_ms: int, scope: str, lite: bool) -> tuple[Rewound, dict[str, Any]]:
        """The state at ``at_ms`` and its snapshot for ``scope``, as a hello's.

        The collector is held off meanwhile: the rebuilt state is millions of new objects, and
        the first full collection among them cost 0.7 s of a 2-second seek (bench.replay). It
        runs once, later, as Python's own thresholds decide."""
        moment = ms_moment(at_ms)
        with collector_paused():
            rewound = self.rewinder.rewind(at_ms)
            kpis = self._kpis(rewound)
            greeter = Greeter(LiveState(rewound.state), self.rewinder.bus, self.ticker_size, kpis)
            greeter.clock = lambda: moment
            reply: dict[str, Any] = dict(greeter.snapshot(scope, lite))
        # pinned as the log has them: the detectors run on a live server's clock, not here
        label = rewound.state.geo.label
        reply["warnings"] = self._warnings(0, at_ms, scope, moment, label)
        return rewound, reply

    def _room_for(self, sid: str) -> bool:
        now = time.monotonic()
        with self.guard:
            for other, session in list(self.sessions.items()):
                if now - session.used > IDLE_S:
                    del self.sessions[other]
            self.sessions.pop(sid, None)  # a new seek replaces the socket's session
            if len(self.sessions) + self.pending >= self.max_sessions:
                return False
            self.pending += 1  # seeks under way count: each will hold a state
            return True

    # -- advance ---------------------------------------------------------------------------
    def advance(self, caller: Caller, asked: ReplayAsk) -> Reply:
        assert asked.at is not None
        with self.guard:
            session = self.sessions.get(caller.sid)
        if session is None or session.scope != caller.scope:
            return refusal("no_session")
        to_ms = min(moment_ms(asked.at), int(time.time() * 1000))
        with session.lock:
            rewound = session.rewound
            if to_ms < rewound.at_ms:
                return refusal("backwards", at=ms_moment(rewound.at_ms).isoformat())
            before = rewound.at_ms
            changes = rewound.advance(to_ms)
            session.used = time.monotonic()
            return self._delta(session, changes, before)

    def _delta(self, session: Session, changes: Changes, before_ms: int) -> Reply:
        rewound, scope = session.rewound, session.scope
        state, geo = rewound.state, rewound.state.geo
        moment = ms_moment(rewound.at_ms)
        steps = [
            step_payload(a, geo) for a in changes.applied if contains(scope, a.message.area.town)
        ]
        moved = [] if session.lite else list(changes.moved.values())
        reply: dict[str, Any] = {
            "ok": True,
            "mode": "replay",
            "at": moment.isoformat(),
            "steps": steps,
            "positions": [position_row(p) for p in moved if contains(scope, p.grid)],
            "warnings": self._warnings(before_ms, rewound.at_ms, scope, moment, geo.label),
            **self._kpis(rewound)(scope, moment),
        }
        # a change the panels have not shown yet is shown at the next advance they are due
        session.dirty = session.dirty or bool(changes.applied)
        if session.dirty and time.monotonic() - session.panels_sent >= PANELS_EVERY_S:
            reply["panels"] = panels.build(state, scope, moment)
            session.panels_sent = time.monotonic()
            session.dirty = False
        return reply

    def _warnings(
        self, after_ms: int, upto_ms: int, scope: str, moment: datetime, label: Callable[[str], str]
    ) -> list[dict[str, object]]:
        found = self.rewinder.bus.warnings_between(max(after_ms, upto_ms - PIN_S * 1000), upto_ms)
        return pinned_warnings(found, scope, moment, label)

    @staticmethod
    def _kpis(rewound: Rewound) -> Callable[[str, datetime], Kpis]:
        def kpis(scope: str, now: datetime) -> Kpis:
            state = rewound.state
            newest = rewound.newest_ts
            return {
                "kpis": headline(state, scope, now),
                "yesterday": yesterday(state, scope, now),
                "history": state.history(),
                "now": now.isoformat(),
                "newest": newest.isoformat() if newest else None,
                "bridge": "ok",
            }

        return kpis
