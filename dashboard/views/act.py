"""Operators' actions asked for: acknowledge, note, 督办, cast to wall, 批示, follow, send a view,
put walls into replay (复盘) and back to live.

A person acts through the socket event ``act``. The request is checked here (role, scope,
text, and for a cast, follow, release, replay or live the walls it names:
dashboard.views.walls) and, if
allowed, becomes an ``ActionMessage`` published to the audited actions stream; nothing is
changed in place (dashboard.live.actions folds the stream back and pushes what each action
means). Every ``act`` that reaches the handler is audited, granted or refused, with the walls it
named; the role is decided per verb, so the event itself is open to every signed-in holder.
``leaders`` lists the leaders a duty officer may send a view to, ``walls`` the walls a person may
drive (the pickers of the desk and the tablet).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeGuard

import redis

from dashboard.access.auth import Access, Principal
from dashboard.access.store import Kiosk
from dashboard.live.follows import FollowKeeper
from dashboard.live.inbound import (
    ANY_ROLE,
    ActAsk,
    Caller,
    LeadersAsk,
    Reply,
    SocketApi,
    WallsAsk,
    refusal,
)
from dashboard.live.livestate import LiveState
from dashboard.views.walls import KIOSK_ID, MAX_WALLS, drivable, may_drive, usable, wall_row
from feeds.bus import Bus
from feeds.geo import contains
from feeds.schema import CHINA_TZ, MAX_ACTION_TEXT, ActionMessage, ActionVerb

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
    "replay": frozenset({"duty", "admin"}),
    "live": frozenset({"duty", "admin"}),
}
NEEDS_INCIDENT = frozenset({"acknowledge", "note", "supervise", "cast", "instruct"})
# verbs that take walls over: they name them
DRIVES = frozenset({"cast", "follow", "release", "replay", "live"})
WALL_AREA = frozenset({"replay", "live"})  # apply to the (first) wall's own jurisdiction
NEEDS_TEXT = frozenset({"note", "instruct"})
CAST_SECONDS = (10, 600, 60)  # min, max, default: how long a wall shows a cast incident
# A commanded replay ends by itself after this (the walls return to live): no wall is left in
# the past because an officer forgot it (docs/wall.md, "Replay").
REPLAY_MAX_S = 2 * 3600
MAX_SPEED = 60  # a replay plays at 0 (paused) to 60 times real time
CLOCK_SKEW = timedelta(seconds=5)  # a desk's clock a little ahead is not "the future"


@dataclass(frozen=True, slots=True)
class Refusal:
    error: str


class Actions:
    """The ``act`` and ``leaders`` socket events: check a request, then publish it as an action."""

    def __init__(self, access: Access, bus: Bus, live: LiveState, follows: FollowKeeper) -> None:
        self.access = access
        self.bus = bus
        self.live = live  # incidents change under its lock
        self.follows = follows  # the leases of follows asked for on this process's sockets

    def install(self, api: SocketApi) -> None:
        api.on("act", ActAsk, roles=ANY_ROLE, audit_as="action")(self.on_act)
        api.on("leaders", LeadersAsk, roles=VERB_ROLES["send_view"])(self.on_leaders)
        api.on("walls", WallsAsk, roles=VERB_ROLES["cast"])(self.on_walls)

    def on_walls(self, caller: Caller, asked: WallsAsk) -> Reply:
        """The walls the asker may drive with ``verb`` that can show the incident (or area)."""
        who, verb = caller.who, asked.verb
        if not is_verb(verb) or verb not in DRIVES:
            return refusal("unknown action")
        if who.role not in VERB_ROLES[verb]:
            return refusal("not allowed for your role")
        area = self._town_of(who, asked.incident) if asked.incident else (asked.area or "")
        if area is None:
            return refusal("incident not found")
        if area and not contains(who.scope, area):
            return refusal("area not allowed")
        kiosks = drivable(who, self.access.store.list_kiosks(), self.live.geo, area)
        with self.live.lock:
            following = dict(self.live.actions.following)
        rows = []
        for kiosk in kiosks:
            follow = following.get(kiosk.id)
            by = (follow.display or follow.actor) if follow else ""
            rows.append(wall_row(kiosk, self.live.geo, by))
        return {"ok": True, "walls": rows}

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
        refused = isinstance(result, Refusal)
        named = ",".join(_named_walls(asked))[:300]
        self.access.audit(
            "action",
            who.name,
            role=who.role,
            scope=who.scope,
            verb=asked.verb[:20],
            incident=(asked.incident or "")[:64],
            outcome="refused" if refused else "granted",
            **({"walls": named} if named else {}),
            **({"error": result.error} if isinstance(result, Refusal) else {}),
        )
        if isinstance(result, Refusal):
            return {"ok": False, "error": result.error}
        try:
            if result.verb == "follow":  # its lease first: the follow is never seen without one
                self.follows.hold(caller.sid, result.id, result.walls)
            elif result.verb == "release":
                self.follows.let_go(caller.sid, result.walls)
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
            town = self._town_of(who, incident_id)
            if town is None:
                return Refusal("incident not found")  # the same answer outside the scope
            area = area if verb in ("follow", "send_view") and area else town
        elif verb in NEEDS_INCIDENT:
            return Refusal("incident required")
        walls: list[Kiosk] = []
        target: str | None = None
        if verb in DRIVES:
            picked = self._walls(who, asked)
            if isinstance(picked, Refusal):
                return picked
            walls = picked
            if verb in WALL_AREA or (verb == "release" and not area):
                area = walls[0].scope
            target = self._follower(walls) if verb == "release" else None
        else:
            named = self._target(verb, asked.target or "")
            if isinstance(named, Refusal):
                return named
            target = named
        if not self.live.geo.area(area) or not contains(who.scope, area):
            return Refusal("area not allowed")
        if verb in ("cast", "follow") and not all(contains(k.scope, area) for k in walls):
            return Refusal("area outside that wall")
        if verb == "follow" and asked.resume and self._follower(walls, all_of=True) != who.name:
            return Refusal("follow ended")  # a tablet picking up its follow: it has ended
        if verb == "send_view":
            leader = self.access.store.get_user(target or "")
            if leader is None or not contains(leader.scope, area):
                return Refusal("that leader cannot see this area")
        seconds = None
        if verb == "cast":
            low, high, default = CAST_SECONDS
            asked_for = asked.seconds if asked.seconds is not None else default
            seconds = min(high, max(low, asked_for))
        replay = _replay(asked) if verb == "replay" else None
        if isinstance(replay, Refusal):
            return replay
        seconds = REPLAY_MAX_S if replay else seconds
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
            walls=tuple(k.id for k in walls),
            display=who.display or who.name,
            at=replay[0] if replay else None,
            speed=replay[1] if replay else None,
        )

    def _town_of(self, who: Principal, incident_id: str) -> str | None:
        """The incident's town, if it exists inside ``who``'s jurisdiction."""
        with self.live.read() as state:
            incident = state.incidents.get(incident_id[:64])
            town = incident.area.town if incident else ""
        return town if town and contains(who.scope, town) else None

    def _walls(self, who: Principal, asked: ActAsk) -> list[Kiosk] | Refusal:
        """The walls a cast, follow or release names, if ``who`` may drive every one of them.
        An unknown wall and one outside the jurisdiction get the same answer."""
        ids = _named_walls(asked)
        if not ids:
            return Refusal("choose a wall")
        if len(ids) > MAX_WALLS:
            return Refusal(f"at most {MAX_WALLS} walls")
        store, geo = self.access.store, self.live.geo
        kiosks = [store.get_kiosk(i) if KIOSK_ID.fullmatch(i) else None for i in ids]
        usable_walls = [k for k in kiosks if k is not None and usable(k, geo)]
        if len(usable_walls) != len(ids) or not all(
            may_drive(who.scope, k.scope) for k in usable_walls
        ):
            return Refusal("wall not allowed")
        return usable_walls

    def _follower(self, walls: list[Kiosk], all_of: bool = False) -> str | None:
        """Who follows the first followed of ``walls`` (``all_of``: the one who follows every
        one of them, else None): their tablet is told when a release ends their follow."""
        with self.live.lock:
            following = self.live.actions.following
            actors = [f.actor if (f := following.get(k.id)) else None for k in walls]
        if all_of:
            return actors[0] if actors and len(set(actors)) == 1 else None
        return next((a for a in actors if a), None)

    def _target(self, verb: ActionVerb, target: str) -> str | None | Refusal:
        if verb == "send_view":
            account = self.access.store.get_user(target)
            if account is None or account.role not in ("leader", "admin"):
                return Refusal("no such leader")
            return target
        return None


def is_verb(name: str) -> TypeGuard[ActionVerb]:
    return name in VERB_ROLES


def _named_walls(asked: ActAsk) -> list[str]:
    """The walls a request names (``walls``, or one as ``target``), each once, in order."""
    if asked.verb not in DRIVES:
        return []
    named = asked.walls if asked.walls is not None else [asked.target] if asked.target else []
    return list(dict.fromkeys(w[:64] for w in named))


def _replay(asked: ActAsk) -> tuple[datetime, int] | Refusal:
    """A replay's moment (not in the future; without an offset: China time) and speed."""
    if not asked.at:
        return Refusal("choose a time")
    try:
        at = datetime.fromisoformat(asked.at[:40])
    except ValueError:
        return Refusal("not a time")
    at = at if at.tzinfo else at.replace(tzinfo=CHINA_TZ)
    if at > datetime.now(UTC) + CLOCK_SKEW:
        return Refusal("time in the future")
    speed = asked.speed if asked.speed is not None else 0
    if not 0 <= speed <= MAX_SPEED:
        return Refusal(f"speed must be 0 to {MAX_SPEED}")
    return at, speed


def _clean(value: str | None) -> str:
    """Operator text: trimmed, without control characters other than newlines and tabs."""
    if value is None:
        return ""
    return "".join(c for c in value if c in "\n\t" or c.isprintable()).strip()
