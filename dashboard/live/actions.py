"""Operators' actions: acknowledge, note, 督办, cast to wall, 批示, follow, send a view.

A person acts through the socket event ``act``. The request is checked here (role, scope,
text) and, if allowed, becomes an ``ActionMessage`` published to the audited actions stream;
nothing is changed in place. The push bridge reads the stream back like any feed and calls
``ActionBook.apply``, then pushes what the action means to the screens concerned. So every
server process and every screen sees the same actions, in the same order, after a restart too.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from flask import request

from dashboard.access.auth import Access, Principal, SocketGuard
from dashboard.access.privacy import mask_text
from dashboard.state import State
from feeds.bus import Bus
from feeds.catalogue import CATEGORIES, LEVELS
from feeds.geo import contains
from feeds.schema import MAX_ACTION_TEXT, ActionMessage

log = logging.getLogger(__name__)

VERB_NAMES = {
    "acknowledge": "已签收",
    "note": "备注",
    "supervise": "督办",
    "cast": "投屏",
    "instruct": "批示",
    "follow": "大屏跟随",
    "release": "结束跟随",
    "send_view": "推送视图",
}
# Who may do what. Walls (kiosks) never act.
VERB_ROLES = {
    "acknowledge": frozenset({"duty", "admin"}),
    "note": frozenset({"duty", "leader", "admin"}),
    "supervise": frozenset({"duty", "leader", "admin"}),
    "cast": frozenset({"duty", "leader", "admin"}),
    "instruct": frozenset({"leader", "admin"}),
    "follow": frozenset({"leader", "admin"}),
    "release": frozenset({"leader", "admin"}),
    "send_view": frozenset({"duty", "admin"}),
}
NEEDS_INCIDENT = frozenset({"acknowledge", "note", "supervise", "cast", "instruct"})
NEEDS_TEXT = frozenset({"note", "instruct"})
CAST_SECONDS = (10, 600, 60)  # min, max, default: how long a wall shows a cast incident
PER_INCIDENT = 200  # actions kept per incident in memory (the stream keeps them all)


@dataclass(frozen=True, slots=True)
class Refusal:
    error: str


class ActionBook:
    """What the actions so far mean now: per incident, and what each wall is following."""

    def __init__(self) -> None:
        self.by_incident: dict[str, deque[tuple[str, ActionMessage]]] = defaultdict(
            lambda: deque(maxlen=PER_INCIDENT)
        )
        self.acknowledged: set[str] = set()
        self.supervised: set[str] = set()
        self.following: dict[str, ActionMessage] = {}  # wall home scope → its follow action
        self.last_sid = "0-0"

    def apply(self, sid: str, action: ActionMessage) -> None:
        self.last_sid = sid
        if action.incident:
            self.by_incident[action.incident].append((sid, action))
            if action.verb == "acknowledge":
                self.acknowledged.add(action.incident)
            elif action.verb == "supervise":
                self.supervised.add(action.incident)
        if action.verb == "follow" and action.target:
            self.following[action.target] = action
        elif action.verb == "release" and action.target:
            self.following.pop(action.target, None)

    def of(self, incident_id: str) -> list[tuple[str, ActionMessage]]:
        found = self.by_incident.get(incident_id)
        return list(found) if found else []


def action_payload(sid: str, action: ActionMessage, state: State, reveal: bool) -> dict[str, Any]:
    """One action for a page; free text masked unless ``reveal`` (a duty officer asking)."""
    return {
        "sid": sid,
        "id": action.id,
        "ts": action.ts.isoformat(),
        "verb": action.verb,
        "verbName": VERB_NAMES[action.verb],
        "actor": action.actor,
        "role": action.role,
        "area": action.area,
        "place": state.geo.label(action.area) if state.geo.area(action.area) else action.area,
        "incident": action.incident,
        "target": action.target,
        "text": action.text if reveal else mask_text(action.text),
        "seconds": action.seconds,
    }


def incident_card(state: State, incident_id: str, now: datetime) -> dict[str, Any] | None:
    """The small card a wall shows for a cast incident (masked text: walls are public)."""
    incident = state.incidents.get(incident_id)
    if incident is None:
        return None
    first = min(incident.steps.values(), key=lambda s: s.seq)
    return {
        "id": incident.id,
        "title": mask_text(incident.title),
        "catName": CATEGORIES[incident.category].name,
        "colour": CATEGORIES[incident.category].colour,
        "place": state.geo.label(incident.area.grid or incident.area.town),
        "town": incident.area.town,
        "county": incident.area.county,
        "level": incident.level,
        "levelName": LEVELS[incident.level],
        "status": incident.status,
        "reported": first.ts.isoformat(),
        "deadline": incident.deadline.isoformat(),
        "overdue": incident.status == "open" and incident.deadline < now,
        "lon": round(incident.lon, 5),
        "lat": round(incident.lat, 5),
    }


def command_rooms(action: ActionMessage, state: State) -> list[str]:
    """Which Socket.IO rooms a command goes to: walls by home scope, tablets by user."""
    if action.verb == "send_view" and action.target:
        return [f"user:{action.target}"]
    if action.verb in ("follow", "release") and action.target:
        return [f"home:{action.target}"]
    if action.verb == "cast":
        chain = [state.geo.city.code, action.area[:6], action.area[:9]]
        return [f"home:{code}" for code in dict.fromkeys(chain)]
    return []


def command_payload(action: ActionMessage, state: State, now: datetime) -> dict[str, Any]:
    card = incident_card(state, action.incident, now) if action.incident else None
    return {
        "verb": action.verb,
        "area": action.area,
        "incident": action.incident,
        "card": card,
        "seconds": action.seconds,
        "by": action.actor,
        "ts": action.ts.isoformat(),
    }


class Actions:
    """The ``act`` socket event: check a request, then publish it as an action."""

    def __init__(
        self, access: Access, bus: Bus, state: State, lock: threading.Lock, guard: SocketGuard
    ) -> None:
        self.access = access
        self.bus = bus
        self.state = state
        self.lock = lock  # the bridge's: incidents change under it
        self.guard = guard

    def install(self, socketio: Any) -> None:
        socketio.on_event("act", self.on_act)
        socketio.on_event("leaders", self.on_leaders)

    def on_leaders(self, data: object = None, *_: object) -> dict[str, Any]:
        """Leaders a duty officer may send a view of ``area`` to: their jurisdiction holds it."""
        who = self.guard.principal(request.sid)  # type: ignore[attr-defined]
        if who is None or who.role not in VERB_ROLES["send_view"]:
            return {"ok": False, "error": "not allowed"}
        area = str(data.get("area") or who.scope) if isinstance(data, dict) else who.scope
        if not contains(who.scope, area):
            area = who.scope
        leaders = [
            {"name": a.name, "display": a.display or a.name, "scope": a.scope}
            for a in self.access.store.list_users()
            if a.role == "leader" and contains(a.scope, area)
        ]
        return {"ok": True, "leaders": leaders}

    def on_act(self, data: object = None, *_: object) -> dict[str, Any]:
        who = self.guard.principal(request.sid)  # type: ignore[attr-defined]
        asked = data if isinstance(data, dict) else {}
        result = self.check(who, asked) if asked else Refusal("malformed request")
        self.access.audit(
            "action",
            who.name if who else "",
            role=who.role if who else "",
            scope=who.scope if who else "",
            verb=str(asked.get("verb", ""))[:20],
            incident=str(asked.get("incident") or "")[:64],
            outcome="refused" if isinstance(result, Refusal) else "granted",
        )
        if isinstance(result, Refusal):
            return {"ok": False, "error": result.error}
        try:
            sid = self.bus.publish_action(result)
        except redis.RedisError as exc:
            log.warning("action %s not recorded: %s", result.verb, exc)
            return {"ok": False, "error": "not recorded, try again"}
        return {"ok": True, "id": result.id, "sid": sid}

    def check(self, who: Principal | None, data: dict[str, Any]) -> ActionMessage | Refusal:
        """The action ``who`` asks for, or why not. Pure apart from reading the state."""
        verb = data.get("verb")
        if who is None:
            return Refusal("not signed in")
        if not isinstance(verb, str) or verb not in VERB_ROLES:
            return Refusal("unknown action")
        if who.role not in VERB_ROLES[verb]:
            return Refusal("not allowed for your role")
        text = _clean(data.get("text"))
        if verb in NEEDS_TEXT and not text:
            return Refusal("text required")
        if len(text) > MAX_ACTION_TEXT:
            return Refusal(f"text longer than {MAX_ACTION_TEXT} characters")
        incident_id = str(data.get("incident") or "")[:64] or None
        area = str(data.get("area") or "")
        if incident_id:
            with self.lock:
                incident = self.state.incidents.get(incident_id)
                town = incident.area.town if incident else ""
            if not town or not contains(who.scope, town):
                return Refusal("incident not found")  # the same answer outside the scope
            area = area if verb in ("follow", "send_view") and area else town
        elif verb in NEEDS_INCIDENT:
            return Refusal("incident required")
        target = self._target(who, verb, data)
        if isinstance(target, Refusal):
            return target
        area = area or (target if verb == "release" else "")
        if not self.state.geo.area(area) or not contains(who.scope, area):
            return Refusal("area not allowed")
        if verb == "follow" and not contains(target or "", area):
            return Refusal("area outside that wall")
        if verb == "send_view":
            leader = self.access.store.get_user(target or "")
            if leader is None or not contains(leader.scope, area):
                return Refusal("that leader cannot see this area")
        seconds = None
        if verb == "cast":
            low, high, default = CAST_SECONDS
            seconds = min(high, max(low, as_int(data.get("seconds"), default)))
        return ActionMessage(
            id=secrets.token_hex(8),
            ts=datetime.now(UTC),
            verb=verb,
            actor=who.name,
            role=who.role,
            area=area,
            incident=incident_id,
            target=target,
            text=text,
            seconds=seconds,
        )

    def _target(self, who: Principal, verb: str, data: dict[str, Any]) -> str | None | Refusal:
        target = str(data.get("target") or "")
        if verb in ("follow", "release"):
            level = self.state.geo.area(target).level if self.state.geo.area(target) else ""
            if level not in ("city", "county", "town") or not contains(who.scope, target):
                return Refusal("wall not allowed")
            return target
        if verb == "send_view":
            account = self.access.store.get_user(target)
            if account is None or account.role not in ("leader", "admin"):
                return Refusal("no such leader")
            return target
        return None


def _clean(value: object) -> str:
    """Operator text: a string, trimmed, without control characters other than newlines."""
    if not isinstance(value, str):
        return ""
    return "".join(c for c in value if c in "\n\t" or c.isprintable()).strip()


def as_int(value: object, default: int) -> int:
    """A number from a page's message, or ``default`` for anything that is not one."""
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError, OverflowError):  # None, "x", [], NaN; 1e400 is infinity
        return default
