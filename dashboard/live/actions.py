"""Operators' actions, as the live layer folds and pushes them.

A person acts through the socket event ``act`` (dashboard.views.act checks the request and
publishes it as an ``ActionMessage`` to the audited actions stream); nothing is changed in
place. The push bridge reads the stream back like any feed and calls ``ActionBook.apply``, then
pushes what the action means to the screens concerned (``action_payload``; ``command_payload``
to ``dashboard.live.fanout.command_rooms``). So every server process and every screen sees the
same actions, in the same order, after a restart too.
"""

from __future__ import annotations

from collections import defaultdict, deque
from datetime import datetime
from typing import Any

from dashboard.access.privacy import mask_text
from dashboard.state import State
from feeds.catalogue import CATEGORIES, LEVELS
from feeds.geo import scopes_of
from feeds.schema import ActionMessage

VERB_NAMES = {
    "acknowledge": "已签收",
    "note": "备注",
    "supervise": "督办",
    "cast": "投屏",
    "instruct": "批示",
    "follow": "大屏跟随",
    "release": "结束跟随",
    "send_view": "推送视图",
    "dispatch": "派单",
    "transfer": "转办",
    "return": "退回",
    "escalate": "上报上级",
    "close": "结案",
    "reopen": "重新打开",
    "hand_over": "交班",
    "take_over": "接班",
    "replay": "回放",
    "live": "回到实时",
}
PER_INCIDENT = 200  # actions kept per incident in memory (the stream keeps them all)


class ActionBook:
    """What the actions so far mean now: per incident, and what each wall is following."""

    def __init__(self) -> None:
        self._empty()

    def _empty(self) -> None:
        self.by_incident: dict[str, deque[tuple[str, ActionMessage]]] = defaultdict(
            lambda: deque(maxlen=PER_INCIDENT)
        )
        self.acknowledged: set[str] = set()
        self.supervised: set[str] = set()
        self.following: dict[str, ActionMessage] = {}  # wall (kiosk id) → the follow it shows
        # wall → when its follower's follow began: a follower's later follows of the wall (each
        # drill of the tablet, each reconnect) keep it, so ONEMAP_FOLLOW_MAX_S counts from there
        self.following_since: dict[str, datetime] = {}
        self.last_sid = "0-0"

    def apply(self, sid: str, action: ActionMessage) -> None:
        self.last_sid = sid
        if action.incident:
            self.by_incident[action.incident].append((sid, action))
            if action.verb == "acknowledge":
                self.acknowledged.add(action.incident)
            elif action.verb == "supervise":
                self.supervised.add(action.incident)
        if action.verb == "follow":
            for wall in action.walls:
                current = self.following.get(wall)
                if current is None or current.actor != action.actor:
                    self.following_since[wall] = action.ts
                self.following[wall] = action
        elif action.verb == "release":
            for wall in action.walls:
                current = self.following.get(wall)
                if current is not None and action.ends in (None, current.id):
                    del self.following[wall]
                    self.following_since.pop(wall, None)

    def follows(self) -> dict[str, tuple[ActionMessage, datetime]]:
        """Each current follow by id: (the follow, when its follower began leading the walls)."""
        found: dict[str, tuple[ActionMessage, datetime]] = {}
        for wall, action in self.following.items():
            since = self.following_since.get(wall, action.ts)
            if action.id not in found or since < found[action.id][1]:
                found[action.id] = (action, since)
        return found

    def of(self, incident_id: str) -> list[tuple[str, ActionMessage]]:
        found = self.by_incident.get(incident_id)
        return list(found) if found else []

    def __getstate__(self) -> dict[str, Any]:
        """For a checkpoint: the default factory of ``by_incident`` is a lambda (no pickle)."""
        return {**self.__dict__, "by_incident": dict(self.by_incident)}

    def __setstate__(self, saved: dict[str, Any]) -> None:
        self._empty()  # a fresh book's defaults, then what was saved
        by_incident = saved.pop("by_incident")
        self.__dict__.update(saved)
        self.by_incident.update(by_incident)


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
        "step": action.step,
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


def command_payload(action: ActionMessage, state: State, now: datetime) -> dict[str, Any]:
    card = incident_card(state, action.incident, now) if action.incident else None
    return {
        "id": action.id,
        "verb": action.verb,
        "area": action.area,
        "scope": scopes_of(action.area)[-1] if action.area else None,  # the map that shows it
        "incident": action.incident,
        "card": card,
        "seconds": action.seconds,
        "by": action.actor,
        "byName": action.display or action.actor,  # what a wall shows: the person's name
        "walls": list(action.walls),
        "ends": action.ends,  # a release the server made: the follow it ends, and why (text)
        "text": mask_text(action.text) if action.verb == "release" else "",
        "ts": action.ts.isoformat(),
        "at": action.at.isoformat() if action.at else None,  # replay: the moment, and how fast
        "speed": action.speed,
    }
