"""Operators' actions asked for: acknowledge, note, 督办, cast to wall, 批示, follow, send a view.

A person acts through the socket event ``act``. The request is checked here (role, scope,
text) and, if allowed, becomes an ``ActionMessage`` published to the audited actions stream;
nothing is changed in place (dashboard.live.actions folds the stream back and pushes what each
action means). Every ``act`` that reaches the handler is audited, granted or refused; the role
is decided per verb, so the event itself is open to every signed-in holder. ``leaders`` lists
the leaders a duty officer may send a view to.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeGuard

import redis

from dashboard.access.auth import Access, Principal
from dashboard.live.inbound import ANY_ROLE, ActAsk, Caller, LeadersAsk, Reply, SocketApi
from dashboard.live.livestate import LiveState
from feeds.bus import Bus
from feeds.geo import contains
from feeds.schema import MAX_ACTION_TEXT, ActionMessage, ActionVerb

log = logging.getLogger(__name__)

# Who may do what. Walls (kiosks) never act.
VERB_ROLES: dict[ActionVerb, frozenset[str]] = {
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


@dataclass(frozen=True, slots=True)
class Refusal:
    error: str


class Actions:
    """The ``act`` and ``leaders`` socket events: check a request, then publish it as an action."""

    def __init__(self, access: Access, bus: Bus, live: LiveState) -> None:
        self.access = access
        self.bus = bus
        self.live = live  # incidents change under its lock

    def install(self, api: SocketApi) -> None:
        api.on("act", ActAsk, roles=ANY_ROLE, audit_as="action")(self.on_act)
        api.on("leaders", LeadersAsk, roles=VERB_ROLES["send_view"])(self.on_leaders)

    def on_leaders(self, caller: Caller, asked: LeadersAsk) -> Reply:
        """Leaders a duty officer may send a view of ``area`` to: their jurisdiction holds it."""
        who = caller.who
        area = asked.area or who.scope
        if not contains(who.scope, area):
            area = who.scope
        leaders = [
            {"name": a.name, "display": a.display or a.name, "scope": a.scope}
            for a in self.access.store.list_users()
            if a.role == "leader" and contains(a.scope, area)
        ]
        return {"ok": True, "leaders": leaders}

    def on_act(self, caller: Caller, asked: ActAsk) -> Reply:
        who = caller.who
        result = self.check(who, asked)
        self.access.audit(
            "action",
            who.name,
            role=who.role,
            scope=who.scope,
            verb=asked.verb[:20],
            incident=(asked.incident or "")[:64],
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

    def check(self, who: Principal, asked: ActAsk) -> ActionMessage | Refusal:
        """The action ``who`` asks for, or why not. Pure apart from reading the state."""
        verb = asked.verb
        if not is_verb(verb):
            return Refusal("unknown action")
        if who.role not in VERB_ROLES[verb]:
            return Refusal("not allowed for your role")
        text = _clean(asked.text)
        if verb in NEEDS_TEXT and not text:
            return Refusal("text required")
        if len(text) > MAX_ACTION_TEXT:
            return Refusal(f"text longer than {MAX_ACTION_TEXT} characters")
        incident_id = (asked.incident or "")[:64] or None
        area = asked.area or ""
        if incident_id:
            with self.live.read() as state:
                incident = state.incidents.get(incident_id)
                town = incident.area.town if incident else ""
            if not town or not contains(who.scope, town):
                return Refusal("incident not found")  # the same answer outside the scope
            area = area if verb in ("follow", "send_view") and area else town
        elif verb in NEEDS_INCIDENT:
            return Refusal("incident required")
        target = self._target(who, verb, asked.target or "")
        if isinstance(target, Refusal):
            return target
        area = area or (target if verb == "release" and target else "")
        if not self.live.geo.area(area) or not contains(who.scope, area):
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
            asked_for = asked.seconds if asked.seconds is not None else default
            seconds = min(high, max(low, asked_for))
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

    def _target(self, who: Principal, verb: ActionVerb, target: str) -> str | None | Refusal:
        if verb in ("follow", "release"):
            if not self.live.geo.is_scope(target) or not contains(who.scope, target):
                return Refusal("wall not allowed")
            return target
        if verb == "send_view":
            account = self.access.store.get_user(target)
            if account is None or account.role not in ("leader", "admin"):
                return Refusal("no such leader")
            return target
        return None


def is_verb(name: str) -> TypeGuard[ActionVerb]:
    return name in VERB_ROLES


def _clean(value: str | None) -> str:
    """Operator text: trimmed, without control characters other than newlines and tabs."""
    if value is None:
        return ""
    return "".join(c for c in value if c in "\n\t" or c.isprintable()).strip()
