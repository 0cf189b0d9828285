"""What pages may ask over Socket.IO: one typed request per event, decoded in one place.

Every inbound event is registered through ``SocketApi.on``: the payload is decoded into the
event's msgspec struct (anything else is answered ``malformed request``, never raised), the
socket's holder is looked up, their role checked against the event's roles and, for events that
name a scope, the scope checked to be a known area inside their jurisdiction. The handler gets
a ``Caller`` and its typed request, and only ever sees what passed. docs/socket.md lists every
event both ways.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from flask import request
from flask_socketio import SocketIO

from dashboard.access.auth import Principal, SocketGuard
from feeds.geo import Geography, contains

Reply = dict[str, Any]


# -- the requests ------------------------------------------------------------------------------
# Fields a page leaves out take their defaults; fields the server does not know are ignored
# (an older page keeps working); a field of the wrong type makes the request malformed.


class HelloAsk(msgspec.Struct, kw_only=True):
    scope: str = ""  # empty: the holder's own jurisdiction
    after: str | None = None  # the last stream id the page applied: catch up from there
    lite: bool = False  # a tablet: no worker positions, no incident markers
    home: str | None = None  # a wall page's home scope: a kiosk's page then takes commands
    window: str | None = None  # a wall's density window ("today", "1h".."24h"): closed ones too


class IncidentAsk(msgspec.Struct, kw_only=True):
    id: str = ""


class DutyRowsAsk(msgspec.Struct, kw_only=True):
    filter: dict[str, Any] | None = None  # parsed leniently by views.search.Filter
    sort: str | None = None
    dir: str | None = None
    start: int = 0
    end: int | None = None
    points: bool = False  # also the newest matches' map points (the first block)


class RisksAsk(msgspec.Struct, kw_only=True):
    scope: str = ""


class TrendsAsk(msgspec.Struct, kw_only=True):
    scope: str = ""
    days: int = 7


class ActAsk(msgspec.Struct, kw_only=True):
    verb: str
    incident: str | None = None
    area: str | None = None
    target: str | None = None
    text: str | None = None
    seconds: int | None = None
    walls: list[str] | None = None  # cast, follow, release: the walls (kiosk ids) it drives
    resume: bool = False  # follow: a tablet picking up its own follow, not taking a wall anew
    at: str | None = None  # replay: the moment the walls replay (ISO 8601; no offset: China time)
    speed: int | None = None  # replay: 0 (paused) or 1-60 times real time


class LeadersAsk(msgspec.Struct, kw_only=True):
    area: str | None = None


class WallsAsk(msgspec.Struct, kw_only=True):
    verb: str = "cast"  # cast, follow or replay: the walls the asker may drive with it
    incident: str | None = None  # only walls that can show it (its town)
    area: str | None = None  # or this area


# -- the one gate ------------------------------------------------------------------------------
ANY_ROLE: frozenset[str] = frozenset()  # every signed-in holder
Ask = TypeVar("Ask", bound=msgspec.Struct)


@dataclass(frozen=True)
class Caller:
    sid: str
    who: Principal
    scope: str  # the checked scope of a scoped event; the holder's own otherwise


Handler = Callable[[Caller, Ask], Reply]
# Writes a refused request to the audit trail: (event name, holder or None, the error).
Audit = Callable[[str, Principal | None, str], None]
NOTHING = object()  # an event sent without a payload (an explicit null is malformed)


@dataclass(frozen=True)
class Rule:
    """Who may send an event: the roles (empty: any), and whether it names a scope."""

    event: str
    ask: type[msgspec.Struct]
    roles: frozenset[str]
    scoped: bool
    audit_as: str | None  # requests whose every refusal is audited, under this name


def refusal(error: str, **extra: Any) -> Reply:
    return {"ok": False, "error": error, **extra}


def current_sid() -> str:
    sid: str = request.sid  # type: ignore[attr-defined]  # set by Flask-SocketIO per event
    return sid


class SocketApi:
    def __init__(
        self, socketio: SocketIO, guard: SocketGuard, geo: Geography, audit: Audit
    ) -> None:
        self.socketio = socketio
        self.guard = guard
        self.geo = geo
        self.audit = audit
        self.rules: dict[str, Rule] = {}  # every registered event: docs and tests read it

    def on(
        self,
        event: str,
        ask: type[Ask],
        *,
        roles: frozenset[str] = ANY_ROLE,
        scoped: bool = False,
        audit_as: str | None = None,
    ) -> Callable[[Handler[Ask]], Handler[Ask]]:
        """Register ``handler`` for ``event`` behind decoding and the role and scope checks.

        ``audit_as``: the event's requests are audited under that name; the gate writes its own
        refusals there, the handler the rest (an incident's detail, an action).
        """
        if scoped and "scope" not in ask.__struct_fields__:
            raise TypeError(f"{event}: a scoped request needs a scope field")
        rule = Rule(event, ask, roles, scoped, audit_as)

        def register(handler: Handler[Ask]) -> Handler[Ask]:
            def on_event(data: object = NOTHING, *_: object) -> Reply:
                return self.answer(rule, ask, handler, data)

            self.rules[event] = rule
            self.socketio.on_event(event, on_event)
            return handler

        return register

    def answer(self, rule: Rule, ask: type[Ask], handler: Handler[Ask], data: object) -> Reply:
        sid = current_sid()
        who = self.guard.principal(sid)
        checked = self._check(rule, ask, who, data)
        if isinstance(checked, str):
            if rule.audit_as:
                self.audit(rule.audit_as, who, checked)
            return refusal(checked)
        if isinstance(checked, msgspec.ValidationError):
            if rule.audit_as:
                self.audit(rule.audit_as, who, "malformed request")
            return refusal("malformed request", detail=str(checked)[:200])
        assert who is not None
        asked, scope = checked
        return handler(Caller(sid, who, scope), asked)

    def _check(
        self, rule: Rule, ask: type[Ask], who: Principal | None, data: object
    ) -> str | msgspec.ValidationError | tuple[Ask, str]:
        """The request and its scope, or why not: an error, or where the payload is wrong."""
        if who is None:
            return "not signed in"
        if rule.roles and who.role not in rule.roles:
            return "not allowed"
        try:
            asked = msgspec.convert({} if data is NOTHING else data, ask, strict=False)
        except msgspec.ValidationError as exc:
            return exc
        scope = who.scope
        if rule.scoped:
            scope = getattr(asked, "scope", "") or who.scope
            if not self.geo.is_scope(scope):
                return "unknown scope"
            if not contains(who.scope, scope):
                return "scope not allowed"
        return asked, scope
